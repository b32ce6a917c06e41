#if canImport(Glibc)
import Glibc
#endif
import CRktShim
import Foundation
import RktArchive
import RktOS
import RktTestSupport
import Testing

@Suite struct WriterTests {
    /// A layout on disk with one of everything the writer must keep.
    private func makeLayout(in dir: TemporaryDirectory) throws -> String {
        let layout = dir.path + "/layout"
        let rootfs = layout + "/rootfs"
        try FileSystem.makeDirectories(rootfs + "/bin")
        try FileSystem.makeDirectories(rootfs + "/etc")
        try FileSystem.makeDirectories(rootfs + "/dev")
        try TestACI.write(Data(TestACI.validManifestJSON(name: "example.com/written").utf8), to: layout + "/manifest")
        try TestACI.write(Data("#!/bin/sh\necho hi\n".utf8), to: rootfs + "/bin/busybox")
        chmod(rootfs + "/bin/busybox", 0o755)
        #expect(symlink("busybox", rootfs + "/bin/sh") == 0)
        #expect(link(rootfs + "/bin/busybox", rootfs + "/bin/ls") == 0)
        try TestACI.write(Data("root:x:0:0::/root:/bin/sh\n".utf8), to: rootfs + "/etc/passwd")
        try TestACI.write(TestACI.garbage(count: 2_500_000), to: rootfs + "/etc/big")
        let deep = rootfs + "/" + String(repeating: "very-long-directory-name/", count: 6)
        try FileSystem.makeDirectories(deep)
        try TestACI.write(Data("deep".utf8), to: deep + "/file")
        try TestACI.write(Data("caf\u{e9}".utf8), to: rootfs + "/etc/caf\u{e9}")
        mkfifo(rootfs + "/dev/fifo", 0o600)
        if isRoot {
            #expect(mknod(rootfs + "/dev/null", S_IFCHR | 0o666, rkt_makedev(1, 3)) == 0)
            #expect(chown(rootfs + "/etc/passwd", 1234, 5678) == 0)
        }
        return layout
    }

    @Test func roundTripEveryCompression() throws {
        let dir = try TemporaryDirectory()
        let layout = try makeLayout(in: dir)
        var ids: Set<String> = []
        for compression in Compression.allCases {
            let aci = dir.path + "/out-\(compression).aci"
            try ACIWriter.write(layoutDirectory: layout, to: aci, compression: compression)
            let imported = try ACIImporter.importACI(path: aci, copyUncompressedTo: nil)
            #expect(imported.compression == compression)
            #expect(imported.manifest == (try FileSystem.read(layout + "/manifest")))
            ids.insert(imported.sha512Hex)
            #expect(try FileSystem.list(dir.path).filter { $0.hasPrefix(".tmp-") }.isEmpty, "no temporary file left")
        }
        #expect(ids.count == 1, "the tar inside is the same whatever the compression")

        // Writing the same tree again gives the same bytes.
        try ACIWriter.write(layoutDirectory: layout, to: dir.path + "/again.aci", compression: .gzip)
        #expect(try FileSystem.read(dir.path + "/again.aci") == (try FileSystem.read(dir.path + "/out-gzip.aci")))

        // No block padding after the compressed stream (gzip -t and Go's readers reject it).
        if let result = try runTool("/usr/bin/gzip", ["-t", dir.path + "/out-gzip.aci"]) {
            #expect(result.status == 0, "\(result.output)")
        }
    }

    @Test func entriesAreSortedManifestFirst() throws {
        let dir = try TemporaryDirectory()
        let layout = try makeLayout(in: dir)
        try ACIWriter.write(layoutDirectory: layout, to: dir.path + "/o.aci", compression: .none)
        guard let listing = try runTool("/usr/bin/tar", ["-tf", dir.path + "/o.aci"]) else {
            print("skipping: tar not installed")
            return
        }
        let names = listing.output.split(separator: "\n").map { $0.hasSuffix("/") ? String($0.dropLast()) : String($0) }
        #expect(names.first == "manifest")
        #expect(names.dropFirst().first == "rootfs")
        #expect(names.contains("rootfs/etc/caf\u{e9}"))
        let binIndex = try #require(names.firstIndex(of: "rootfs/bin"))
        #expect(Array(names[binIndex...].prefix(4)) == ["rootfs/bin", "rootfs/bin/busybox", "rootfs/bin/ls", "rootfs/bin/sh"])
    }

