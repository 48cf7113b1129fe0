import CGStreamer
import Testing
@testable import Transcoding

/// Option checks that need no media and run nothing.
@Suite struct ValidationTests {
    struct Malicious: Sendable, CustomTestStringConvertible {
        let fragment: String
        let code: TranscodeError.Code
        /// Words the message must contain (element, property, why).
        let mentions: [String]
        var testDescription: String { fragment }
    }

    static let corpus: [Malicious] = [
        .init(fragment: "videoconvert ! x264enc ! filesink location=/tmp/pwned", code: .optionsForbidden, mentions: ["filesink", "sink"]),
        .init(fragment: "videoconvert ! tee name=t ! queue ! x264enc t. ! queue ! multifilesink location=/tmp/pwned%d", code: .optionsForbidden, mentions: ["multifilesink", "sink"]),
        .init(fragment: "videoconvert ! multifilesink location=/tmp/pwned%d", code: .optionsForbidden, mentions: ["multifilesink", "sink"]),
        .init(fragment: "videoconvert ! x264enc ! rtph264pay ! udpsink host=10.0.0.1 port=5000", code: .optionsForbidden, mentions: ["udpsink"]),
        .init(fragment: "udpsink host=10.0.0.1 port=5000", code: .optionsForbidden, mentions: ["udpsink", "sink"]),
        .init(fragment: "souphttpsrc location=http://example.com/x ! x264enc", code: .optionsForbidden, mentions: ["souphttpsrc", "source"]),
        .init(fragment: "videoconvert ! x264enc option-string=dump-yuv=/tmp/pwned", code: .optionsForbidden, mentions: ["x264enc", "option-string"]),
        .init(fragment: "videoconvert ! x264enc multipass-cache-file=/tmp/pwned", code: .optionsForbidden, mentions: ["x264enc", "multipass-cache-file"]),
        .init(fragment: "videoconvert ! x264enc pass=pass1", code: .optionsForbidden, mentions: ["x264enc", "pass"]),
        .init(fragment: "videoconvert ! x264enc stats-file=/tmp/pwned", code: .optionsInvalid, mentions: ["stats-file", "x264enc"]),
        .init(fragment: "videoconvert ! x265enc option-string=csv=/tmp/pwned", code: .optionsForbidden, mentions: ["x265enc", "option-string"]),
        .init(fragment: "videoconvert ! vp9enc multipass-cache-file=/tmp/pwned", code: .optionsForbidden, mentions: ["vp9enc", "multipass-cache-file"]),
        .init(fragment: "videoconvert ! vp9enc multipass-mode=first-pass", code: .optionsForbidden, mentions: ["vp9enc", "multipass-mode"]),
        .init(fragment: "videoconvert ! avenc_mpeg4 pass=pass1", code: .optionsForbidden, mentions: ["avenc_mpeg4", "pass"]),
        .init(fragment: "videoconvert ! avenc_mpeg4 flags=pass1", code: .optionsInvalid, mentions: ["avenc_mpeg4", "flags"]),
        .init(fragment: "videoconvert ! x264enc ! d.", code: .optionsForbidden, mentions: ["outside"]),
        .init(fragment: "mux. ! videoconvert ! x264enc", code: .optionsForbidden, mentions: ["outside"]),
        .init(fragment: "videoconvert ! x264enc ! fdsink fd=1", code: .optionsForbidden, mentions: ["fdsink", "sink"]),
        .init(fragment: "videoconvert ! appsink", code: .optionsForbidden, mentions: ["appsink"]),
        .init(fragment: "v4l2src ! x264enc", code: .optionsForbidden, mentions: ["v4l2src", "source"]),
        .init(fragment: "filesrc location=/etc/passwd ! x264enc", code: .optionsForbidden, mentions: ["filesrc", "source"]),
        .init(fragment: "videoconvert ! queue2 temp-template=/tmp/pwnedXXXXXX ! x264enc", code: .optionsForbidden, mentions: ["queue2"]),
        .init(fragment: "videoconvert ! textoverlay text=hi ! x264enc", code: .optionsInvalid, mentions: ["textoverlay"]),
        .init(fragment: "videoconvert ! x264enc ! tcpclientsink host=1.2.3.4", code: .optionsForbidden, mentions: ["tcpclientsink"]),
        .init(fragment: "videoconvert ! identity ! x264enc", code: .optionsForbidden, mentions: ["identity"]),
        .init(fragment: "videoconvert ! transcoderx264enc", code: .optionsForbidden, mentions: ["transcoderx264enc", "not on the list"]),
        .init(fragment: "transcoderh264dec ! x264enc", code: .optionsForbidden, mentions: ["transcoderh264dec", "not on the list"]),
        .init(fragment: "videoconvert ! bin.( x264enc )", code: .optionsForbidden, mentions: ["bin"]),
        .init(fragment: "videoscale ! video/x-raw,width=10000,height=200 ! x264enc", code: .optionsForbidden, mentions: ["capsfilter", "width"]),
        .init(fragment: "videorate ! video/x-raw,framerate=1000/1 ! x264enc", code: .optionsForbidden, mentions: ["capsfilter", "frames per second"]),
        .init(fragment: "videoconvert ! x264enc ! mp4mux ! filesink location=/tmp/pwned", code: .optionsForbidden, mentions: ["filesink"]),
        .init(fragment: "videoconvert ! x264enc threads=100000", code: .optionsForbidden, mentions: ["x264enc", "threads", "limit of 64"]),
        .init(fragment: "videoconvert n-threads=5000 ! vp9enc", code: .optionsForbidden, mentions: ["videoconvert", "n-threads"]),
        .init(fragment: "nosuchelement", code: .optionsInvalid, mentions: ["nosuchelement"]),
        .init(fragment: "videoconvert ! x264enc nosuchprop=1", code: .optionsInvalid, mentions: ["nosuchprop"]),
        .init(fragment: "videoconvert x264enc", code: .optionsInvalid, mentions: ["one free input and one free output"]),
        .init(fragment: "", code: .optionsInvalid, mentions: ["empty"]),
        .init(fragment: " \n\t ", code: .optionsInvalid, mentions: ["empty"]),
    ]

