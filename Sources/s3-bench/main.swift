// Times one upload or download with the S3 library; bench/s3.sh runs it against boto3.
//   s3-bench upload FILE KEY | download KEY FILE
// Configuration from the usual AWS_* / S3_BUCKET_NAME variables, plus S3_PART_SIZE and
// S3_CONCURRENCY (and S3_SENDFILE=0 for the chunked upload path). Prints "seconds=<s> bytes=<n>".
import Foundation
import S3

let args = CommandLine.arguments
guard args.count == 4, ["upload", "download"].contains(args[1]) else {
    FileHandle.standardError.write(Data("usage: s3-bench upload FILE KEY | download KEY FILE\n".utf8))
    exit(2)
}
let env = ProcessInfo.processInfo.environment
var config = try S3Configuration.fromEnvironment(env)
if let p = env["S3_PART_SIZE"].flatMap(Int.init) {
    config.partSize = p
    config.multipartThreshold = p
}
if let c = env["S3_CONCURRENCY"].flatMap(Int.init) { config.concurrency = c }
if env["S3_SENDFILE"] == "0" { config.sendfileUploads = false }   // the chunked (TLS) body path
let client = S3Client(configuration: config)
let start = ContinuousClock.now
var bytes: Int64 = 0
do {
    if args[1] == "upload" {
        try await client.upload(file: args[2], to: args[3])
        bytes = try await client.head(args[3]).size
    } else {
        bytes = try await client.download(args[2], to: args[3])
    }
} catch {
    FileHandle.standardError.write(Data("s3-bench: \(error)\n".utf8))
    try await client.shutdown()
    exit(1)
}
let elapsed = ContinuousClock.now - start
try await client.shutdown()
let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
print("seconds=\(seconds) bytes=\(bytes)")
