import Testing
@testable import JobService

/// The pure parts of webhooks: which targets are internal, and the signature.
@Suite struct WebhookTests {
    @Test func internalAddressesAreRecognised() {
        let inside: [[UInt8]] = [
            [127, 0, 0, 1], [10, 1, 2, 3], [172, 16, 0, 1], [172, 31, 255, 255], [192, 168, 1, 1], [169, 254, 169, 254],
            [100, 64, 0, 1], [0, 0, 0, 0], [224, 0, 0, 1], [255, 255, 255, 255], [198, 18, 0, 1],
            [UInt8](repeating: 0, count: 15) + [1],                            // ::1
            [0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],               // fd00::1
            [0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],            // fe80::1
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 1],          // ::ffff:127.0.0.1
        ]
        let external: [[UInt8]] = [
            [93, 184, 216, 34], [172, 32, 0, 1], [172, 15, 255, 255], [100, 128, 0, 1], [8, 8, 8, 8],
            [0x26, 0x06, 0x47, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x11],  // 2606:4700::1111
            [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 8, 8, 8, 8],            // ::ffff:8.8.8.8
        ]
        for address in inside { #expect(WebhookTarget.isInternal(address), "\(WebhookTarget.describe(address))") }
        for address in external { #expect(!WebhookTarget.isInternal(address), "\(WebhookTarget.describe(address))") }
    }

    @Test func targetsAreCheckedByWhatTheyResolveTo() throws {
        #expect(throws: WebhookTarget.Refused.self) { try WebhookTarget.check("http://localhost:9/hook", allowPrivate: false) }
        #expect(throws: WebhookTarget.Refused.self) { try WebhookTarget.check("http://[::1]/hook", allowPrivate: false) }
        #expect(throws: WebhookTarget.Refused.self) { try WebhookTarget.check("http://169.254.169.254/latest", allowPrivate: false) }
        #expect(throws: WebhookTarget.Refused.self) { try WebhookTarget.check("ftp://example.com/", allowPrivate: false) }
        #expect(throws: WebhookTarget.Refused.self) { try WebhookTarget.check("https://user:pw@example.com/", allowPrivate: true) }
        #expect(try WebhookTarget.check("http://127.0.0.1:9/hook", allowPrivate: true).port == 9)
    }

    @Test func theSignatureIsHMACSHA256OverTimestampAndBody() {
        // Expected value from Python's hmac module on the same input.
        #expect(WebhookSettings.signature(secret: "whsec-test", timestamp: 1_700_000_000, body: #"{"event":"job.completed"}"#)
            == "t=1700000000,v1=720153d31a1def14e3a90e572663e4cd831fd73a8e826edb93e4c01c15e5d0dd")
    }
}
