import CGStreamer

/// One AAC track's sample table and its MP4 boxes (ISO/IEC 14496-12 and -14), for
/// ``M4AWriterElement``. The file is `header`, the frames, then `moov()`; all frames are one
/// chunk, so the only chunk offset is the header's size.
struct M4AMovie {
    struct Format: Equatable {
        var rate: UInt32 = 0
        var channels: UInt16 = 0
        /// AudioSpecificConfig, from the encoder's codec_data.
        var config: [UInt8] = []
    }

    var format = Format()
    private(set) var sizes: [UInt32] = []
    /// Frame durations in samples, run-length coded as stts stores them.
    private(set) var durations: [(count: UInt32, delta: UInt32)] = []
    private(set) var samples: UInt64 = 0
    /// Encoder delay at the start and padding at the end, in samples: left out by the edit list.
    private(set) var priming: UInt64 = 0
    private(set) var padding: UInt64 = 0
    private var second: (index: UInt64, bytes: UInt64) = (0, 0)
    private var busiestSecond: UInt64 = 0

    init(format: Format = Format()) { self.format = format }

    /// Rate, channels and codec_data from the sink caps.
    mutating func configure(_ caps: UnsafeMutablePointer<GstCaps>) -> Bool {
        guard let s = gst_caps_get_structure(caps, 0) else { return false }
        var rate: gint = 0, channels: gint = 0
        guard gst_structure_get_int(s, "rate", &rate) != 0, gst_structure_get_int(s, "channels", &channels) != 0,
              rate > 0, channels > 0, let value = gst_structure_get_value(s, "codec_data"),
              let boxed = g_value_get_boxed(value) else { return false }
        let buffer = boxed.assumingMemoryBound(to: GstBuffer.self)
        var config = [UInt8](repeating: 0, count: Int(gst_buffer_get_size(buffer)))
        _ = config.withUnsafeMutableBytes { gst_buffer_extract(buffer, 0, $0.baseAddress, gsize($0.count)) }
        format = Format(rate: UInt32(rate), channels: UInt16(channels), config: config)
        return !config.isEmpty
    }

    /// One frame: its size, its duration (nanoseconds; AAC's 1024 samples when unknown) and the
    /// samples the encoder marked to drop at its start or end.
    mutating func add(size: UInt32, duration: UInt64, clipping: (start: UInt64, end: UInt64)?) {
        let rate = UInt64(max(format.rate, 1))
        var delta: UInt64 = 1024
        if duration != GStreamer.clockTimeNone, duration > 0 {
            delta = max(1, (duration * rate + GStreamer.second / 2) / GStreamer.second)
        }
        if let clipping {
            if sizes.isEmpty { priming = clipping.start }
            padding += clipping.end
        }
        sizes.append(size)
        if let last = durations.last, UInt64(last.delta) == delta {
            durations[durations.count - 1].count += 1
        } else {
            durations.append((1, UInt32(clamping: delta)))
        }
        // Bytes per second of sound, for the decoder configuration's peak bitrate.
        let index = samples / rate
        if index != second.index { second = (index, 0) }
        second.bytes += UInt64(size)
        busiestSecond = max(busiestSecond, second.bytes)
        samples += delta
    }

    /// The frames' bytes, which are the mdat's contents.
    var dataSize: UInt64 { sizes.reduce(0) { $0 + UInt64($1) } }

    /// ftyp, an 8-byte free box (room for a 64-bit mdat size) and the mdat header.
    static let header: [UInt8] = {
        var w = BoxWriter()
        w.box("ftyp") { w in
            w.fourcc("mp42"); w.u32(0)
            for brand in ["mp42", "mp41", "isom", "iso2"] { w.fourcc(brand) }
        }
        w.box("free") { _ in }
        w.u32(8); w.fourcc("mdat")   // size patched at the end
        return w.bytes
    }()

    /// The mdat header for `dataSize` bytes of frames: where it goes and what it is. Past 4 GiB
    /// it takes the free box's place with a 64-bit size.
    static func mdatHeader(dataSize: UInt64) -> (position: Int, bytes: [UInt8]) {
        var w = BoxWriter()
        if dataSize + 8 <= UInt64(UInt32.max) {
            w.u32(UInt32(dataSize + 8)); w.fourcc("mdat")
            return (header.count - 8, w.bytes)
        }
        w.u32(1); w.fourcc("mdat"); w.u64(dataSize + 16)
        return (header.count - 16, w.bytes)
    }

    /// The moov box for the frames added so far.
    func moov() -> [UInt8] {
        let shown = samples - min(samples, priming + padding)
        let wide = samples > UInt64(UInt32.max)
        var w = BoxWriter()
        w.box("moov") { w in
            w.fullBox("mvhd", version: wide ? 1 : 0) { w in
                w.times(wide); w.u32(format.rate); w.time(shown, wide)
                w.u32(0x0001_0000); w.u16(0x0100); w.zeros(10); w.matrix(); w.zeros(24); w.u32(2)
            }
            w.box("trak") { w in
                w.fullBox("tkhd", version: wide ? 1 : 0, flags: 3) { w in   // enabled, in movie
                    w.times(wide); w.u32(1); w.u32(0); w.time(shown, wide)
                    w.zeros(8); w.u16(0); w.u16(1); w.u16(0x0100); w.u16(0); w.matrix(); w.u32(0); w.u32(0)
                }
                w.box("edts") { w in
                    w.fullBox("elst", version: wide ? 1 : 0) { w in
                        w.u32(1); w.time(shown, wide); w.time(priming, wide); w.u16(1); w.u16(0)
                    }
                }
                w.box("mdia") { w in
                    w.fullBox("mdhd", version: wide ? 1 : 0) { w in
                        w.times(wide); w.u32(format.rate); w.time(samples, wide); w.u16(0x55C4); w.u16(0)   // "und"
                    }
                    w.fullBox("hdlr") { w in
                        w.u32(0); w.fourcc("soun"); w.zeros(12); w.append(Array("SoundHandler".utf8) + [0])
                    }
                    w.box("minf") { w in
                        w.fullBox("smhd") { w in w.u32(0) }
                        w.box("dinf") { w in
                            w.fullBox("dref") { w in
                                w.u32(1)
                                w.fullBox("url ", flags: 1) { _ in }   // the data is in this file
                            }
                        }
                        w.box("stbl") { w in sampleTable(&w) }
                    }
                }
            }
        }
        return w.bytes
    }

