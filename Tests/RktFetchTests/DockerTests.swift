import Foundation
import Logging
@testable import RktFetch
import RktOS
import RktStore
import RktTestSupport
import RktTypes
import Testing

@Suite struct DockerReferenceTests {
    @Test func normalisesLikeDocker() throws {
        let bare = try DockerReference.parse("docker://busybox")
        #expect(bare.registry == "registry-1.docker.io")
        #expect(bare.repository == "library/busybox")
        #expect(bare.tag == "latest")
        #expect(bare.appcName == "registry-1.docker.io/library/busybox")

        let local = try DockerReference.parse("docker://127.0.0.1:5000/team/app:1.2")
        #expect(local.registry == "127.0.0.1:5000")
        #expect(local.repository == "team/app")
        #expect(local.tag == "1.2")
        #expect(local.appcName == "127.0.0.1-5000/team/app")

        let digest = "sha256:" + String(repeating: "ab", count: 32)
        let pinned = try DockerReference.parse("localhost/app@" + digest)
        #expect(pinned.registry == "localhost")
        #expect(pinned.digest == digest)
        #expect(pinned.tag == nil)
        #expect(pinned.manifestReference == digest)

        let user = try DockerReference.parse("docker://someone/app")
        #expect(user.registry == "registry-1.docker.io" && user.repository == "someone/app")
    }

    @Test(arguments: ["docker://", "docker://Busybox", "docker://a/b:", "docker://a@sha256:12", "docker://a/:x"])
    func refusesInvalid(_ text: String) {
        #expect(throws: FetchError.self) { try DockerReference.parse(text) }
    }

    @Test func parsesChallenges() {
        let bearer = AuthChallenge.parse(#"Bearer realm="http://127.0.0.1:1/token",service="registry.test",scope="repository:a/b:pull,push""#)
        #expect(bearer?.scheme == "bearer")
        #expect(bearer?.parameters["realm"] == "http://127.0.0.1:1/token")
        #expect(bearer?.parameters["service"] == "registry.test")
        #expect(bearer?.parameters["scope"] == "repository:a/b:pull,push")
        #expect(AuthChallenge.parse(#"Basic realm="registry""#)?.scheme == "basic")
        #expect(AuthChallenge.parse("") == nil)
    }
}

@Suite struct DockerConfigConversionTests {
    func convert(_ config: [String: Any], name: String = "example.com/app", version: String? = "1.0") throws -> ImageManifest {
        let decoded = try JSONDecoder().decode(OCIImageConfig.self, from: try JSONSerialization.data(withJSONObject: config))
        let layerID = "sha512-" + String(repeating: "0", count: 64)
        let data = try DockerManifestConverter.imageManifest(
            origin: ImageOrigin(name: name, version: version, annotations: [(DockerAnnotations.originalName, "docker://x")]),
            config: decoded, layers: [(name: "oci-layer/sha256-" + String(repeating: "1", count: 64), imageID: layerID)])
        return try ImageManifest.decode(data)
    }

    @Test func mapsTheAppLikeDocker2aci() throws {
        let manifest = try convert(TestLayers.config)
        let app = try #require(manifest.app)
        #expect(app.exec == ["/bin/tool", "--flag"])
        #expect(app.user == "1000" && app.group == "1000")
        #expect(app.workingDirectory == "/data")
        // A later Env entry wins, as in Docker.
        #expect(app.environment.map { "\($0.name)=\($0.value)" } == ["PATH=/bin", "A=2"])
        #expect(app.ports.map { "\($0.name.rawValue) \($0.protocol) \($0.port)" } == ["53-udp udp 53", "80-tcp tcp 80"])
        #expect(app.mountPoints.map { "\($0.name.rawValue) \($0.path)" } == ["volume-var-lib-data /var/lib/data"])
        let labels = Dictionary(uniqueKeysWithValues: manifest.labels.map { ($0.name.rawValue, $0.value) })
        #expect(labels == ["version": "1.0", "os": "linux", "arch": "amd64"])
        let annotations = Dictionary(uniqueKeysWithValues: manifest.annotations.map { ($0.name.rawValue, $0.value) })
        #expect(annotations[DockerAnnotations.volumeCopyUp] == "true")
        #expect(annotations[DockerAnnotations.entrypoint] == #"["/bin/tool"]"#)
        #expect(manifest.dependencies.map(\.imageName.rawValue) == ["oci-layer/sha256-" + String(repeating: "1", count: 64)])
    }

    @Test func userWithoutGroupAndBaseImages() throws {
        #expect(DockerManifestConverter.userAndGroup(nil) == ("0", "0"))
        #expect(DockerManifestConverter.userAndGroup("nobody") == ("nobody", "0"))
        #expect(DockerManifestConverter.userAndGroup("app:staff") == ("app", "staff"))
        // Nothing to run: no app, as docker2aci did.
        let base = try convert(["os": "linux", "architecture": "arm64", "config": ["Env": ["A=1"]]])
        #expect(base.app == nil)
        #expect(base.labels.contains { $0.name.rawValue == "arch" && $0.value == "aarch64" })
    }

