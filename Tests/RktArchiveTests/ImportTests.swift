#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktArchive
import RktOS
import RktTestSupport
import Testing

@Suite struct ImportTests {
    /// A few MiB with a file larger than the 1 MiB pipeline blocks and one that is not block-aligned.
    static let plainTar = TestACI.busyboxLikeTar(files: [
        TestFile("usr/lib/big.bin", data: TestACI.garbage(count: 3 * 1024 * 1024 + 17)),
        TestFile("usr/share/odd", data: TestACI.garbage(count: 1234, seed: 7)),
    ])

    @Test(arguments: Compression.allCases)
    func sameIDForEveryCompression(compression: Compression) throws {
        let dir = try TemporaryDirectory()
        let plainPath = dir.path + "/plain.tar"
        try TestACI.write(Self.plainTar, to: plainPath)
        let expected = try sha512sum(plainPath) ?? StreamingDigest.hex(of: Self.plainTar)

        var variants: [(String, Data)] = [("libarchive", try TestACI.compress(Self.plainTar, compression))]
        if let viaTool = try TestACI.compressWithTool(Self.plainTar, compression) { variants.append(("tool", viaTool)) }
        for (origin, bytes) in variants {
            let path = dir.path + "/image-\(origin).aci"
            try TestACI.write(bytes, to: path)
            let copyPath = dir.path + "/copy-\(origin).tar"
            let fd = open(copyPath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            #expect(fd >= 0)
            defer { close(fd) }
            let imported = try ACIImporter.importACI(path: path, copyUncompressedTo: fd)
            #expect(imported.sha512Hex == expected, "\(compression) via \(origin)")
            #expect(imported.imageID == "sha512-" + expected)
            #expect(imported.compression == compression, "\(origin)")
            #expect(imported.uncompressedSize == Int64(Self.plainTar.count))
            #expect(imported.manifest == Data(TestACI.validManifestJSON().utf8))
            #expect(try FileSystem.read(copyPath) == Self.plainTar, "copied bytes are the plain tar (\(origin))")
        }
    }

    @Test func withoutCopy() throws {
        let dir = try TemporaryDirectory()
        let path = try TestACI.busyboxLike(name: "example.com/nocopy", compression: .gzip, in: dir.path)
        let imported = try ACIImporter.importACI(path: path, copyUncompressedTo: nil)
        #expect(imported.manifest == Data(TestACI.validManifestJSON(name: "example.com/nocopy").utf8))
        #expect(imported.sha512Hex == StreamingDigest.hex(of: TestACI.busyboxLikeTar(name: "example.com/nocopy")))
    }

    @Test func hashCoversBytesAfterTheEndMarker() throws {
        // Padding (or anything else) after the end-of-archive blocks is part of the image ID.
        var bytes = TestACI.busyboxLikeTar()
        bytes.append(Data(count: 10240))
        let dir = try TemporaryDirectory()
        try TestACI.write(bytes, to: dir.path + "/padded.aci")
        let imported = try ACIImporter.importACI(path: dir.path + "/padded.aci", copyUncompressedTo: nil)
        #expect(imported.sha512Hex == StreamingDigest.hex(of: bytes))
        #expect(imported.uncompressedSize == Int64(bytes.count))
    }

    @Test func acceptsDotSlashNamesAndNonASCII() throws {
        var tar = RawTar()
        tar.directory(".")
        tar.file("./manifest", TestACI.validManifestJSON())
        tar.directory("./rootfs")
        tar.file("./rootfs/caf\u{e9}-\u{1F600}.txt", "unicode")
        tar.file("rootfs/" + String(repeating: "long-name-", count: 20), "long")
        tar.finish()
        let dir = try TemporaryDirectory()
        try TestACI.write(tar.bytes, to: dir.path + "/ok.aci")
        let imported = try ACIImporter.importACI(path: dir.path + "/ok.aci", copyUncompressedTo: nil)
        #expect(imported.compression == Compression.none)
        try ACIExtractor.extract(archivePath: dir.path + "/ok.aci", to: dir.path + "/out", options: ExtractOptions())
        #expect(readString(dir.path + "/out/rootfs/caf\u{e9}-\u{1F600}.txt") == "unicode")
        #expect(readString(dir.path + "/out/rootfs/" + String(repeating: "long-name-", count: 20)) == "long")
    }

    @Test func missingFileIsAnIOError() {
        #expect {
            _ = try ACIImporter.importACI(path: "/nonexistent/rkt-test.aci", copyUncompressedTo: nil)
        } throws: { error in
            guard let error = error as? ArchiveError else { return false }
            return error.kind == .io && error.underlying?.errno == .noSuchFileOrDirectory
        }
    }

    @Test func failedCopyIsAnIOError() throws {
        let dir = try TemporaryDirectory()
        let path = try TestACI.busyboxLike(in: dir.path)
        let fd = open(path, O_RDONLY | O_CLOEXEC)  // not writable
        defer { close(fd) }
        #expect(throws: ArchiveError.self) { _ = try ACIImporter.importACI(path: path, copyUncompressedTo: fd) }
    }
}
