import Foundation
import Testing

/// `rkt fetch` and `rkt image ...` driven through the built binary.
@Suite struct ImageCommandTests {
    @Test func fetchPrintsShortAndFullIDsOfTheUncompressedTar() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let digest = try sha512sum(RktRunner.image("busybox.aci"))
        let short = try rkt.fetch("busybox.aci")
        #expect(short == "sha512-" + digest.prefix(32))
        let full = try rkt.fetch("busybox.aci", full: true)
        #expect(full == "sha512-" + digest.prefix(64))
        // Every compression and a file:// URL give the same image.
        for variant in ["busybox.aci.gz", "busybox.aci.bz2", "busybox.aci.xz", "busybox.aci.zst"] {
            #expect(try rkt.fetch(variant) == short, "\(variant)")
        }
        let viaURL = try rkt.ok(["fetch", "--insecure-options=image", "file://" + RktRunner.image("busybox.aci.gz")]).stdout
        #expect(viaURL.trimmingCharacters(in: .whitespacesAndNewlines) == short)
        // Options after positional arguments, as rkt accepts them.
        let trailing = try rkt.ok(["fetch", RktRunner.image("busybox.aci"), "--full", "--insecure-options=image"]).stdout
        #expect(trailing.trimmingCharacters(in: .whitespacesAndNewlines) == full)
        let list = try rkt.ok(["image", "list", "--no-legend", "--fields=id"]).lines
        #expect(list.count == 1)
    }

    @Test func imageListFormats() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let busybox = try rkt.fetch("busybox.aci", full: true)
        let hello = try rkt.fetch("hello.aci", full: true)

        let table = try rkt.ok(["image", "list"]).lines
        #expect(table.first?.hasPrefix("ID") == true)
        #expect(table.first?.contains("NAME") == true && table.first?.contains("SIZE") == true)
        #expect(table.count == 3)
        #expect(table.contains { $0.hasPrefix(String(busybox.prefix(19))) && $0.contains("example.com/busybox:") })

        let noLegend = try rkt.ok(["image", "list", "--no-legend", "--fields=id,name", "--sort=name", "--order=desc"]).lines
        #expect(noLegend.count == 2)
        #expect(noLegend.first?.contains("example.com/hello:1.0.0") == true)

        let full = try rkt.ok(["image", "list", "--full", "--no-legend", "--fields=id"]).lines
        #expect(Set(full.map { $0.trimmingCharacters(in: .whitespaces) }) == [busybox, hello])

        let json = try rkt.ok(["image", "list", "--format=json"]).stdout
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [[String: Any]])
        #expect(Set(parsed.compactMap { $0["id"] as? String }) == [busybox, hello])
        #expect(parsed.allSatisfy { ($0["size"] as? Int ?? 0) > 0 })
        let pretty = try rkt.ok(["image", "list", "--format=json-pretty"]).stdout
        #expect(pretty.contains("\n  "))

        let bad = try rkt.run(["image", "list", "--fields=id,bogus"])
        #expect(bad.status == 254)
        #expect(bad.stderr.contains("bogus"))
    }

    @Test func catManifestByNameAndShortID() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let id = try rkt.fetch("busybox.aci")
        for ref in ["example.com/busybox", String(id.prefix(9)), id] {
            let out = try rkt.ok(["image", "cat-manifest", ref]).stdout
            let object = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [String: Any])
            #expect(object["name"] as? String == "example.com/busybox", "\(ref)")
            #expect(object["acKind"] as? String == "ImageManifest")
        }
        let compact = try rkt.ok(["image", "cat-manifest", "--pretty-print=false", "example.com/busybox"]).stdout
        #expect(compact.split(separator: "\n").count == 1)
        let missing = try rkt.run(["image", "cat-manifest", "example.com/nothing"])
        #expect(missing.status == 254)
        #expect(missing.stderr.split(separator: "\n").count == 1)
        let badPrefix = try rkt.run(["image", "cat-manifest", "sha512-z"])
        #expect(badPrefix.status == 254)
    }

    @Test func exportedBytesHashToTheImageID() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let id = try rkt.fetch("busybox.aci.xz", full: true)
        let out = rkt.root + "/exported.aci"
        try rkt.ok(["image", "export", "example.com/busybox", out])
        #expect("sha512-" + (try sha512sum(out)).prefix(64) == id)
        let again = try rkt.run(["image", "export", "example.com/busybox", out])
        #expect(again.status == 254)
        #expect(again.stderr.contains("--overwrite"))
        try rkt.ok(["image", "export", "--overwrite", String(id.prefix(20)), out])
    }

    @Test func extractAndRender() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        _ = try rkt.fetch("busybox.aci")
        _ = try rkt.fetch("hello.aci.gz")
        let fm = FileManager.default

        let extracted = rkt.root + "/extracted"
        try rkt.ok(["image", "extract", "example.com/busybox", extracted])
        #expect(fm.fileExists(atPath: extracted + "/manifest"))
        #expect(try sha512sum(extracted + "/rootfs/bin/busybox") == (try sha512sum("/bin/busybox")))
        #expect(try fm.destinationOfSymbolicLink(atPath: extracted + "/rootfs/bin/sh") == "busybox")
        #expect(try rkt.run(["image", "extract", "example.com/busybox", extracted]).status == 254)

        let rootfsOnly = rkt.root + "/rootfs-only"
        try rkt.ok(["image", "extract", "--rootfs-only", "example.com/hello", rootfsOnly])
        #expect(fm.fileExists(atPath: rootfsOnly + "/etc/hello.txt"))
        #expect(!fm.fileExists(atPath: rootfsOnly + "/bin/busybox"), "extract must not apply dependencies")

        let rendered = rkt.root + "/rendered"
        try rkt.ok(["image", "render", "example.com/hello", rendered])
        #expect(fm.fileExists(atPath: rendered + "/manifest"))
        #expect(fm.fileExists(atPath: rendered + "/rootfs/bin/busybox"), "dependency content is rendered")
        #expect(fm.fileExists(atPath: rendered + "/rootfs/etc/hello.txt"))
        #expect(fm.fileExists(atPath: rendered + "/rootfs/etc/passwd"))
        #expect(!fm.fileExists(atPath: rendered + "/rootfs/etc/group"), "the .wh.group whiteout removes the dependency's file")
        #expect(!fm.fileExists(atPath: rendered + "/rootfs/etc/.wh.group"))
        try rkt.ok(["image", "render", "--overwrite", "--rootfs-only", "example.com/hello", rendered])
        #expect(fm.fileExists(atPath: rendered + "/bin/busybox"))
        #expect(!fm.fileExists(atPath: rendered + "/manifest"))
    }

    @Test func renderFailsClearlyWhenADependencyIsMissing() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        _ = try rkt.fetch("hello.aci")
        let result = try rkt.run(["image", "render", "example.com/hello", rkt.root + "/out"])
        #expect(result.status == 254)
        #expect(result.stderr.contains("dependency"))
        #expect(result.stderr.contains("example.com/busybox"))
        #expect(!FileManager.default.fileExists(atPath: rkt.root + "/out"))
    }

    @Test func verifyDetectsAndRepairsADamagedTree() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        _ = try rkt.fetch("busybox.aci")
        let first = try rkt.ok(["image", "verify", "example.com/busybox"]).stdout
        #expect(first.contains("successfully verified"))
        let trees = try FileManager.default.contentsOfDirectory(atPath: rkt.dataDir + "/cas/tree")
        #expect(trees.count == 1)
        let tree = rkt.dataDir + "/cas/tree/" + trees[0]
        #expect(trees[0].hasPrefix("deps-sha512-"))
        try FileManager.default.removeItem(atPath: tree + "/rootfs/etc/passwd")
        let second = try rkt.ok(["image", "verify", "example.com/busybox"]).stdout
        #expect(second.contains("mismatch"))
        #expect(FileManager.default.fileExists(atPath: tree + "/rootfs/etc/passwd"))
        #expect(try rkt.ok(["image", "verify", "example.com/busybox"]).stdout.contains("successfully verified"))
    }

    @Test func removeByNameAndID() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let busybox = try rkt.fetch("busybox.aci")
        _ = try rkt.fetch("hello.aci")
        let rm = try rkt.ok(["image", "rm", "example.com/hello"])
        #expect(rm.stderr.contains("1 image(s) successfully removed"))
        try rkt.ok(["image", "rm", String(busybox.prefix(12))])
        #expect(try rkt.ok(["image", "list", "--no-legend"]).lines.isEmpty)
        #expect(rkt.storeFiles().filter { $0.hasPrefix("cas/blob") || $0.hasPrefix("cas/imageManifest") }.isEmpty)
        let missing = try rkt.run(["image", "rm", "sha512-abcdef"])
        #expect(missing.status == 254)
        #expect(missing.stderr.contains("sha512-abcdef"))
        // Images can be fetched again after removal.
        #expect(try rkt.fetch("busybox.aci") == busybox)
    }

    @Test func gcRemovesOldImagesAndTrees() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        _ = try rkt.fetch("busybox.aci")
        let first = try rkt.ok(["image", "gc"])
        #expect(first.stderr.contains("removed treestore"), "no pod references the tree: \(first.stderr)")
        #expect(try rkt.ok(["image", "list", "--no-legend"]).lines.count == 1, "the default grace period keeps a new image")
        let gc = try rkt.ok(["image", "gc", "--grace-period=0s"])
        #expect(gc.stderr.contains("1 image(s) successfully removed"))
        #expect(try rkt.ok(["image", "list", "--no-legend"]).lines.isEmpty)
        #expect(rkt.storeFiles().isEmpty, "left: \(rkt.storeFiles())")
        #expect(try rkt.run(["image", "gc", "--grace-period=soon"]).status == 254)
    }
}
