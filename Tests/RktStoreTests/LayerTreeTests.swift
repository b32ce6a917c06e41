import Foundation
import RktOS
import RktStore
import Testing

/// Images of registry layers rendered as overlay layers: one tree per layer, shared, whiteouts in
/// overlayfs's form, lookups through the layers as overlayfs shows them, and gc of layer trees.
@Suite struct LayerTreeTests {
    static func layerManifest(_ digit: Character) -> String {
        ACIFixture.manifest("oci-layer/sha256-" + String(repeating: digit, count: 64),
                            extra: #""annotations":[{"name":"appc.io/oci/layer-digest","value":"sha256:\#(String(repeating: digit, count: 64))"}]"#)
    }

    static func imageManifest(_ name: String, layers: [String]) -> String {
        let deps = layers.map { key in
            #"{"imageName":"layer","imageID":"\#(key)"}"#
        }.joined(separator: ",")
        return ACIFixture.manifest(name, extra: #""dependencies":[\#(deps)]"#)
    }

    @Test func layersRenderOnceAsOverlayLayers() throws {
        guard geteuid() == 0 else { print("skip layersRenderOnceAsOverlayLayers: whiteouts are device nodes and trusted xattrs (root)"); return }
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let store = try ImageStore(dataDir: fx.dataDir)
        let bottom = try store.importImage(path: try fx.aci("l1", manifest: Self.layerManifest("1"), files: [
            "etc/passwd": "root:x:0:0::/:/bin/sh\n", "etc/removeme": "x", "opt/o/a": "a", "var/gone/f": "f", "lib/real/libc": "c",
        ]))
        let middle = try store.importImage(path: try fx.aci("l2", manifest: Self.layerManifest("2"), files: [
            "etc/.wh.removeme": "", "opt/o/.wh..wh..opq": "", "opt/o/b": "b", "var/.wh.gone": "",
        ]))
        let topA = try store.importImage(path: try fx.aci("l3a", manifest: Self.layerManifest("3"), files: ["top": "a"]))
        let topB = try store.importImage(path: try fx.aci("l3b", manifest: Self.layerManifest("4"), files: ["top": "b"]))
        let imageA = try store.importImage(path: try fx.aci("a", manifest: Self.imageManifest("example.com/a", layers: [bottom.key, middle.key, topA.key])))
        let imageB = try store.importImage(path: try fx.aci("b", manifest: Self.imageManifest("example.com/b", layers: [bottom.key, middle.key, topB.key])))

        let a = try store.renderTree(key: imageA.key)
        #expect(a.isLayered)
        let layerRoot = { (key: String) in store.layout.treePath(store.layerTreeID(forLayer: key)) + "/rootfs" }
        #expect(a.lowerDirs == [layerRoot(topA.key), layerRoot(middle.key), layerRoot(bottom.key)], "top first, no empty own rootfs")
        var st = stat()
        #expect(lstat(layerRoot(middle.key) + "/etc/removeme", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0)
        #expect(!FileSystem.exists(layerRoot(middle.key) + "/opt/o/.wh..wh..opq"))
        #expect(FileSystem.extendedAttributes(layerRoot(middle.key) + "/opt/o").contains { $0.0 == "trusted.overlay.opaque" })

        // Lookups see what the overlay will show.
        #expect(a.hostPath("/etc/passwd") == layerRoot(bottom.key) + "/etc/passwd")
        #expect(a.hostPath("/etc/removeme") == nil)
        #expect(a.hostPath("/var/gone/f") == nil)
        #expect(a.hostPath("/opt/o/a") == nil, "opaque directory hides the lower layer's files")
        #expect(a.hostPath("/opt/o/b") == layerRoot(middle.key) + "/opt/o/b")
        #expect(a.hostPath("/top").map { try? String(contentsOfFile: $0, encoding: .utf8) } == "a")
        #expect(a.owner(of: "/etc/passwd")?.uid == 0)

        // The second image renders only its own top layer.
        let shared = try FileSystem.lstatInfo(layerRoot(bottom.key)).st_ino
        let b = try store.renderTree(key: imageB.key)
        #expect(Array(b.lowerDirs.dropFirst()) == Array(a.lowerDirs.dropFirst()))
        #expect(try FileSystem.lstatInfo(layerRoot(bottom.key)).st_ino == shared)
        #expect(try store.verifyTree(key: imageB.key) == .intact(b))

        // A damaged layer is found by verify and rendered again.
        try "tampered".write(toFile: layerRoot(bottom.key) + "/etc/passwd", atomically: false, encoding: .utf8)
        guard case .repaired = try store.verifyTree(key: imageA.key) else { Issue.record("damaged layer not repaired"); return }
        #expect(try String(contentsOfFile: layerRoot(bottom.key) + "/etc/passwd", encoding: .utf8) == "root:x:0:0::/:/bin/sh\n")

        // The flattened render applies the same whiteouts.
        let flat = fx.root.appendingPathComponent("flat").path
        try FileSystem.makeDirectories(flat)
        try store.render(key: imageA.key, into: flat, rootfsOnly: true)
        #expect(Set(filesUnder(flat)) == ["etc/passwd", "opt/o/b", "lib/real/libc", "top"])

        // gc: layer trees stay while their layers are stored, pods or not.
        _ = try store.removeUnreferencedTrees(referenced: [])
        #expect(FileSystem.exists(layerRoot(bottom.key)) && FileSystem.exists(layerRoot(topA.key)))
        try store.remove(key: imageA.key)
        try store.remove(key: topA.key)
        let removed = try store.removeUnreferencedTrees(referenced: [])
        #expect(removed.contains(store.layerTreeID(forLayer: topA.key)))
        #expect(FileSystem.exists(layerRoot(bottom.key)))
    }
}
