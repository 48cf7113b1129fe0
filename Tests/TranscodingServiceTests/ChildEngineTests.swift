import Testing
@testable import TranscodingService

/// What a job's child process is given, and the default memory ceiling.
struct ChildEngineTests {
    @Test func theChildsEnvironmentHoldsNoCredentials() {
        let worker = ["AWS_ACCESS_KEY_ID": "AKIA", "AWS_SECRET_ACCESS_KEY": "s3cr3t", "AWS_SESSION_TOKEN": "tok",
                      "AMQP_URL": "amqp://u:p@h/%2f", "S3_BUCKET_NAME": "videos", "PATH": "/usr/bin", "HOME": "/root",
                      "GST_DEBUG": "2", "TRANSCODER_LOG_LEVEL": "debug"]
        let env = ChildEngine.childEnvironment(from: worker, scratch: "/scratch/job-1", jobID: "j")
        #expect(env == ["PATH": "/usr/bin", "HOME": "/root", "GST_DEBUG": "2", "TMPDIR": "/scratch/job-1", "LC_ALL": "C.UTF-8",
                        "SWIFT_BACKTRACE": "enable=no"])
    }

    @Test(arguments: [
        (nil, "job-1", nil), ("segv", "job-1", "segv"), ("segv@crash-", "job-1", nil), ("segv@crash-", "crash-1", "segv"),
        ("segv@a-,abort@b-", "b-7", "abort"), ("memory@big", "big", "memory"),
    ] as [(String?, String, String?)])
    func testFaultsGoOnlyToTheJobsNamed(_ setting: String?, jobID: String, fault: String?) {
        #expect(ChildEngine.testFault(setting, jobID: jobID) == fault)
        let env = ChildEngine.childEnvironment(from: setting.map { [JobChild.faultVariable: $0] } ?? [:], scratch: "/s", jobID: jobID)
        #expect(env[JobChild.faultVariable] == fault)
    }

    @Test(arguments: [(24 << 30, 1, 4096), (24 << 30, 8, 1536), (4 << 30, 1, 2048), (2 << 30, 4, 1024)] as [(UInt64, Int, Int)])
    func defaultMemoryCeiling(_ physical: UInt64, concurrency: Int, megabytes: Int) {
        #expect(WorkerConfiguration.defaultJobMemoryMB(concurrency: concurrency, physicalMemory: physical) == megabytes)
    }
}
