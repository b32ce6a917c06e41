import Foundation
import RktArchive

extension TestACI {
    /// Malformed and hostile ACIs every reader of images must refuse. Absolute and escaping names
    /// point at names that do not exist on a normal system, so a broken extractor leaves a trace
    /// (`/etc/rkt-test-evil`, `../escape`) instead of damaging the machine.
    public static func maliciousCases() -> [MaliciousCase] {
        var cases: [MaliciousCase] = []
        func add(_ name: String, _ kind: ArchiveError.Kind, _ fragment: String, _ bytes: Data) {
            cases.append(MaliciousCase(name: name, bytes: bytes, expectedMessageFragment: fragment, expectedKind: kind))
        }
        /// A valid layout with `body` added after rootfs/.
        func image(manifest: Bool = true, rootfs: Bool = true, finish: Bool = true, _ body: (inout RawTar) -> Void) -> Data {
            var tar = RawTar()
            if manifest { tar.file("manifest", validManifestJSON()) }
            if rootfs { tar.directory("rootfs") }
            body(&tar)
            if finish { tar.finish() }
            return tar.bytes
        }
        func compressed(_ data: Data, _ compression: Compression) -> Data {
            (try? compress(data, compression)) ?? Data()
        }
        let valid = busyboxLikeTar(files: [TestFile("usr/share/big", data: garbage(count: 100_000))])

        add("empty file", .notAnArchive, "empty file", Data())
        add("random garbage", .notAnArchive, "not a tar archive", garbage(count: 8192))
        add("short garbage", .notAnArchive, "not a tar archive", Data("hello, world\n".utf8))
        add("truncated gzip", .corrupt, "corrupt archive", compressed(valid, .gzip).prefix(2000))
        add("truncated xz", .corrupt, "corrupt archive", compressed(valid, .xz).prefix(2000))
        add("truncated zstd", .corrupt, "corrupt archive", compressed(valid, .zstd).prefix(2000))
        add("truncated tar", .corrupt, "corrupt archive", valid.prefix(valid.count / 2))
        add("gzip-wrapped garbage", .notAnArchive, "not a tar archive", compressed(garbage(count: 8192), .gzip))
        add("nested gzip", .unsupported, "nested compression", compressed(compressed(valid, .gzip), .gzip))
        add("bad checksum, first header", .corrupt, "damaged", {
            var tar = RawTar()
            var h = RawTar.Header(name: "manifest", type: .regular, mode: 0o644)
            h.corruptChecksum = true
            tar.append(h, contents: Data(validManifestJSON().utf8))
            tar.directory("rootfs")
            tar.finish()
            return tar.bytes
        }())
        add("bad checksum, later header", .corrupt, "Damaged tar archive", image { tar in
            var h = RawTar.Header(name: "rootfs/etc", type: .directory, mode: 0o755)
            h.corruptChecksum = true
            tar.append(h)
        })
        add("no manifest", .layout, "no image manifest found in layout", image(manifest: false) { tar in
            tar.file("rootfs/hello", "hi")
        })
        add("xz-wrapped tar without manifest", .layout, "no image manifest found in layout",
            compressed(image(manifest: false) { _ in }, .xz))
        add("no rootfs", .layout, "no rootfs found in layout", image(rootfs: false) { _ in })
        add("rootfs entries without a rootfs directory entry", .layout, "no rootfs found in layout", image(rootfs: false) { tar in
            tar.file("rootfs/hello", "hi")
        })
        add("rootfs is a file", .layout, "rootfs is not a directory", image(rootfs: false) { tar in
            tar.file("rootfs", "not a directory")
        })
        add("rootfs is a symlink", .layout, "rootfs is not a directory", image(rootfs: false) { tar in
            tar.symlink("rootfs", to: "/")
        })
        add("manifest is a directory", .layout, "is a directory, not a regular file", image(manifest: false) { tar in
            tar.directory("manifest")
        })
        add("manifest is a symlink", .layout, "is a symlink, not a regular file", image(manifest: false) { tar in
            tar.symlink("manifest", to: "/etc/passwd")
        })
        add("manifest is a hard link", .layout, "is a hard link, not a regular file", image(manifest: false) { tar in
            tar.file("rootfs/m", validManifestJSON())
            tar.hardlink("manifest", to: "rootfs/m")
        })
        add("duplicate manifest", .layout, "duplicate file entry in archive: manifest", image { tar in
            tar.file("./manifest", validManifestJSON(name: "example.com/other"))
        })
        add("duplicate rootfs file", .layout, "duplicate file entry in archive: rootfs/etc/passwd", image { tar in
            tar.directory("rootfs/etc")
            tar.file("rootfs/etc/passwd", "root:x:0:0::/root:/bin/sh\n")
            tar.file("./rootfs//etc/./passwd", "evil::0:0::/:/bin/sh\n")
        })
        add("extra top-level file", .layout, "unrecognized file path in layout", image { tar in
            tar.file("etc-passwd", "x")
        })
        add("../escape", .unsafeEntry, #"unsafe entry "../escape": path leaves the image"#, image { tar in
            tar.file("../escape", "escaped\n")
        })
        add("rootfs/../../escape", .unsafeEntry, #"unsafe entry "rootfs/../../escape": path leaves the image"#, image { tar in
            tar.file("rootfs/../../escape", "escaped\n")
        })
        add("absolute path", .unsafeEntry, #"unsafe entry "/etc/rkt-test-evil": absolute path"#, image { tar in
            tar.file("/etc/rkt-test-evil", "evil\n")
        })
        add("escaping pax path", .unsafeEntry, "path leaves the image", image { tar in
            // The ustar name looks harmless; the pax record that overrides it does not.
            tar.append(RawTar.Header(name: "rootfs/harmless", type: .regular, mode: 0o644),
                       contents: Data("escaped\n".utf8), pax: [("path", "rootfs/../../escape")])
        })
        add("escaping long name", .unsafeEntry, "path leaves the image", image { tar in
            tar.file("rootfs/" + String(repeating: "a/../", count: 30) + "../../escape", "escaped\n")
        })
        add("symlink escaping rootfs", .unsafeEntry, "leaves rootfs", image { tar in
            tar.directory("rootfs/bin")
            tar.symlink("rootfs/bin/up", to: "../../../etc")
        })
        add("write through absolute symlink", .unsafeEntry, #"written through symlink "rootfs/x""#, image { tar in
            tar.symlink("rootfs/x", to: "/etc")
            tar.file("rootfs/x/rkt-test-evil", "evil\n")
        })
        add("write through relative symlink", .unsafeEntry, #"written through symlink "rootfs/lib""#, image { tar in
            tar.directory("rootfs/usr")
            tar.directory("rootfs/usr/lib")
            tar.symlink("rootfs/lib", to: "usr/lib")
            tar.directory("rootfs/lib/deeper")
        })
        add("write under a regular file", .unsafeEntry, "not a directory", image { tar in
            tar.file("rootfs/a", "file")
            tar.file("rootfs/a/b", "under a file")
        })
        add("hard link to ../../etc/shadow", .unsafeEntry, "leaves the image", image { tar in
            tar.hardlink("rootfs/shadow", to: "../../etc/shadow")
        })
        add("hard link to absolute path", .unsafeEntry, "is absolute", image { tar in
            tar.hardlink("rootfs/shadow", to: "/etc/shadow")
        })
        add("hard link to a missing entry", .unsafeEntry, "is not an earlier entry of the image", image { tar in
            tar.hardlink("rootfs/link", to: "rootfs/not-there")
        })
        add("hard link to the manifest", .unsafeEntry, "is outside rootfs", image { tar in
            tar.hardlink("rootfs/link", to: "manifest")
        })
        add("hard link to a directory", .unsafeEntry, "is a directory", image { tar in
            tar.directory("rootfs/dir")
            tar.hardlink("rootfs/link", to: "rootfs/dir")
        })
        add("name not valid UTF-8", .unsafeEntry, "not valid UTF-8", image { tar in
            tar.append(RawTar.Header(rawName: Array("rootfs/bad-".utf8) + [0xff, 0xfe], type: .regular, mode: 0o644),
                       contents: Data("x".utf8))
        })
        add("oversize manifest", .manifestTooLarge, "too large", {
            var tar = RawTar()
            tar.file("manifest", Data(repeating: 0x20, count: (1 << 20) + 1))
            tar.directory("rootfs")
            tar.finish()
            return tar.bytes
        }())
        return cases
    }
}
