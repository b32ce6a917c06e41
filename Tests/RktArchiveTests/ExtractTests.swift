#if canImport(Glibc)
import Glibc
#endif
import CRktShim
import Foundation
import RktArchive
import RktOS
import RktTestSupport
import Testing

@Suite struct ExtractTests {
    private func archive(_ build: (inout RawTar) -> Void, compression: Compression = .none, in dir: TemporaryDirectory, name: String = "image.aci") throws -> String {
        var tar = RawTar()
        tar.file("manifest", TestACI.validManifestJSON())
        tar.directory("rootfs")
        build(&tar)
        tar.finish()
        let path = dir.path + "/" + name
        try TestACI.write(try TestACI.compress(tar.bytes, compression), to: path)
        return path
    }

    @Test(arguments: [Compression.none, .gzip, .zstd])
    func keepsModesOwnershipLinksAndFiles(compression: Compression) throws {
        let dir = try TemporaryDirectory()
        let path = try archive({ tar in
            tar.directory("rootfs/bin")
            tar.file("rootfs/bin/tool", "#!/bin/sh\n", mode: 0o4755)
            tar.directory("rootfs/secret", mode: 0o700, uid: 1234, gid: 5678)
            tar.file("rootfs/secret/key", "k", mode: 0o600, uid: 1234, gid: 5678)
            tar.directory("rootfs/ro", mode: 0o555)
            tar.file("rootfs/ro/file", "read only", mode: 0o444)
            tar.symlink("rootfs/bin/sh", to: "tool")
            tar.symlink("rootfs/abs", to: "/bin/tool")
            tar.hardlink("rootfs/bin/tool-link", to: "./rootfs/bin/tool")
            tar.fifo("rootfs/fifo", mode: 0o600)
        }, compression: compression, in: dir)
        let dest = dir.path + "/out"
        let report = try ACIExtractor.extract(archivePath: path, to: dest, options: ExtractOptions())
        #expect(report.skippedDevices.isEmpty)
        #expect(readString(dest + "/manifest") == TestACI.validManifestJSON())
        #expect(readString(dest + "/rootfs/bin/tool") == "#!/bin/sh\n")
        #expect(lstatOf(dest + "/rootfs/ro")?.st_mode == S_IFDIR | 0o555, "deferred directory modes are applied")
        #expect(lstatOf(dest + "/rootfs/ro/file")?.st_mode == S_IFREG | 0o444)
        #expect(lstatOf(dest + "/rootfs/secret")?.st_mode == S_IFDIR | 0o700)
        #expect(lstatOf(dest + "/rootfs/secret/key")?.st_mode == S_IFREG | 0o600)
        #expect(lstatOf(dest + "/rootfs/bin/tool")?.st_mtim.tv_sec == 1_500_000_000)
        #expect(readLink(dest + "/rootfs/bin/sh") == "tool")
        #expect(readLink(dest + "/rootfs/abs") == "/bin/tool")
        #expect(lstatOf(dest + "/rootfs/bin/tool-link")?.st_ino == lstatOf(dest + "/rootfs/bin/tool")?.st_ino)
        #expect(lstatOf(dest + "/rootfs/fifo").map { $0.st_mode & S_IFMT } == S_IFIFO)
        if isRoot {
            #expect(lstatOf(dest + "/rootfs/bin/tool")?.st_mode == S_IFREG | 0o4755, "setuid kept as root")
            #expect(lstatOf(dest + "/rootfs/secret/key")?.st_uid == 1234)
            #expect(lstatOf(dest + "/rootfs/secret/key")?.st_gid == 5678)
            #expect(lstatOf(dest + "/rootfs/secret")?.st_uid == 1234)
        } else {
            print("skipping ownership checks: not root")
        }
    }

    @Test func withoutOwnership() throws {
        let dir = try TemporaryDirectory()
        let path = try archive({ tar in tar.file("rootfs/f", "x", mode: 0o640, uid: 1234, gid: 5678) }, in: dir)
        try ACIExtractor.extract(archivePath: path, to: dir.path + "/out", options: ExtractOptions(preserveOwnership: false))
        #expect(lstatOf(dir.path + "/out/rootfs/f")?.st_uid == geteuid())
    }