    private func sampleTable(_ w: inout BoxWriter) {
        w.fullBox("stsd") { w in
            w.u32(1)
            w.box("mp4a") { w in
                w.zeros(6); w.u16(1); w.zeros(8)
                w.u16(format.channels); w.u16(16); w.u16(0); w.u16(0)
                w.u32(format.rate <= 0xFFFF ? format.rate << 16 : 0)
                w.fullBox("esds") { w in esDescriptor(&w) }
            }
        }
        w.fullBox("stts") { w in
            w.u32(UInt32(durations.count))
            for run in durations { w.u32(run.count); w.u32(run.delta) }
        }
        w.fullBox("stsc") { w in
            if sizes.isEmpty { w.u32(0) } else { w.u32(1); w.u32(1); w.u32(UInt32(sizes.count)); w.u32(1) }
        }
        w.fullBox("stsz") { w in
            w.u32(0); w.u32(UInt32(sizes.count))
            for size in sizes { w.u32(size) }
        }
        w.fullBox("stco") { w in
            if sizes.isEmpty { w.u32(0) } else { w.u32(1); w.u32(UInt32(Self.header.count)) }
        }
    }

    /// ES_Descriptor > DecoderConfigDescriptor (AAC, audio stream) > DecoderSpecificInfo, and
    /// the SL descriptor MP4 requires. Lengths in the 4-byte form, as ffmpeg writes them.
    private func esDescriptor(_ w: inout BoxWriter) {
        let seconds = Double(samples) / Double(max(format.rate, 1))
        let average = seconds > 0 ? UInt32(clamping: UInt64(Double(dataSize * 8) / seconds)) : 0
        let decoderConfig = 13 + 5 + format.config.count
        w.descriptor(3, length: 3 + 5 + decoderConfig + 5 + 1)
        w.u16(1); w.u8(0)
        w.descriptor(4, length: decoderConfig)
        w.u8(0x40)   // MPEG-4 audio
        w.u8(0x15)   // audio stream
        let largest = sizes.max() ?? 0
        w.u8(UInt8(truncatingIfNeeded: largest >> 16)); w.u16(UInt16(truncatingIfNeeded: largest))
        w.u32(UInt32(clamping: busiestSecond * 8)); w.u32(average)
        w.descriptor(5, length: format.config.count)
        w.append(format.config)
        w.descriptor(6, length: 1)
        w.u8(2)
    }
}

/// Big-endian box serialization.
struct BoxWriter {
    var bytes: [UInt8] = []

    mutating func u8(_ v: UInt8) { bytes.append(v) }
    mutating func u16(_ v: UInt16) { bytes += [UInt8(v >> 8), UInt8(v & 0xFF)] }
    mutating func u32(_ v: UInt32) { for shift in stride(from: 24, through: 0, by: -8) { bytes.append(UInt8((v >> UInt32(shift)) & 0xFF)) } }
    mutating func u64(_ v: UInt64) { u32(UInt32(v >> 32)); u32(UInt32(v & 0xFFFF_FFFF)) }
    mutating func zeros(_ n: Int) { bytes += [UInt8](repeating: 0, count: n) }
    mutating func append(_ b: [UInt8]) { bytes += b }
    mutating func fourcc(_ s: String) { bytes += Array(s.utf8.prefix(4)) }

    /// A duration or time in a version 0 (32-bit) or version 1 (64-bit) box.
    mutating func time(_ v: UInt64, _ wide: Bool) { if wide { u64(v) } else { u32(UInt32(clamping: v)) } }
    /// Creation and modification times: zero (unknown), as reproducible output wants.
    mutating func times(_ wide: Bool) { time(0, wide); time(0, wide) }
    /// The identity matrix of mvhd and tkhd.
    mutating func matrix() { for v: UInt32 in [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000] { u32(v) } }

    mutating func box(_ type: String, _ body: (inout BoxWriter) -> Void) {
        let start = bytes.count
        u32(0); fourcc(type)
        body(&self)
        let size = UInt32(bytes.count - start)
        for i in 0..<4 { bytes[start + i] = UInt8((size >> UInt32(24 - 8 * i)) & 0xFF) }
    }

    mutating func fullBox(_ type: String, version: UInt8 = 0, flags: UInt32 = 0, _ body: (inout BoxWriter) -> Void) {
        box(type) { w in
            w.u32(UInt32(version) << 24 | flags & 0xFF_FFFF)
            body(&w)
        }
    }

    /// An MPEG-4 descriptor's tag and length (7 bits per byte, continuation bit set, 4 bytes).
    mutating func descriptor(_ tag: UInt8, length: Int) {
        u8(tag)
        for shift in [21, 14, 7] { u8(UInt8((length >> shift) & 0x7F) | 0x80) }
        u8(UInt8(length & 0x7F))
    }
}
