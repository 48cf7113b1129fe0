import CGStreamer
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension TranscodingEngine {
    /// Checks every output of a several-output job without touching any file.
    public static func validate(outputs: [OutputSpec], limits: EngineLimits = .default) throws(TranscodeError) {
        _ = try OutputPlanner.plan(outputs, limits: limits)
    }

    /// Makes every output from one decode of `input`, under `directory` (each at its ``OutputSpec/name``).
    /// Either all outputs are there and checked, or the call throws and none is left behind.
    public func transcode(input: String, outputs: [OutputSpec], directory: String,
                          progress: @escaping @Sendable (TranscodeProgress) -> Void) async throws(TranscodeError) -> MultiTranscodeResult {
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started + limits.overallTimeout
        let plans = try OutputPlanner.plan(outputs, limits: limits)
        let inputInfo = try await probe(input)
        cgst_trim_heap()
        for plan in plans {
            switch plan.kind {
            case .file(let p): try Self.check(inputInfo, against: p, limits: limits)
            case .hls, .thumbnails: try Self.check(inputInfo, needsVideo: true, audioOnly: false, limits: limits)
            }
        }
        if Task.isCancelled { throw TranscodeError(.cancelled, "The job was cancelled.") }
        var finished = false
        defer {   // nothing half-made stays behind
            if !finished {
                for plan in plans {
                    let path = Paths.join(directory, plan.name)
                    try? FileManager.default.removeItem(atPath: path)
                    try? FileManager.default.removeItem(atPath: FanOutBuilder.temporaryPath(path))
                }
            }
        }

        let limits = limits
        let job = TranscodeJob()
        let logger = logger
        let fragmentMode = plans.contains { plan in
            if case .file(let p) = plan.kind, case .fragment? = p.video { true } else { false }
        }
        let result: Result<(FanOut, TranscodeJob.Outcome), TranscodeError> = await withTaskCancellationHandler {
            await OSThread.result { () throws(TranscodeError) -> (FanOut, TranscodeJob.Outcome) in
                let fanOut = try FanOutBuilder.build(plans, input: inputInfo, inputPath: input, directory: directory, limits: limits)
                let outcome = try job.run(fanOut.built, duration: inputInfo.duration > 0 ? inputInfo.duration : nil, deadline: deadline,
                                          limits: limits, fragmentMode: fragmentMode, logger: logger, progress: progress).get()
                return (fanOut, outcome)
            }
        } onCancel: {
            job.cancel()
        }
        let (fanOut, outcome) = try result.get()
        if Task.isCancelled { throw TranscodeError(.cancelled, "The job was cancelled.") }

        var produced: [ProducedOutput] = []
        for (index, plan) in plans.enumerated() {
            switch plan.kind {
            case .file(let p):
                let temp = fanOut.temporaryFiles[index]!
                let info = try await inspectOutput(temp, logger: logger)
                try Self.verify(info, input: inputInfo, plan: p, inputWarnings: outcome.inputWarnings)
                let path = Paths.join(directory, plan.name)
                guard rename(temp, path) == 0 else { throw TranscodeError(.outputUnwritable, "The output file could not be put in place.") }
                let v = info.video
                produced.append(ProducedOutput(name: plan.name, files: [ProducedOutput.File(
                    path: plan.name, role: .file, size: Self.fileSize(path), codec: v?.codec ?? info.audio?.codec,
                    width: v?.width, height: v?.height, durationSeconds: info.duration, bitrate: info.bitRate)], info: info))
            case .hls:
                let renditions = fanOut.renditions[index] ?? []
                let fps = inputInfo.frameRate.map { min($0, Double(limits.maxFrameRate)) }
                produced.append(try await OSThread.run { () throws(TranscodeError) in
                    try Self.finishHLS(plan.name, renditions, directory: directory, input: inputInfo, frameRate: fps,
                                       inputWarnings: outcome.inputWarnings)
                })
            case .thumbnails:
                let thumbs = fanOut.thumbnails[index]!
                let timeout = limits.probeTimeout
                produced.append(try await OSThread.run { () throws(TranscodeError) in
                    try Self.finishThumbnails(plan.name, thumbs, directory: directory, input: inputInfo, timeout: timeout)
                })
            }
        }
        finished = true
        progress(TranscodeProgress(percent: 100, position: inputInfo.duration, duration: inputInfo.duration, fps: nil, etaSeconds: 0))
        return MultiTranscodeResult(input: inputInfo, outputs: produced, elapsed: clock.now - started,
                                    frames: inputInfo.hasVideo ? outcome.frames : nil)
    }

    /// The first bytes of a file (the SPS is in a segment's first packets), not the whole segment.
    static func head(of path: String, bytes: Int) -> [UInt8] {
        guard let file = fopen(path, "rb") else { return [] }
        defer { fclose(file) }
        var buffer = [UInt8](repeating: 0, count: bytes)
        let n = fread(&buffer, 1, bytes, file)
        return Array(buffer.prefix(n))
    }

    static func fileSize(_ path: String) -> Int64 {
        let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size]
        return (size as? Int64) ?? (size as? UInt64).map { Int64($0) } ?? (size as? Int).map { Int64($0) } ?? 0
    }

    /// Rewrites hlssink2's playlists as VOD, measures each variant, and writes the master playlist.
    /// Files are listed segments first, then variant playlists, the master last: the order to store them.
    static func finishHLS(_ name: String, _ renditions: [FanOut.Rendition], directory: String, input: MediaInfo,
                          frameRate: Double?, inputWarnings: Bool) throws(TranscodeError) -> ProducedOutput {
        var segmentFiles: [ProducedOutput.File] = []
        var variantFiles: [ProducedOutput.File] = []
        var variants: [HLS.Variant] = []
        let root = Paths.join(directory, name)
        for r in renditions {
            let dir = Paths.join(directory, r.directory)
            let sinkPlaylist = Paths.join(dir, "hlssink.m3u8")
            guard let text = try? String(contentsOfFile: sinkPlaylist, encoding: .utf8) else {
                throw TranscodeError(.encoderFailure, "The HLS packager wrote no playlist for \(r.name).")
            }
            try? FileManager.default.removeItem(atPath: sinkPlaylist)
            var segments = HLS.segments(inPlaylist: text)
            // hlssink2 times the last segment from its first to its last frame's start: the last
            // frame's own duration is missing (every other segment ends where the next begins).
            if let fps = frameRate, fps > 0, !segments.isEmpty { segments[segments.count - 1].duration += 1 / fps }
            let sizes = segments.map { fileSize(Paths.join(dir, $0.uri)) }
            guard !segments.isEmpty, !sizes.contains(0), segments.allSatisfy({ !$0.uri.contains("/") }) else {
                throw TranscodeError(.encoderFailure, "The HLS packager's playlist for \(r.name) names missing segments.")
            }
            let total = segments.map(\.duration).reduce(0, +)
            if input.duration > 0, abs(total - input.duration) > max(1.0, input.duration * 0.1) {
                throw inputWarnings || total < input.duration
                    ? TranscodeError(.inputCorrupt, "The input ends early or is damaged: only \(Int(total)) of \(Int(input.duration)) seconds could be decoded.")
                    : TranscodeError(.encoderFailure, "The \(r.name) variant's duration does not match the input's.")
            }
            let playlist = Paths.join(dir, "index.m3u8")
            guard FileManager.default.createFile(atPath: playlist, contents: Data(HLS.vodPlaylist(segments).utf8)) else {
                throw TranscodeError(.outputUnwritable, "A playlist could not be written.")
            }
            let video = HLS.avcCodec(inStream: Self.head(of: Paths.join(dir, segments[0].uri), bytes: 64 * 1024)) ?? "avc1.640028"
            let (peak, average) = HLS.bitrates(segments, sizes: sizes)
            variants.append(HLS.Variant(uri: "\(r.name)/index.m3u8", bandwidth: peak, averageBandwidth: average, width: r.width, height: r.height,
                                        codecs: input.hasAudio ? "\(video),mp4a.40.2" : video, frameRate: frameRate))
            for (s, size) in zip(segments, sizes) {
                segmentFiles.append(ProducedOutput.File(path: Paths.join(r.directory, s.uri), role: .segment,
                                                        size: size, durationSeconds: s.duration))
            }
            variantFiles.append(ProducedOutput.File(path: Paths.join(r.directory, "index.m3u8"), role: .variant,
                                                    size: fileSize(playlist), codec: video, width: r.width, height: r.height,
                                                    durationSeconds: total, bitrate: peak))
        }
        guard !variants.isEmpty else { throw TranscodeError(.encoderFailure, "The HLS package has no variant.") }
        let master = Paths.join(root, "master.m3u8")
        guard FileManager.default.createFile(atPath: master, contents: Data(HLS.master(variants).utf8)) else {
            throw TranscodeError(.outputUnwritable, "The master playlist could not be written.")
        }
        let top = variants.max { $0.bandwidth < $1.bandwidth }!
        let masterFile = ProducedOutput.File(path: Paths.join(name, "master.m3u8"), role: .master,
                                             size: fileSize(master), codec: top.codecs, width: top.width, height: top.height,
                                             durationSeconds: variantFiles.first?.durationSeconds, bitrate: top.bandwidth)
        return ProducedOutput(name: name, files: segmentFiles + variantFiles + [masterFile], info: nil)
    }

    static func finishThumbnails(_ name: String, _ thumbs: FanOut.Thumbnails, directory: String, input: MediaInfo,
                                 timeout: Duration) throws(TranscodeError) -> ProducedOutput {
        let root = Paths.join(directory, name)
        guard let poster = thumbs.poster.captured.first else {
            throw TranscodeError(.inputCorrupt, "The input has no picture to make a poster from.")
        }
        let posterPath = Paths.join(root, "poster.jpg")
        try JPEGWriter.write(poster, width: thumbs.poster.width, height: thumbs.poster.height, to: posterPath, timeout: timeout)
        var files = [ProducedOutput.File(path: Paths.join(name, "poster.jpg"), role: .poster,
                                         size: fileSize(posterPath), codec: "jpeg", width: thumbs.poster.width, height: thumbs.poster.height)]
        if let sprite = thumbs.sprite, let selector = thumbs.spriteSelector {
            let frames = sprite.captured
            let times = Array(selector.chosen.prefix(frames.count))
            guard !frames.isEmpty else { throw TranscodeError(.inputCorrupt, "The input has no picture to make thumbnails from.") }
            let columns = 10
            let sheet = I420.sheet(frames, width: sprite.width, height: sprite.height, columns: columns)
            let spritePath = Paths.join(root, "sprite.jpg")
            try JPEGWriter.write(sheet.bytes, width: sheet.width, height: sheet.height, to: spritePath, timeout: timeout)
            let duration = input.duration > 0 ? input.duration : (times.last ?? 0) + 1
            let vtt = ThumbnailTrack.vtt(times: times, duration: duration, sprite: "sprite.jpg", width: sprite.width, height: sprite.height,
                                         columns: min(columns, frames.count))
            let vttPath = Paths.join(root, "sprite.vtt")
            guard FileManager.default.createFile(atPath: vttPath, contents: Data(vtt.utf8)) else {
                throw TranscodeError(.outputUnwritable, "The thumbnails track could not be written.")
            }
            files.append(ProducedOutput.File(path: Paths.join(name, "sprite.jpg"), role: .sprite,
                                             size: fileSize(spritePath), codec: "jpeg", width: sheet.width, height: sheet.height))
            files.append(ProducedOutput.File(path: Paths.join(name, "sprite.vtt"), role: .vtt,
                                             size: fileSize(vttPath), durationSeconds: duration))
        }
        return ProducedOutput(name: name, files: files, info: nil)
    }
}