    @Test func deviceNodes() throws {
        let dir = try TemporaryDirectory()
        let path = try archive({ tar in
            tar.directory("rootfs/dev")
            tar.device("rootfs/dev/null", character: true, major: 1, minor: 3, mode: 0o666)
            tar.device("rootfs/dev/loop7", character: false, major: 7, minor: 7, mode: 0o660)
        }, in: dir)
        let report = try ACIExtractor.extract(archivePath: path, to: dir.path + "/out", options: ExtractOptions())
        guard isRoot else {
            #expect(report.skippedDevices == ["rootfs/dev/null", "rootfs/dev/loop7"])
            print("device nodes skipped as expected: not root")
            return
        }
        let null = try #require(lstatOf(dir.path + "/out/rootfs/dev/null"))
        #expect(null.st_mode == S_IFCHR | 0o666)
        #expect(rkt_major(null.st_rdev) == 1 && rkt_minor(null.st_rdev) == 3)
        let loop = try #require(lstatOf(dir.path + "/out/rootfs/dev/loop7"))
        #expect(loop.st_mode & S_IFMT == S_IFBLK)
        #expect(rkt_major(loop.st_rdev) == 7 && rkt_minor(loop.st_rdev) == 7)
    }

    @Test func rootfsOnly() throws {
        let dir = try TemporaryDirectory()
        let path = try TestACI.busyboxLike(files: [TestFile("etc/motd", "hello")], compression: .bzip2, in: dir.path)
        let dest = dir.path + "/rootfs"
        try ACIExtractor.extract(archivePath: path, to: dest, options: ExtractOptions(rootfsOnly: true))
        #expect(Set(try FileSystem.list(dest)) == ["bin", "etc"])
        #expect(readString(dest + "/etc/motd") == "hello")
        #expect(readLink(dest + "/bin/sh") == "busybox")
    }

    @Test func extractsIntoAnExistingEmptyDirectory() throws {
        let dir = try TemporaryDirectory()
        let path = try TestACI.busyboxLike(in: dir.path)
        try FileSystem.makeDirectories(dir.path + "/out")
        try ACIExtractor.extract(archivePath: path, to: dir.path + "/out", options: ExtractOptions())
        #expect(readLink(dir.path + "/out/rootfs/bin/sh") == "busybox")
    }