    @Test func extractedTreeMatchesTheLayout() throws {
        let dir = try TemporaryDirectory()
        let layout = try makeLayout(in: dir)
        let aci = dir.path + "/o.aci"
        try ACIWriter.write(layoutDirectory: layout, to: aci, compression: .zstd)
        let out = dir.path + "/out"
        try ACIExtractor.extract(archivePath: aci, to: out, options: ExtractOptions())
        #expect(readLink(out + "/rootfs/bin/sh") == "busybox")
        #expect(lstatOf(out + "/rootfs/bin/ls")?.st_ino == lstatOf(out + "/rootfs/bin/busybox")?.st_ino)
        #expect(lstatOf(out + "/rootfs/bin/busybox")?.st_mode == S_IFREG | 0o755)
        #expect(try FileSystem.read(out + "/rootfs/etc/big") == (try FileSystem.read(layout + "/rootfs/etc/big")))
        #expect(lstatOf(out + "/rootfs/dev/fifo").map { $0.st_mode & S_IFMT } == S_IFIFO)
        #expect(lstatOf(out + "/rootfs/etc/passwd")?.st_mtim.tv_sec == lstatOf(layout + "/rootfs/etc/passwd")?.st_mtim.tv_sec)
        if isRoot {
            #expect(lstatOf(out + "/rootfs/etc/passwd")?.st_uid == 1234)
            #expect(lstatOf(out + "/rootfs/dev/null").map { rkt_major($0.st_rdev) == 1 && rkt_minor($0.st_rdev) == 3 } == true)
        }
    }

    // actool (appc 0.8.11) has no zstd support, so zstd output is only checked by our importer.
    @Test(arguments: [Compression.none, .gzip, .bzip2, .xz])
    func actoolAcceptsWhatWeWrite(compression: Compression) throws {
        let dir = try TemporaryDirectory()
        let layout = try makeLayout(in: dir)
        let aci = dir.path + "/o.aci"
        try ACIWriter.write(layoutDirectory: layout, to: aci, compression: compression)
        guard let result = try runTool("/usr/bin/actool", ["validate", aci]) else {
            print("skipping: /usr/bin/actool is not installed")
            return
        }
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func actoolAgreesAboutExtraTopLevelFiles() throws {
        // Our importer refuses extra top-level entries because actool does too.
        var tar = RawTar()
        tar.file("manifest", TestACI.validManifestJSON())
        tar.directory("rootfs")
        tar.file("extra", "x")
        tar.finish()
        let dir = try TemporaryDirectory()
        try TestACI.write(tar.bytes, to: dir.path + "/extra.aci")
        guard let result = try runTool("/usr/bin/actool", ["validate", dir.path + "/extra.aci"]) else {
            print("skipping: /usr/bin/actool is not installed")
            return
        }
        #expect(result.status != 0)
        #expect(result.output.contains("unrecognized file path in layout"), "\(result.output)")
    }

    @Test func refusesLayoutsWithoutManifestOrRootfs() throws {
        let dir = try TemporaryDirectory()
        try FileSystem.makeDirectories(dir.path + "/layout/rootfs")
        #expect(throws: ArchiveError.self) {
            try ACIWriter.write(layoutDirectory: dir.path + "/layout", to: dir.path + "/o.aci", compression: .none)
        }
        #expect(!FileSystem.exists(dir.path + "/o.aci"))
    }

    @Test func stressCompressorMatchesTools() throws {
        // The in-process compressor's output is readable by the real tools.
        let data = TestACI.busyboxLikeTar()
        for (compression, tool) in [(Compression.gzip, "/usr/bin/gzip"), (.xz, "/usr/bin/xz"), (.bzip2, "/usr/bin/bzip2"), (.zstd, "/usr/bin/zstd")] {
            let dir = try TemporaryDirectory()
            try TestACI.write(try TestACI.compress(data, compression), to: dir.path + "/c")
            guard let result = try runTool(tool, ["-t", dir.path + "/c"]) else { continue }
            #expect(result.status == 0, "\(tool): \(result.output)")
        }
    }
}
