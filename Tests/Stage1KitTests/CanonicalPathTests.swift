import Foundation
import Glibc
import Stage1Kit
import Stage1Protocol
import Testing

/// canonicalPath asks the kernel for an O_PATH descriptor's name rather than walking each component.
struct CanonicalPathTests {
    @Test func resolvesSymlinksAndDotsAsRealpathDoes() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("rkt-canon-\(getpid())").path
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root + "/real/dir", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        try FileManager.default.createSymbolicLink(atPath: root + "/link", withDestinationPath: "real")
        let expected = try #require(realpath(root + "/real/dir", nil).map { pointer in defer { free(pointer) }; return String(cString: pointer) })
        #expect(try canonicalPath(root + "/link/dir") == expected)
        #expect(try canonicalPath(root + "/link/../real/./dir/") == expected)
        #expect(throws: Stage1Error.self) { try canonicalPath(root + "/missing") }
    }
}