    @Test func destinationThatIsAFileIsRefused() throws {
        let dir = try TemporaryDirectory()
        let path = try TestACI.busyboxLike(in: dir.path)
        #expect(throws: ArchiveError.self) {
            try ACIExtractor.extract(archivePath: path, to: path, options: ExtractOptions())
        }
    }

    @Test func layeringWithWhiteouts() throws {
        let dir = try TemporaryDirectory()
        let lower = try archive({ tar in
            tar.file("rootfs/a", "lower a")
            tar.file("rootfs/b", "lower b")
            tar.directory("rootfs/d")
            tar.file("rootfs/d/x", "lower x")
            tar.file("rootfs/d/y", "lower y")
            tar.directory("rootfs/usr")
            tar.directory("rootfs/usr/lib")
            tar.symlink("rootfs/lib", to: "usr/lib")
            tar.directory("rootfs/etc")
            tar.symlink("rootfs/hostetc", to: "/etc")
            tar.symlink("rootfs/usr/lib/top", to: "../..")
        }, in: dir, name: "lower.aci")
        let upper = try archive({ tar in
            tar.file("rootfs/.wh.a", "")
            tar.file("rootfs/b", "upper b")
            tar.directory("rootfs/d")
            tar.file("rootfs/d/.wh..wh..opq", "")
            tar.file("rootfs/d/z", "upper z")
            tar.directory("rootfs/lib/extra")
            tar.file("rootfs/lib/extra/libnew.so", "new lib")
            // Through an absolute symlink of the lower layer: must land in rootfs/etc, not /etc.
            tar.file("rootfs/hostetc/rkt-layer-test", "in the image")
            tar.file("rootfs/lib/top/rkt-layer-top", "in the image root")
            tar.file("rootfs/.wh..", "")
        }, compression: .xz, in: dir, name: "upper.aci")
        let dest = dir.path + "/tree"
        try ACIExtractor.extract(archivePath: lower, to: dest, options: ExtractOptions(rootfsOnly: true))
        try ACIExtractor.extract(archivePath: upper, to: dest, options: ExtractOptions(rootfsOnly: true, layering: true))
        #expect(!FileSystem.exists(dest + "/a"), "whited out")
        #expect(!FileSystem.exists(dest + "/.wh.a"))
        #expect(readString(dest + "/b") == "upper b")
        #expect(Set(try FileSystem.list(dest + "/d")) == ["z"], "opaque directory keeps only the upper layer's entries")
        #expect(readLink(dest + "/lib") == "usr/lib", "the lower layer's symlink is followed, not replaced")
        #expect(readString(dest + "/usr/lib/extra/libnew.so") == "new lib")
        #expect(readString(dest + "/etc/rkt-layer-test") == "in the image")
        #expect(!FileSystem.exists("/etc/rkt-layer-test"))
        #expect(readString(dest + "/rkt-layer-top") == "in the image root", "two lower symlinks in a row are followed")
        #expect(FileSystem.isDirectory(dest), "'.wh..' does not remove the directory itself")
    }

    @Test func sparseFiles() throws {
        let dir = try TemporaryDirectory()
        let layout = dir.path + "/layout"
        try FileSystem.makeDirectories(layout + "/rootfs")
        try TestACI.write(Data(TestACI.validManifestJSON().utf8), to: layout + "/manifest")
        let sparsePath = layout + "/rootfs/sparse"
        let fd = open(sparsePath, O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        #expect(fd >= 0)
        let size: off_t = 64 << 20
        #expect(ftruncate(fd, size) == 0)
        let payload = Array("middle of nowhere".utf8)
        #expect(pwrite(fd, payload, payload.count, 32 << 20) == payload.count)
        close(fd)
        guard let written = lstatOf(sparsePath), Int(written.st_blocks) * 512 < 1 << 20 else {
            print("skipping: this file system does not keep holes")
            return
        }
        let aci = dir.path + "/sparse.aci"
        try ACIWriter.write(layoutDirectory: layout, to: aci, compression: .none)
        #expect((lstatOf(aci)?.st_size ?? .max) < 1 << 20, "holes are not stored")
        try ACIExtractor.extract(archivePath: aci, to: dir.path + "/out", options: ExtractOptions())
        let out = try #require(lstatOf(dir.path + "/out/rootfs/sparse"))
        #expect(out.st_size == size)
        #expect(Int(out.st_blocks) * 512 < 1 << 20, "extracted with holes")
        let contents = try FileSystem.read(dir.path + "/out/rootfs/sparse")
        #expect(Array(contents[(32 << 20)..<((32 << 20) + payload.count)]) == payload)
        #expect(contents.prefix(4096).allSatisfy { $0 == 0 })
    }

    @Test func xattrs() throws {
        let dir = try TemporaryDirectory()
        let layout = dir.path + "/layout"
        try FileSystem.makeDirectories(layout + "/rootfs")
        try TestACI.write(Data(TestACI.validManifestJSON().utf8), to: layout + "/manifest")
        try TestACI.write(Data("x".utf8), to: layout + "/rootfs/file")
        let value = Array("rkt value".utf8)
        let setResult = XAttr.set(layout + "/rootfs/file", name: "user.rkt.test", value: value)
        guard setResult == 0 else {
            print("skipping: the file system refuses user xattrs (errno \(setResult))")
            return
        }
        let aci = dir.path + "/x.aci"
        try ACIWriter.write(layoutDirectory: layout, to: aci, compression: .gzip)
        try ACIExtractor.extract(archivePath: aci, to: dir.path + "/out", options: ExtractOptions())
        #expect(XAttr.get(dir.path + "/out/rootfs/file", name: "user.rkt.test") == value)
    }

    @Test func failureAfterWritingRemovesTheNewDestination() throws {
        let dir = try TemporaryDirectory()
        let path = try archive({ tar in
            tar.file("rootfs/written-first", "x")
            tar.file("../late-escape", "x")
        }, in: dir)
        #expect(throws: ArchiveError.self) {
            try ACIExtractor.extract(archivePath: path, to: dir.path + "/out", options: ExtractOptions())
        }
        #expect(!FileSystem.exists(dir.path + "/out"))
        #expect(!FileSystem.exists(dir.path + "/late-escape"))
    }
}