    @Test func refusesBadPorts() {
        var config = TestLayers.config
        config["config"] = ["Cmd": ["/x"], "ExposedPorts": ["http/tcp": [:] as [String: Any]]]
        #expect(throws: (any Error).self) { try convert(config) }
    }
}

/// Local OCI layouts and `docker save` tarballs into a real store in a temporary directory.
@Suite struct DockerLocalImportTests {
    let logger = Logger(label: "test")

    func layoutWithTwoImages(_ root: String) throws -> (layout: OCILayoutBuilder, a: [String: Any], b: [String: Any]) {
        let layout = try OCILayoutBuilder(root: root)
        let base = try layout.layer(TestLayers.base)
        let whiteouts = try layout.layer(TestLayers.whiteouts, gzip: false)
        let a = try layout.image(config: TestLayers.config, layers: [base, whiteouts, try layout.layer(TestLayers.top("a"))])
        let b = try layout.image(config: TestLayers.config, layers: [base, whiteouts, try layout.layer(TestLayers.top("b"))])
        return (layout, a, b)
    }

    func layerImages(_ store: ImageStore) throws -> [ImageInfo] {
        try store.allImages().filter { LayerNaming.isLayerName($0.name) }
    }

    func files(under root: String) -> [String] {
        (FileManager.default.subpaths(atPath: root) ?? []).sorted()
    }

    @Test func layoutImportRendersWhiteoutsAndSharesLayers() throws {
        let dir = temporaryDirectory("oci")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (layout, a, b) = try layoutWithTwoImages(dir + "/layout")
        try layout.tag([("a", a), ("b", b)])
        let store = try ImageStore(dataDir: dir + "/data")

        let archive = try #require(LocalImageArchive.detect("oci:" + layout.root + ":a"))
        #expect(archive.format == .ociLayout && archive.selector == "a")
        let first = try archive.importImage(store: store, logger: logger)
        #expect(first.name == "local/layout")
        #expect(try layerImages(store).count == 3)

        let manifest = try store.manifest(key: first.key)
        #expect(manifest.labels.contains { $0.name.rawValue == "version" && $0.value == "a" })
        // Bottom layer first, each dependency pinned by image ID.
        let layers = try layerImages(store)
        #expect(manifest.dependencies.count == 3)
        #expect(manifest.dependencies.allSatisfy { dep in layers.contains { ImageKey.short($0.key, hexDigits: 64) == dep.imageID?.description } })

        let rootfs = dir + "/render"
        try FileSystem.makeDirectories(rootfs)
        try store.render(key: first.key, into: rootfs, rootfsOnly: true)
        #expect(files(under: rootfs) == ["bin", "bin/alias", "bin/tool", "data", "data/c", "etc", "etc/keep", "hello.txt", "top-a.txt"])

        // The second image shares two of its three layers: one more layer image, no re-conversion.
        let second = try LocalImageArchive.detect("oci:" + layout.root + ":b")!.importImage(store: store, logger: logger)
        #expect(second.key != first.key)
        #expect(try layerImages(store).count == 4)

        // Importing the same image again gives the same image ID.
        let again = try LocalImageArchive.detect("oci:" + layout.root + ":a")!.importImage(store: store, logger: logger)
        #expect(again.key == first.key)
        #expect(try store.allImages().count == 6)
    }

    @Test func indexChoosesTheHostPlatform() throws {
        let dir = temporaryDirectory("oci-index")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (layout, a, b) = try layoutWithTwoImages(dir + "/layout")
        let index = try layout.index([OCILayoutBuilder.withPlatform(b, architecture: "arm64"), OCILayoutBuilder.withPlatform(a, architecture: "amd64")])
        try layout.tag([("multi", index)])
        let store = try ImageStore(dataDir: dir + "/data")
        // A plain path works too: the layout is detected by its oci-layout and index.json.
        let info = try #require(LocalImageArchive.detect(layout.root)).importImage(store: store, logger: logger)
        let rootfs = dir + "/render"
        try FileSystem.makeDirectories(rootfs)
        try store.render(key: info.key, into: rootfs, rootfsOnly: true)
        #expect(FileSystem.exists(rootfs + "/top-a.txt"))
        #expect(!FileSystem.exists(rootfs + "/top-b.txt"))
    }

