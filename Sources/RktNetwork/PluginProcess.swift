#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktOS
import SystemPackage

/// Runs one CNI plugin: the configuration on stdin, the result on stdout, stderr inherited.
/// posix_spawn, never fork (rkt is multithreaded), and no Foundation `Process` (slow).
enum PluginProcess {
    struct Output {
        let status: Int32
        let stdout: Data
    }

    /// The largest stdin we hand over; configurations with a prevResult are a few KiB.
    static let maximumInput = 1 << 20

    static func run(_ executable: String, stdin input: Data, environment: [String: String]) throws(SystemError) -> Output {
        // stdin: the whole input goes into a pipe before the plugin starts, so nothing here has to
        // write and read at the same time. The pipe is grown to fit it first.
        var inPipe: [Int32] = [-1, -1], outPipe: [Int32] = [-1, -1]
        try sysCall("pipe", path: executable) { pipe(&inPipe) }
        for fd in inPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        defer { for fd in inPipe where fd >= 0 { close(fd) } }
        if input.count > 65536 {
            guard input.count <= maximumInput, fcntl(inPipe[1], 1031 /* F_SETPIPE_SZ */, Int32(input.count)) >= 0 else {
                throw SystemError("plugin input of \(input.count) bytes", path: executable, errno: .fileTooLarge)
            }
        }
        try FileSystem.writeAll(fd: inPipe[1], input, path: executable)
        close(inPipe[1]); inPipe[1] = -1
        try sysCall("pipe", path: executable) { pipe(&outPipe) }
        for fd in outPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        defer { for fd in outPipe where fd >= 0 { close(fd) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, inPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, outPipe[1], 1)
        let argv: [UnsafeMutablePointer<CChar>?] = [strdup(executable), nil]
        let envp: [UnsafeMutablePointer<CChar>?] = environment.sorted { $0.key < $1.key }.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        var rc: Int32 = 0
        // ETXTBSY: a plugin just written (installed, or made by a test) may still be open for
        // writing in a child another thread is starting; libcni retries the same way.
        for attempt in 0..<10 {
            rc = argv.withUnsafeBufferPointer { a in
                envp.withUnsafeBufferPointer { e in posix_spawn(&pid, executable, &actions, nil, a.baseAddress!, e.baseAddress!) }
            }
            if rc != ETXTBSY { break }
            usleep(UInt32(20_000 * (attempt + 1)))
        }
        guard rc == 0 else { throw SystemError("spawn", path: executable, errno: Errno(rawValue: rc)) }
        close(outPipe[1]); outPipe[1] = -1
        var output = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(outPipe[0], $0.baseAddress, $0.count) }
            if n > 0 { output.append(contentsOf: buffer[0..<n]); continue }
            if n < 0 && Errno.last == .interrupted { continue }
            break
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if Errno.last != .interrupted { throw SystemError("waitpid", path: executable) }
        }
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(status: code, stdout: output)
    }
}