    @Test(arguments: corpus)
    func maliciousFragmentsAreRejected(_ m: Malicious) {
        do {
            try TranscodingEngine.validate(.fragment(m.fragment), outputKey: "out.mp4")
            Issue.record("accepted: \(m.fragment)")
        } catch {
            #expect(error.code == m.code, "\(error)")
            for word in m.mentions { #expect(error.message.contains(word), "\(error.message) should mention \(word)") }
        }
    }

    @Test(arguments: ["videoconvert ! x264enc", "x264enc", "videoconvert ! videoscale ! video/x-raw,width=640 ! x264enc speed-preset=veryfast bitrate=800",
                      "videoflip method=clockwise ! videoconvert ! x264enc tune=zerolatency ! h264parse", "deinterlace ! videoconvert ! x265enc",
                      "queue max-size-buffers=2 ! videoconvert ! x264enc pass=qual quantizer=30", "\n  videoconvert ! x264enc \t",
                      "videoconvert n-threads=4 ! x264enc threads=8"])
    func acceptedFragments(_ fragment: String) throws {
        try TranscodingEngine.validate(.fragment(fragment), outputKey: "path/to/output_file")
    }

    @Test func codecContainerMismatchIsRefusedBeforeWork() {
        #expect(throws: TranscodeError.self) { try TranscodingEngine.validate(.fragment("videoconvert ! x264enc"), outputKey: "a.webm") }
        #expect(throws: TranscodeError.self) { try TranscodingEngine.validate(.fragment("videoconvert"), outputKey: "a.mp4") }
        #expect(throws: TranscodeError.self) { try TranscodingEngine.validate(.preset("vp9-720p"), outputKey: "a.ts") }
        #expect(throws: TranscodeError.self) { try TranscodingEngine.validate(.preset("aac-audio"), outputKey: "a.ogg") }
        do { try TranscodingEngine.validate(.fragment("videoconvert ! vp9enc"), outputKey: "a.mp4") }   // VP9 fits MP4
        catch { Issue.record("\(error)") }
    }

    @Test func containerFromOutputKey() {
        #expect(Container.forOutputKey("path/to/output_file") == .mp4)
        #expect(Container.forOutputKey("a/b.MKV") == .mkv)
        #expect(Container.forOutputKey("x.webm") == .webm)
        #expect(Container.forOutputKey("x.ts") == .ts)
        #expect(Container.forOutputKey("x.mov") == .mov)
        #expect(Container.forOutputKey("x.m4a") == .mp4)
        #expect(Container.forOutputKey("dir.v2/file") == .mp4)
        #expect(Container.fromExtension(of: ".hidden") == nil)
    }

    @Test func presetsAreListedAndValid() throws {
        let names = Preset.all.map(\.name)
        for required in ["h264-1080p", "h264-720p", "h264-480p", "hevc-720p", "vp9-720p", "av1-720p", "aac-audio", "opus-audio"] {
            #expect(names.contains(required))
        }
        for preset in Preset.all {
            #expect(!preset.summary.isEmpty)
            try TranscodingEngine.validate(.preset(preset.name), outputKey: "out")
        }
    }

    /// gst_util_set_object_arg only logs a value it cannot set: vp9enc once ran on its default
    /// VBR target because it has no `end-usage=q`. Every setting a preset or override makes must apply.
    @Test func everyPresetSettingAppliesToItsElement() throws {
        GStreamer.ensureInitialized()
        var specs: [ElementSpec] = [EncodingPlan.audio(.aac, bitrateKbps: 128).0, EncodingPlan.audio(.opus, bitrateKbps: 96).0]
        for preset in Preset.all {
            guard let v = preset.video else { continue }
            for speed in Preset.speeds {
                for o in [PresetOverrides(speed: speed), PresetOverrides(bitrateKbps: 900, speed: speed), PresetOverrides(crf: 30, speed: speed)]
                where !(v.codec == .av1 && o.crf != nil) {
                    specs.append(EncodingPlan.videoEncoder(v, o, threads: 2))
                }
            }
        }
        for spec in specs {
            let e = try #require(GStreamer.make(spec), "\(spec.factory) is installed")
            defer { gst_object_unref(UnsafeMutableRawPointer(e)) }
            let rejected = GStreamer.rejectedProperty(of: spec, on: e)
            #expect(rejected == nil, "\(spec.factory) takes \(spec.properties)")
        }
        // And the check itself can fail.
        let vp9 = try #require(GStreamer.make(ElementSpec("vp9enc")))
        defer { gst_object_unref(UnsafeMutableRawPointer(vp9)) }
        #expect(GStreamer.rejectedProperty(of: ElementSpec("vp9enc", [("end-usage", "q")]), on: vp9)?.name == "end-usage")
        #expect(GStreamer.rejectedProperty(of: ElementSpec("vp9enc", [("no-such", "1")]), on: vp9)?.name == "no-such")
    }

    @Test(arguments: [
        PresetOverrides(width: 10), PresetOverrides(width: 100_000), PresetOverrides(height: 9000), PresetOverrides(bitrateKbps: 1),
        PresetOverrides(crf: 52), PresetOverrides(crf: -1), PresetOverrides(speed: "ludicrous"), PresetOverrides(bitrateKbps: 1000, crf: 20),
    ])
    func outOfRangeOverridesAreInvalid(_ o: PresetOverrides) {
        #expect { try TranscodingEngine.validate(.preset("h264-720p", overrides: o), outputKey: "o.mp4") } throws: {
            ($0 as? TranscodeError)?.code == .optionsInvalid
        }
    }

