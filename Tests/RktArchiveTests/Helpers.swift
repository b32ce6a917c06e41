#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktArchive
import RktOS
import RktTestSupport
import Testing

struct ToolResult {
    var status: Int32
    var output: String
}

/// Runs a tool and collects stdout+stderr; nil when it is not installed.
func runTool(_ path: String, _ arguments: [String]) throws -> ToolResult? {
    guard FileManager.default.isExecutableFile(atPath: path) else { return nil }
    let result = try Subprocess.run([path] + arguments, timeout: 300)
    #expect(!result.timedOut, "\(path) \(arguments.joined(separator: " ")) did not finish within 300 s")
    return ToolResult(status: result.status, output: result.stdout + result.stderr)
}

/// `sha512sum FILE`'s digest.
func sha512sum(_ path: String) throws -> String? {
    guard let result = try runTool("/usr/bin/sha512sum", [path]), result.status == 0 else { return nil }
    return result.output.split(separator: " ").first.map(String.init)
}

func lstatOf(_ path: String) -> stat? {
    var st = stat()
    return lstat(path, &st) == 0 ? st : nil
}

func readLink(_ path: String) -> String? {
    var buffer = [CChar](repeating: 0, count: 4096)
    let n = readlink(path, &buffer, buffer.count - 1)
    guard n >= 0 else { return nil }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}

func readString(_ path: String) -> String? {
    (try? FileSystem.read(path)).map { String(decoding: $0, as: UTF8.self) }
}

let isRoot = geteuid() == 0
