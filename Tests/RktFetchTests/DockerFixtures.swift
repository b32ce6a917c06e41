import Foundation
@testable import RktFetch
import RktArchive
import RktOS
import RktTestSupport

/// Writes OCI image layouts (`oci-layout`, `index.json`, `blobs/sha256/...`) from layer tars
/// built with RawTar, so tests control every byte: whiteouts, opaque directories, indexes.
struct OCILayoutBuilder {
    let root: String

    init(root: String) throws {
        self.root = root
        try FileSystem.makeDirectories(root + "/blobs/sha256")
        try FileSystem.writeAtomically(Data(#"{"imageLayoutVersion":"1.0.0"}"#.utf8), to: root + "/oci-layout")
    }

    /// Stores a blob; returns its descriptor as JSON.
    @discardableResult
    func blob(_ data: Data, mediaType: String) throws -> [String: Any] {
        let digest = OCIDigest.of(data)
        try FileSystem.writeAtomically(data, to: root + "/blobs/sha256/" + OCIDigest.hex(digest))
        return ["mediaType": mediaType, "digest": digest, "size": data.count]
    }

    func layer(_ tar: RawTar, gzip: Bool = true) throws -> [String: Any] {
        var tar = tar
        tar.finish()
        let data = gzip ? try StreamCompressor.compress(tar.bytes, as: .gzip) : tar.bytes
        return try blob(data, mediaType: gzip ? "application/vnd.oci.image.layer.v1.tar+gzip" : "application/vnd.oci.image.layer.v1.tar")
    }

    func image(config: [String: Any], layers: [[String: Any]]) throws -> [String: Any] {
        let configBlob = try blob(try JSONSerialization.data(withJSONObject: config), mediaType: "application/vnd.oci.image.config.v1+json")
        let manifest: [String: Any] = ["schemaVersion": 2, "mediaType": OCIMediaType.ociManifest, "config": configBlob, "layers": layers]
        return try blob(try JSONSerialization.data(withJSONObject: manifest), mediaType: OCIMediaType.ociManifest)
    }

    func index(_ manifests: [[String: Any]]) throws -> [String: Any] {
        let index: [String: Any] = ["schemaVersion": 2, "mediaType": OCIMediaType.ociIndex, "manifests": manifests]
        return try blob(try JSONSerialization.data(withJSONObject: index), mediaType: OCIMediaType.ociIndex)
    }

    /// index.json: each descriptor tagged with its ref name.
    func tag(_ tagged: [(String, [String: Any])]) throws {
        let manifests = tagged.map { name, descriptor -> [String: Any] in
            var d = descriptor
            d["annotations"] = ["org.opencontainers.image.ref.name": name]
            return d
        }
        let index: [String: Any] = ["schemaVersion": 2, "manifests": manifests]
        try FileSystem.writeAtomically(try JSONSerialization.data(withJSONObject: index), to: root + "/index.json")
    }

    static func withPlatform(_ descriptor: [String: Any], os: String = "linux", architecture: String) -> [String: Any] {
        var d = descriptor
        d["platform"] = ["os": os, "architecture": architecture]
        return d
    }
}

/// The layers of the test image: a base, a layer with a whiteout and an opaque directory, and
/// one of two alternative tops (so two images share all but one layer).
enum TestLayers {
    static var base: RawTar {
        var tar = RawTar()
        tar.directory("etc")
        tar.file("etc/removeme", "to be whited out\n")
        tar.file("etc/keep", "kept\n")
        tar.directory("data")
        tar.file("data/a", "a\n")
        tar.file("data/b", "b\n")
        tar.directory("data/sub")
        tar.file("data/sub/deep", "deep\n")
        tar.directory("bin")
        tar.file("bin/tool", "#!/bin/sh\necho tool\n", mode: 0o755)
        tar.symlink("bin/alias", to: "tool")
        return tar
    }

    static var whiteouts: RawTar {
        var tar = RawTar()
        tar.directory("etc")
        tar.file("etc/.wh.removeme", "")
        tar.directory("data")
        tar.file("data/c", "c\n")
        tar.file("data/.wh..wh..opq", "")
        tar.file("hello.txt", "hello from layer 2\n")
        return tar
    }

    static func top(_ name: String) -> RawTar {
        var tar = RawTar()
        tar.file("top-\(name).txt", "\(name)\n")
        return tar
    }

    static var config: [String: Any] { [
        "architecture": "amd64", "os": "linux",
        "config": [
            "Entrypoint": ["/bin/tool"], "Cmd": ["--flag"], "Env": ["PATH=/bin", "A=1", "A=2"],
            "WorkingDir": "/data", "User": "1000:1000",
            "ExposedPorts": ["80/tcp": [:] as [String: Any], "53/udp": [:] as [String: Any]],
            "Volumes": ["/var/lib/data": [:] as [String: Any]],
        ] as [String: Any],
        "rootfs": ["type": "layers", "diff_ids": [] as [String]] as [String: Any],
    ] }
}

func temporaryDirectory(_ label: String) -> String {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("rkt-\(label)-\(UUID().uuidString.prefix(8))").path
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}