    @Test func unknownPresetNamesTheKnownOnes() {
        do { try TranscodingEngine.validate(.preset("h263-4k"), outputKey: "o.mp4"); Issue.record("accepted") } catch {
            #expect(error.code == .optionsInvalid)
            #expect(error.message.contains("h264-720p"))
        }
    }

    @Test func fitKeepsAspectAndNeverUpscales() {
        #expect(EncodingPlan.fit(width: 1920, height: 1080, maxWidth: 1280, maxHeight: 720) == (1280, 720))
        #expect(EncodingPlan.fit(width: 640, height: 272, maxWidth: 1280, maxHeight: 720) == (640, 272))
        #expect(EncodingPlan.fit(width: 1080, height: 1920, maxWidth: 1280, maxHeight: 720) == (404, 720))
        #expect(EncodingPlan.fit(width: 175, height: 143, maxWidth: 1280, maxHeight: 720) == (174, 142))
    }

    @Test func limitsBoundFragments() {
        var limits = EngineLimits.default
        limits.maxWidth = 640
        #expect(throws: TranscodeError.self) {
            try TranscodingEngine.validate(.fragment("videoscale ! video/x-raw,width=1280 ! x264enc"), outputKey: "o.mp4", limits: limits)
        }
        limits.maxFragmentLength = 10
        #expect(throws: TranscodeError.self) {
            try TranscodingEngine.validate(.fragment("videoconvert ! x264enc"), outputKey: "o.mp4", limits: limits)
        }
    }
}
