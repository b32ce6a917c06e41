#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktArchive
import RktOS

/// A file inside a fixture image's rootfs; `path` is relative to rootfs ("bin/sh").
public struct TestFile: Sendable {
    public var path: String
    public var contents: Data
    public var mode: UInt32

    public init(_ path: String, _ contents: String, mode: UInt32 = 0o644) {
        self.path = path
        self.contents = Data(contents.utf8)
        self.mode = mode
    }

    public init(_ path: String, data: Data, mode: UInt32 = 0o644) {
        self.path = path
        self.contents = data
        self.mode = mode
    }
}

/// A malformed or hostile ACI and what rejecting it must say.
public struct MaliciousCase: Sendable, CustomStringConvertible {
    public var name: String
    public var bytes: Data
    /// A substring of ArchiveError.message.
    public var expectedMessageFragment: String
    public var expectedKind: ArchiveError.Kind

    public var description: String { name }
}

public struct TestSupportError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}

/// Builders for ACI fixtures shared by the test targets.
public enum TestACI {
    /// A minimal valid appc image manifest.
    public static func validManifestJSON(name: String = "example.com/test", version: String? = nil) -> String {
        let versionLabel = version.map { #"{"name":"version","value":"\#($0)"},"# } ?? ""
        return #"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"\#(name)","labels":[\#(versionLabel){"name":"os","value":"linux"},{"name":"arch","value":"amd64"}],"app":{"exec":["/bin/sh"],"user":"0","group":"0"}}"#
    }

    /// An image layout as a tar: manifest, rootfs/, a few busybox-ish entries, then `files`
    /// (parent directories added as needed). Uncompressed, finished.
    public static func busyboxLikeTar(name: String = "example.com/test", files: [TestFile] = [], manifest: String? = nil) -> Data {
        var tar = RawTar()
        tar.file("manifest", manifest ?? validManifestJSON(name: name))
        tar.directory("rootfs")
        tar.directory("rootfs/bin")
        tar.file("rootfs/bin/busybox", "#!fake busybox for \(name)\n", mode: 0o755)
        tar.symlink("rootfs/bin/sh", to: "busybox")
        tar.directory("rootfs/etc")
        tar.file("rootfs/etc/hostname", "\(name)\n")
        var dirs: Set<String> = ["bin", "etc"]
        for file in files {
            let parts = file.path.split(separator: "/").map(String.init)
            for depth in 1..<max(1, parts.count) {
                let dir = parts[0..<depth].joined(separator: "/")
                if dirs.insert(dir).inserted { tar.directory("rootfs/" + dir) }
            }
            tar.file("rootfs/" + file.path, file.contents, mode: file.mode)
        }
        tar.finish()
        return tar.bytes
    }

    /// Writes a busybox-like ACI into `directory` and returns its path.
    @discardableResult
    public static func busyboxLike(
        name: String = "example.com/test", files: [TestFile] = [], compression: Compression = .none,
        in directory: String, fileName: String? = nil
    ) throws -> String {
        let data = try compress(busyboxLikeTar(name: name, files: files), compression)
        let path = directory + "/" + (fileName ?? (name.replacingOccurrences(of: "/", with: "_") + ".aci"))
        try write(data, to: path)
        return path
    }

    /// Compresses in process with libarchive.
    public static func compress(_ data: Data, _ compression: Compression) throws -> Data {
        try StreamCompressor.compress(data, as: compression)
    }

    /// Compresses with the gzip/bzip2/xz/zstd command-line tool (an implementation independent of
    /// libarchive); nil when the tool is not installed.
    public static func compressWithTool(_ data: Data, _ compression: Compression) throws -> Data? {
        let tool: String
        switch compression {
        case .none: return data
        case .gzip: tool = "/usr/bin/gzip"
        case .bzip2: tool = "/usr/bin/bzip2"
        case .xz: tool = "/usr/bin/xz"
        case .zstd: tool = "/usr/bin/zstd"
        }
        guard FileManager.default.isExecutableFile(atPath: tool) else { return nil }
        let dir = try TemporaryDirectory(prefix: "rkt-compress")
        try write(data, to: dir.path + "/in")
        let flags = compression == .zstd ? "-q -c" : "-c"
        let result = try Subprocess.run(["/bin/sh", "-c", "'\(tool)' \(flags) < '\(dir.path)/in' > '\(dir.path)/out'"], timeout: 300)
        guard result.status == 0, !result.timedOut else {
            throw TestSupportError("\(tool) exited \(result.status)\(result.timedOut ? " (killed after 300 s)" : ""): \(result.stderr)")
        }
        return try FileSystem.read(dir.path + "/out")
    }

    public static func write(_ data: Data, to path: String) throws {
        try FileSystem.writeAtomically(data, to: path, mode: 0o644, sync: false)
    }

    /// Deterministic pseudo-random bytes (xorshift), so failures reproduce.
    public static func garbage(count: Int, seed: UInt64 = 0x9E37_79B9_7F4A_7C15) -> Data {
        var state = seed
        var out = Data(capacity: count)
        for _ in 0..<count {
            state ^= state << 13
            state ^= state >> 7
            state ^= state << 17
            out.append(UInt8(truncatingIfNeeded: state))
        }
        return out
    }
}

/// A directory under /tmp that is removed (recursively) when the object goes away.
public final class TemporaryDirectory: @unchecked Sendable {
    // @unchecked: `path` is immutable; removal happens once, in deinit.
    public let path: String

    public init(prefix: String = "rkt-test") throws {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ buffer in buffer.baseAddress.flatMap { mkdtemp($0) } }) else {
            throw SystemError("mkdtemp", path: "/tmp/\(prefix)-XXXXXX")
        }
        path = String(cString: made)
    }

    deinit { try? FileSystem.removeTree(path) }
}
