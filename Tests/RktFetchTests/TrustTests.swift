import Foundation
import RktOS
import RktTestSupport
import Testing

@testable import RktFetch

/// The keystore layout, key parsing against gpg's own view, and gpgv's status interpretation.
@Suite struct TrustTests {
    @Test func keyFingerprintAndUserIDMatchGPG() throws {
        let gpg = try TestGPG(user: "fingerprint check <fp@example.com>")
        let armored = try FileSystem.read(gpg.publicKeyPath)
        let key = try OpenPGPKey.parse(armored, source: "test")
        #expect(key.fingerprint == gpg.fingerprint)
        #expect(key.userIDs == ["fingerprint check <fp@example.com>"])
        #expect(key.spacedFingerprint.replacingOccurrences(of: " ", with: "").lowercased() == gpg.fingerprint)
        // Binary keys parse the same, and our re-armoring round-trips.
        #expect(try OpenPGPKey.parse(key.binary, source: "binary") == key)
        #expect(try OpenPGPKey.parse(Keystore.armor(key.binary), source: "re-armored") == key)
    }

    @Test func garbageIsNotAKey() {
        #expect(throws: FetchError.self) { try OpenPGPKey.parse(Data("hello".utf8), source: "x") }
        #expect(throws: FetchError.self) { try OpenPGPKey.parse(Data([0x99, 0x00, 0x05, 0x04]), source: "x") }
    }

    @Test func prefixesAreCheckedPaths() throws {
        #expect(try Keystore.escapedPrefix("example.com/app/") == "example.com/app")
        for bad in ["../etc", "example.com/../x", "Example.com", "a//b", "", "/abs"] {
            #expect(throws: FetchError.self, "\(bad)") { try Keystore.escapedPrefix(bad) }
        }
    }

    @Test func keysApplyToTheirPrefixAndBelow() throws {
        let dir = try TemporaryDirectory(prefix: "rkt-keystore")
        let keystore = Keystore(systemConfig: dir.path + "/sys", localConfig: dir.path + "/local")
        func put(_ path: String, _ content: String) throws {
            try FileSystem.makeDirectories(FileSystem.parentDirectory(of: dir.path + "/" + path))
            try FileSystem.writeAtomically(Data(content.utf8), to: dir.path + "/" + path)
        }
        try put("sys/trustedkeys/root.d/aaaa", "k")
        try put("sys/trustedkeys/prefix.d/example.com/bbbb", "k")
        try put("local/trustedkeys/prefix.d/example.com/app/cccc", "k")
        try put("local/trustedkeys/prefix.d/example.com/application/dddd", "k")
        #expect(try keystore.trustedKeys(for: "example.com/app").keys.sorted() == ["aaaa", "bbbb", "cccc"])
        #expect(try keystore.trustedKeys(for: "example.com/app/sub").keys.sorted() == ["aaaa", "bbbb", "cccc"])
        #expect(try keystore.trustedKeys(for: "example.com/other").keys.sorted() == ["aaaa", "bbbb"])
        #expect(try keystore.trustedKeys(for: "other.org/app").keys.sorted() == ["aaaa"])
        // An empty local file masks the vendor's key of that fingerprint.
        try put("local/trustedkeys/prefix.d/example.com/bbbb", "")
        #expect(try keystore.trustedKeys(for: "example.com/app").keys.sorted() == ["aaaa", "cccc"])
    }

    @Test func gpgvStatusLines() {
        let good = "[GNUPG:] NEWSIG\n[GNUPG:] GOODSIG 1234 someone\n[GNUPG:] VALIDSIG SUBKEYFPR 2026-11-29 1 0 4 0 22 8 01 PRIMARYFPR\n"
        #expect(SignatureVerifier.interpret(status: good) == .valid(primaryFingerprint: "primaryfpr"))
        #expect(SignatureVerifier.interpret(status: "[GNUPG:] BADSIG ABCD bob <b@x>\n") == .bad(keyID: "ABCD", userID: "bob <b@x>"))
        #expect(SignatureVerifier.interpret(status: "[GNUPG:] ERRSIG ABCD 22 8 00 1700000000 9 -\n[GNUPG:] NO_PUBKEY ABCD\n") == .unknownKey(keyID: "ABCD"))
        if case .invalid = SignatureVerifier.interpret(status: "[GNUPG:] NODATA 1\n") {} else { Issue.record("NODATA must be invalid") }
    }

    @Test func discoveryMetaParsingAndTemplates() {
        let html = """
            <HTML><META name="ac-discovery" content="example.com https://s.example.com/{os}/{arch}/{name}-{version}.{ext}">
            <meta content='example.com/app  https://k.example.com/keys.gpg' name='ac-discovery-pubkeys' />
            <meta name="description" content="not ours"><meta name=ac-discovery content="broken">
            """
        let metas = MetaDiscovery.parseMeta(html)
        #expect(metas == [
            MetaDiscovery.Meta(name: "ac-discovery", prefix: "example.com", uri: "https://s.example.com/{os}/{arch}/{name}-{version}.{ext}"),
            MetaDiscovery.Meta(name: "ac-discovery-pubkeys", prefix: "example.com/app", uri: "https://k.example.com/keys.gpg"),
        ])
        let app = DiscoveryApp(name: "example.com/app", labels: ["version": "1.0", "os": "linux", "arch": "amd64"])
        let partial = MetaDiscovery.render(metas[0].uri, app)
        #expect(MetaDiscovery.finish(partial, ext: "aci") == "https://s.example.com/linux/amd64/example.com/app-1.0.aci")
        #expect(MetaDiscovery.finish(partial, ext: "aci.asc") == "https://s.example.com/linux/amd64/example.com/app-1.0.aci.asc")
        #expect(MetaDiscovery.finish(MetaDiscovery.render("https://x/{name}-{channel}.{ext}", app), ext: "aci") == nil)
    }

    @Test func labelRulesFollowAppc() throws {
        let app = DiscoveryApp.withRuntimeDefaults(name: "example.com/app", labels: ["version": "1.0", "channel": "stable"])
        try app.checkLabels(["version": "1.0", "channel": "stable", "os": "linux", "arch": DiscoveryApp.runtimeArch], imageName: "example.com/app")
        // os/arch were filled in by us: a manifest without them is fine, one with others is not.
        try app.checkLabels(["version": "1.0", "channel": "stable"], imageName: "example.com/app")
        #expect(throws: FetchError.self) { try app.checkLabels(["version": "1.0", "channel": "stable", "os": "freebsd"], imageName: "example.com/app") }
        do throws(FetchError) {
            try app.checkLabels(["version": "1.0"], imageName: "example.com/app")
            Issue.record("a missing requested label must fail")
        } catch {
            #expect(error.description == "image example.com/app: requested label \"channel\" not provided by the image manifest")
        }
    }

    @Test func progressLine() {
        let bar = ProgressBar(label: "app.aci", total: 10 << 20, alreadyDone: 0, enabled: false)
        bar.advance(by: 5 << 20)
        #expect(bar.line(elapsed: 2, width: 10) == "Downloading app.aci: [=====>    ] 5.0 MiB/10.0 MiB  2.5 MiB/s  ETA 2s")
        let unknown = ProgressBar(label: "x", total: nil, enabled: false)
        unknown.advance(by: 1000)
        #expect(unknown.line(elapsed: 1) == "Downloading x: 1000 B  1000 B/s")
    }
}
