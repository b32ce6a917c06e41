#if canImport(Glibc)
import Glibc
#endif
import CRktShim
import Foundation
import SystemPackage

/// Runs a short-lived child and collects its standard output: posix_spawn, a pipe, waitpid.
/// For plugin calls on the pod start path, where Foundation's Process is an order of magnitude slower.
public enum Spawn {
    public struct Result: Sendable {
        /// Shell-style: the exit code, or 128 + signal.
        public let status: Int32
        public let stdout: Data
    }

    public static func run(_ executable: String, arguments: [String], environment: [String: String], directory: String?) throws(SystemError) -> Result {
        var fds: [Int32] = [-1, -1]
        try sysCall("pipe", path: executable) { pipe(&fds) }
        // Close-on-exec so no other child inherits them; the spawn dup2s the write end onto stdout.
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        let pid = argv.withUnsafeBufferPointer { a in
            envp.withUnsafeBufferPointer { e in
                rkt_spawn(executable, a.baseAddress, e.baseAddress, directory, fds[1])
            }
        }
        let spawnErrno = Errno.last
        close(fds[1])
        guard pid > 0 else {
            close(fds[0])
            throw SystemError("spawn", path: executable, errno: spawnErrno)
        }
        var output = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fds[0], $0.baseAddress, $0.count) }
            if n > 0 { output.append(contentsOf: buffer[0..<n]); continue }
            if n < 0 && Errno.last == .interrupted { continue }
            break
        }
        close(fds[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if Errno.last != .interrupted { throw SystemError("waitpid", path: executable) }
        }
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Result(status: code, stdout: output)
    }
}
