import Foundation
import RktArchive
import RktOS
import RktStore
import Testing

@Suite struct TreeStoreTests {
    /// appc's order: A depends on [B, C], C on [D]; first wins in [A, C, D, B].
    @Test func dependenciesRenderInAppcOrder() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let store = try ImageStore(dataDir: fx.dataDir)
        func dep(_ name: String) -> String { #"{"imageName":"example.com/\#(name)"}"# }
        let b = try fx.aci("b", manifest: ACIFixture.manifest("example.com/b"),
                           files: ["all": "b", "bd": "b", "bc": "b", "only-b": "b"])
        let d = try fx.aci("d", manifest: ACIFixture.manifest("example.com/d"),
                           files: ["all": "d", "bd": "d", "only-d": "d"])
        let c = try fx.aci("c", manifest: ACIFixture.manifest("example.com/c", extra: #""dependencies":[\#(dep("d"))]"#),
                           files: ["all": "c", "bc": "c"])
        let a = try fx.aci("a", manifest: ACIFixture.manifest("example.com/a", extra: #""dependencies":[\#(dep("b")),\#(dep("c"))]"#),
                           files: ["all": "a"])
        for path in [b, d, c] { try store.importImage(path: path) }
        let top = try store.importImage(path: a)
        let tree = try store.renderTree(key: top.key)
        func read(_ name: String) -> String? { try? String(contentsOfFile: tree.rootfs + "/" + name, encoding: .utf8) }
        #expect(read("all") == "a")
        #expect(read("bc") == "c", "C is nearer than B")
        #expect(read("bd") == "d", "D (C's dependency) is nearer than B")
        #expect(read("only-b") == "b")
        #expect(read("only-d") == "d")
        #expect(FileSystem.exists(tree.path + "/rendered"))
        #expect(try String(contentsOfFile: tree.path + "/image", encoding: .utf8) == top.key)
        #expect(try store.image(key: top.key)?.treeStoreSize ?? 0 > 0)
    }

    /// A dependency pinned by image ID wins over a newer image of the same name.
    @Test func dependencyByImageID() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let store = try ImageStore(dataDir: fx.dataDir)
        let pinnedPath = try fx.aci("base1", manifest: ACIFixture.manifest("example.com/base"), files: ["v": "pinned"])
        try store.importImage(path: pinnedPath)
        // Manifests name dependencies by the full SHA-512; the store keys by its first half.
        let fullID = StreamingDigest.hex(of: try Data(contentsOf: URL(fileURLWithPath: pinnedPath)))
        Thread.sleep(forTimeInterval: 0.01)
        try store.importImage(path: try fx.aci("base2", manifest: ACIFixture.manifest("example.com/base"), files: ["v": "newer"]))
        let app = try store.importImage(path: try fx.aci("app", manifest: ACIFixture.manifest("example.com/app",
            extra: #""dependencies":[{"imageName":"example.com/base","imageID":"sha512-\#(fullID)"}]"#)))
        let tree = try store.renderTree(key: app.key)
        #expect(try String(contentsOfFile: tree.rootfs + "/v", encoding: .utf8) == "pinned")
    }

    /// rkt's tree ID: "deps-" + the key of the SHA-512 over the comma-joined keys of the image and
    /// its dependencies in render order (computed here with EVP, the store uses the low-level call).
    @Test func treeIDIsTheKeyOfTheJoinedDependencyKeys() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let store = try ImageStore(dataDir: fx.dataDir)
        let base = try store.importImage(path: try fx.aci("base", manifest: ACIFixture.manifest("example.com/base"), files: ["v": "1"]))
        let app = try store.importImage(path: try fx.aci("app", manifest: ACIFixture.manifest("example.com/app", extra: #""dependencies":[{"imageName":"example.com/base"}]"#)))
        let digest = StreamingDigest.hex(of: Data((app.key + "," + base.key).utf8))
        #expect(try store.treeID(for: app.key) == "deps-sha512-" + digest.prefix(64))
    }

    @Test func treeIDChangesWithADependency() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let store = try ImageStore(dataDir: fx.dataDir)
        let base1 = try fx.aci("base1", manifest: ACIFixture.manifest("example.com/base"), files: ["v": "1"])
        let base2 = try fx.aci("base2", manifest: ACIFixture.manifest("example.com/base"), files: ["v": "2"])
        let app = try fx.aci("app", manifest: ACIFixture.manifest("example.com/app", extra: #""dependencies":[{"imageName":"example.com/base"}]"#))
        try store.importImage(path: base1)
        let top = try store.importImage(path: app)
        let first = try store.renderTree(key: top.key)
        Thread.sleep(forTimeInterval: 0.01)
        try store.importImage(path: base2)
        let second = try store.renderTree(key: top.key)
        #expect(first.id != second.id)
        #expect(try String(contentsOfFile: second.rootfs + "/v", encoding: .utf8) == "2")
    }

    @Test func pathWhitelistKeepsOnlyListedFiles() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let store = try ImageStore(dataDir: fx.dataDir)
        let base = try fx.aci("base", manifest: ACIFixture.manifest("example.com/base"), files: ["etc/keep": "k", "etc/drop": "d"])
        let app = try fx.aci("app", manifest: ACIFixture.manifest("example.com/app", extra: #""dependencies":[{"imageName":"example.com/base"}],"pathWhitelist":["/etc/keep","/bin/app"]"#),
                             files: ["bin/app": "x", "bin/extra": "y"])
        try store.importImage(path: base)
        let top = try store.importImage(path: app)
        let out = fx.root.appendingPathComponent("render").path
        try FileSystem.makeDirectories(out)
        try store.render(key: top.key, into: out, rootfsOnly: true)
        #expect(Set(filesUnder(out)) == ["etc/keep", "bin/app"])
    }

    @Test func treeHashCoversContentModeAndPresence() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let dir = fx.root.appendingPathComponent("t").path
        try FileSystem.makeDirectories(dir + "/sub")
        try "one".write(toFile: dir + "/sub/f", atomically: true, encoding: .utf8)
        let h1 = try TreeHasher.hash(root: dir)
        #expect(h1.hasPrefix("sha256-") && h1.count == 7 + 64)
        #expect(try TreeHasher.hash(root: dir) == h1)
        try "two".write(toFile: dir + "/sub/f", atomically: true, encoding: .utf8)
        let h2 = try TreeHasher.hash(root: dir)
        #expect(h2 != h1)
        chmod(dir + "/sub/f", 0o600)
        #expect(try TreeHasher.hash(root: dir) != h2)
        try FileManager.default.createSymbolicLink(atPath: dir + "/link", withDestinationPath: "/nowhere")
        #expect(try TreeHasher.hash(root: dir) != h2)
    }

    @Test func referenceParsing() throws {
        let ref = try ImageReference.parse("example.com/app:1.2,os=linux,arch=amd64")
        #expect(ref.name == "example.com/app")
        #expect(ref.labels == ["version": "1.2", "os": "linux", "arch": "amd64"])
        #expect(try ImageReference.parse("example.com/app").labels.isEmpty)
        #expect(throws: StoreError.self) { try ImageReference.parse("example.com/app,os") }
        #expect(throws: StoreError.self) { try ImageReference.parse("example.com/app:") }
        #expect(throws: StoreError.self) { try ImageReference.parse("example.com/app,os=a,os=b") }
        #expect(ImageKey.normalizedPrefix("sha512-AB") == "sha512-ab")
        #expect(ImageKey.normalizedPrefix("sha512-a") == nil)
        #expect(ImageKey.normalizedPrefix("sha256-ab") == nil)
    }
}
