import Foundation
import Glibc
import RktOS
import Testing

/// The file-system helpers a pod start leans on: mkdir -p that tries mkdir first, and the
/// in-place writer used for pods still in prepare/.
struct FileSystemTests {
    func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("rkt-fs-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        return dir
    }

    func mode(_ path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    @Test func makeDirectoriesGivesExactModesEvenBelowASetGIDParent() throws {
        let root = try scratch()
        defer { try? FileSystem.removeTree(root) }
        #expect(chmod(root, 0o2775) == 0)
        try FileSystem.makeDirectories(root + "/a/b/c", mode: 0o750)
        for path in ["/a", "/a/b", "/a/b/c"] {
            #expect(mode(root + path) == 0o750, "\(path): \(String(mode(root + path), radix: 8)) (the inherited set-group-ID bit is cleared)")
        }
        try FileSystem.makeDirectories(root + "/a/b", mode: 0o700)  // exists: left as it is
        #expect(mode(root + "/a/b") == 0o750)
        try FileSystem.makeDirectories(root + "/s", mode: 0o2770)
        #expect(mode(root + "/s") == 0o2770)
        try FileSystem.writeNew(Data("x".utf8), to: root + "/file", mode: 0o644)
        #expect(throws: SystemError.self) { try FileSystem.makeDirectories(root + "/file/sub", mode: 0o755) }
        #expect(throws: SystemError.self) { try FileSystem.makeDirectories(root + "/file", mode: 0o755) }
    }

    @Test func writeNewCreatesOnceWithItsMode() throws {
        let root = try scratch()
        defer { try? FileSystem.removeTree(root) }
        let path = root + "/pod"
        try FileSystem.writeNew(Data("{}".utf8), to: path, mode: 0o640)
        #expect(try FileSystem.read(path) == Data("{}".utf8))
        #expect(mode(path) == 0o640)
        // Never over an existing file: the caller owns a fresh directory.
        #expect(throws: SystemError.self) { try FileSystem.writeNew(Data("again".utf8), to: path, mode: 0o640) }
        #expect(try FileSystem.read(path) == Data("{}".utf8))
        try FileSystem.writeNew(Data(), to: root + "/private", mode: 0o600)
        #expect(mode(root + "/private") == 0o600)
    }
}
