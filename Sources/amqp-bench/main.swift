// Throughput and client CPU of the RabbitMQ library on persistent messages: publish with
// pipelined confirms, then consume + ack. bench/amqp.sh runs it beside pika.
import Foundation
import RabbitMQ
#if canImport(Glibc)
import Glibc
#endif

func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec) + Double(u.ru_utime.tv_usec) / 1e6 + Double(u.ru_stime.tv_sec)
        + Double(u.ru_stime.tv_usec) / 1e6
}

var options: [String: String] = [:]
var args = CommandLine.arguments.dropFirst().makeIterator()
while let a = args.next() {
    guard a.hasPrefix("--"), let v = args.next() else { fatalError("usage: amqp-bench [--url U] [--count N] [--size B] [--inflight K] [--prefetch P] [--queue Q]") }
    options[String(a.dropFirst(2))] = v
}
let url = options["url"] ?? "amqp://guest:guest@localhost:5672/%2f"
let count = Int(options["count"] ?? "20000")!
let size = Int(options["size"] ?? "1024")!
let inflight = Int(options["inflight"] ?? "256")!
let prefetch = UInt16(options["prefetch"] ?? "256")!
let queue = options["queue"] ?? "bench.swift.\(getpid())"

let conn = try await AMQPConnection.connect(url: url)
try await conn.declare(queue: QueueSpec(name: queue, durable: true))
try await conn.purge(queue: queue)
let body = [UInt8](repeating: 0x61, count: size)

// Publish: `inflight` tasks, each awaiting its confirm before its next publish.
var t0 = ContinuousClock.now
var c0 = cpuSeconds()
try await withThrowingTaskGroup(of: Void.self) { group in
    for w in 0..<inflight {
        group.addTask {
            var i = w
            while i < count {
                try await conn.publish(body, routingKey: queue)
                i += inflight
            }
        }
    }
    try await group.waitForAll()
}
var wall = (ContinuousClock.now - t0) / .seconds(1)
var cpu = cpuSeconds() - c0
print(String(format: "swift publish  msgs=%d rate=%.0f msg/s cpu_us_per_msg=%.2f", count, Double(count) / wall, cpu / Double(count) * 1e6))

// Consume + ack.
t0 = ContinuousClock.now
c0 = cpuSeconds()
let consumer = try await conn.consume(queue: queue, prefetch: prefetch)
var received = 0
for try await d in consumer {
    try await d.ack()
    received += 1
    if received == count { break }
}
wall = (ContinuousClock.now - t0) / .seconds(1)
cpu = cpuSeconds() - c0
print(String(format: "swift consume  msgs=%d rate=%.0f msg/s cpu_us_per_msg=%.2f", count, Double(count) / wall, cpu / Double(count) * 1e6))
await consumer.cancel()
try await conn.deleteQueue(queue)
await conn.close()
