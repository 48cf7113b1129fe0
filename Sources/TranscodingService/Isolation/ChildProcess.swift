import CSpawn
import Foundation

/// A started child process with a pipe to its stdin and one from its stdout; stderr is the
/// worker's (the child logs there with the job id). Nothing else is inherited: descriptors
/// from 3 up are closed in the child, signals are at their defaults, and the environment is
/// exactly what the caller passes.
final class ChildProcess: @unchecked Sendable {
    let pid: pid_t
    /// Parent ends, close-on-exec so other children never inherit them.
    private(set) var stdin: Int32
    let stdout: Int32

    struct SpawnError: Error, CustomStringConvertible {
        var description: String
    }

    /// How the child ended, with what the kernel counted for it.
    struct Exit: Sendable {
        var status: Int32?     // exit status, when it exited
        var signal: Int32?     // terminating signal, when it was killed
        var peakRSSBytes: Int64
        var cpuSeconds: Double
    }

    init(executable: String, arguments: [String], environment: [String: String], workingDirectory: String) throws {
        var toChild: [Int32] = [-1, -1], fromChild: [Int32] = [-1, -1]
        guard cspawn_pipe(&toChild) == 0 else { throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))") }
        guard cspawn_pipe(&fromChild) == 0 else {
            close(toChild[0]); close(toChild[1])
            throw SpawnError(description: "pipe: \(String(cString: strerror(errno)))")
        }
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
            close(toChild[0])
            close(fromChild[1])
        }
        // dup2 clears close-on-exec on the copies; everything from 3 up is closed.
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        guard cspawn_close_from(&actions, 3) == 0, cspawn_chdir(&actions, workingDirectory) == 0,
              cspawn_reset_signals(&attributes) == 0 else {
            close(toChild[1]); close(fromChild[0])
            throw SpawnError(description: "posix_spawn attributes could not be set")
        }
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var child: pid_t = 0
        let result = posix_spawn(&child, executable, &actions, &attributes, argv, envp)
        guard result == 0 else {
            close(toChild[1]); close(fromChild[0])
            throw SpawnError(description: "cannot start \(executable): \(String(cString: strerror(result)))")
        }
        pid = child
        stdin = toChild[1]
        stdout = fromChild[0]
    }

    deinit {
        if stdin >= 0 { close(stdin) }
        close(stdout)
    }

    /// Writes all of `data` to the child's stdin and closes it (EPIPE if the child is gone).
    func send(_ data: Data) -> Bool {
        defer { close(stdin); stdin = -1 }
        return data.withUnsafeBytes { raw -> Bool in
            guard var p = raw.baseAddress else { return true }
            var left = raw.count
            while left > 0 {
                let n = write(stdin, p, left)
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { return false }
                p += n
                left -= n
            }
            return true
        }
    }

    func kill(_ signal: Int32 = SIGKILL) {
        _ = Glibc.kill(pid, signal)
    }

    /// Resident memory now, from /proc (0 once the child has exited).
    var residentBytes: Int64 {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/statm", encoding: .utf8) else { return 0 }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int64(fields[1]) else { return 0 }
        return pages * Int64(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Reaps the child (blocking: call from a thread of its own).
    func wait() -> Exit {
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0, errno == EINTR {}
        let cpu = Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
        return Exit(status: cspawn_exited(status) != 0 ? cspawn_exit_status(status) : nil,
                    signal: cspawn_signaled(status) != 0 ? cspawn_term_signal(status) : nil,
                    peakRSSBytes: Int64(usage.ru_maxrss) * 1024, cpuSeconds: cpu)
    }
}
