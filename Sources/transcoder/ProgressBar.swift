import Foundation

/// A one-line progress display for a terminal (or plain lines when not a terminal).
struct ProgressBar {
    private let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastLine = ""

    /// `frames` and `position` (media seconds done) are shown when there is no ETA: the only
    /// sign of advance for an input of unknown duration.
    mutating func show(percent: Double, state: String, fps: Double?, eta: Double?, frames: Int? = nil, position: Double? = nil,
                       parts: (done: Int, total: Int, workers: Int)? = nil) {
        let width = 30
        let filled = Int((min(100, max(0, percent)) / 100 * Double(width)).rounded())
        var line = "[" + String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled) + "] "
        line += String(format: "%5.1f%% %@", percent, state)
        if let parts { line += "  parts \(parts.done)/\(parts.total) on \(parts.workers) worker\(parts.workers == 1 ? "" : "s")" }
        if let fps { line += String(format: "  %.0f fps", fps) }
        if let eta {
            line += "  ETA \(Int(eta))s"
        } else if let position {
            line += String(format: "  %.1f s of media", position)
            if let frames { line += ", \(frames) frames" }
        }
        guard line != lastLine else { return }
        lastLine = line
        FileHandle.standardError.write(Data((isTerminal ? "\r\u{1B}[K" + line : line + "\n").utf8))
    }

    func finish() {
        if isTerminal { FileHandle.standardError.write(Data("\n".utf8)) }
    }
}