    @Test func tamperedBlobIsRefusedAndNothingIsLeft() throws {
        let dir = temporaryDirectory("oci-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let layout = try OCILayoutBuilder(root: dir + "/layout")
        let good = try layout.layer(TestLayers.base)
        let top = try layout.layer(TestLayers.top("x"))
        let image = try layout.image(config: TestLayers.config, layers: [good, top])
        try layout.tag([("latest", image)])
        // Flip one byte of the top layer.
        let path = layout.root + "/blobs/sha256/" + OCIDigest.hex(top["digest"] as! String)
        var bytes = try FileSystem.read(path)
        bytes[bytes.count / 2] ^= 0xff
        try FileSystem.writeAtomically(bytes, to: path)

        let store = try ImageStore(dataDir: dir + "/data")
        do {
            _ = try LocalImageArchive.detect(layout.root)!.importImage(store: store, logger: logger)
            Issue.record("a tampered layer was accepted")
        } catch {
            #expect(error.description.contains("digest mismatch"), "\(error)")
        }
        // The intact bottom layer may stay (it is complete and verified); the image does not.
        #expect(try store.allImages().allSatisfy { LayerNaming.isLayerName($0.name) })
        #expect(try FileSystem.listIfPresent(store.layout.tmp).isEmpty)
    }

    @Test func dockerSaveTarball() throws {
        let dir = temporaryDirectory("docker-save")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var layer1 = TestLayers.base
        layer1.finish()
        var layer2 = TestLayers.whiteouts
        layer2.finish()
        let config = try JSONSerialization.data(withJSONObject: TestLayers.config)
        let manifest = #"[{"Config":"cfg.json","RepoTags":["example.org/team/app:1.2"],"Layers":["l1/layer.tar","l2/layer.tar"]}]"#
        var outer = RawTar()
        outer.file("cfg.json", config)
        outer.directory("l1")
        outer.file("l1/layer.tar", layer1.bytes)
        outer.directory("l2")
        outer.file("l2/layer.tar", layer2.bytes)
        outer.file("manifest.json", manifest)
        outer.file("repositories", "{}")
        outer.finish()
        let tarball = dir + "/app.tar"
        try FileSystem.writeAtomically(outer.bytes, to: tarball)

        let archive = try #require(LocalImageArchive.detect(tarball))
        #expect(archive.format == .dockerSave)
        let store = try ImageStore(dataDir: dir + "/data")
        let info = try archive.importImage(store: store, logger: logger)
        #expect(info.name == "example.org/team/app")
        let rendered = dir + "/render"
        try FileSystem.makeDirectories(rendered)
        try store.render(key: info.key, into: rendered, rootfsOnly: true)
        #expect(files(under: rendered) == ["bin", "bin/alias", "bin/tool", "data", "data/c", "etc", "etc/keep", "hello.txt"])
        #expect(try FileSystem.listIfPresent(store.layout.tmp).isEmpty)
    }

    @Test func aciIsNotMistakenForADockerArchive() throws {
        let dir = temporaryDirectory("aci-detect")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var aci = RawTar()
        aci.file("manifest", #"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x"}"#)
        aci.directory("rootfs")
        aci.finish()
        try FileSystem.writeAtomically(aci.bytes, to: dir + "/x.aci")
        #expect(LocalImageArchive.detect(dir + "/x.aci") == nil)
        #expect(LocalImageArchive.detect("example.com/x:1.0") == nil)
        #expect(LocalImageArchive.detect("docker://busybox") == nil)
    }

    @Test func gcKeepsLayersWhileAnImageUsesThem() throws {
        let dir = temporaryDirectory("oci-gc")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (layout, a, b) = try layoutWithTwoImages(dir + "/layout")
        try layout.tag([("a", a), ("b", b)])
        let store = try ImageStore(dataDir: dir + "/data")
        let first = try LocalImageArchive.detect("oci:" + layout.root + ":a")!.importImage(store: store, logger: logger)
        let second = try LocalImageArchive.detect("oci:" + layout.root + ":b")!.importImage(store: store, logger: logger)

        // A layer in use cannot be removed by hand.
        let shared = try #require(store.manifest(key: first.key).dependencies.first?.imageID?.description)
        #expect(throws: StoreError.self) { try store.remove(key: store.resolveKey(idPrefix: shared)) }

        // Only `first` was used recently: `second` and its own layer go, the shared layers stay.
        Thread.sleep(forTimeInterval: 0.05)
        let cutoff = Date()
        Thread.sleep(forTimeInterval: 0.05)
        try store.markUsed(key: first.key)
        let report = try store.garbageCollect(gracePeriod: 0, referencedTrees: [], now: cutoff)
        #expect(Set(report.removedImages.map(\.key)).count == 2)
        #expect(report.removedImages.contains { $0.key == second.key })
        #expect(try store.image(key: first.key) != nil)
        #expect(try layerImages(store).count == 3)
        let rootfs = dir + "/render"
        try FileSystem.makeDirectories(rootfs)
        try store.render(key: first.key, into: rootfs, rootfsOnly: true)
        #expect(FileSystem.exists(rootfs + "/top-a.txt"))

        // Once no image uses them, the layers go too.
        let all = try store.garbageCollect(gracePeriod: 0, referencedTrees: [], now: Date().addingTimeInterval(1))
        #expect(all.removedImages.count == 4)
        #expect(try store.allImages().isEmpty)
    }
}
