#if canImport(Glibc)
import Glibc
#endif

/// Runs a child with posix_spawn (never fork: see COMMON rules), feeding `input` on its stdin
/// and collecting its stdout; stderr is inherited so its messages reach the runtime's log.
enum ChildProcess {
    struct Output {
        var status: Int32
        var stdout: [UInt8]
    }

    static func run(_ executable: String, arguments: [String], environment: [String: String], input: [UInt8] = []) throws(PluginError) -> Output {
        var stdinPipe: [Int32] = [-1, -1]
        var stdoutPipe: [Int32] = [-1, -1]
        guard pipe(&stdinPipe) == 0 else { throw Files.ioError("pipe for", executable) }
        guard pipe(&stdoutPipe) == 0 else {
            close(stdinPipe[0]); close(stdinPipe[1])
            throw Files.ioError("pipe for", executable)
        }
        // Close-on-exec so the child gets them only through the dup2s below (single-threaded
        // process: no other spawn can race between pipe() and fcntl()).
        for fd in stdinPipe + stdoutPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdinPipe[0], 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        let spawnResult = posix_spawn(&pid, executable, &actions, nil, argv, envp)
        close(stdinPipe[0])
        close(stdoutPipe[1])
        guard spawnResult == 0 else {
            close(stdinPipe[1]); close(stdoutPipe[0])
            throw PluginError(PluginError.internalFailure, "cannot run \(executable): \(String(cString: strerror(spawnResult)))")
        }
        // Configs are far smaller than a pipe's buffer, so writing all before reading cannot block.
        var offset = 0
        while offset < input.count {
            let n = input[offset...].withUnsafeBytes { write(stdinPipe[1], $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                break  // the child exited without reading; its status tells
            }
            offset += n
        }
        close(stdinPipe[1])
        var output: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(stdoutPipe[0], $0.baseAddress, $0.count) }
            if n > 0 { output += chunk[0..<n]; continue }
            if n < 0 && errno == EINTR { continue }
            break
        }
        close(stdoutPipe[0])
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            if errno != EINTR { break }
        }
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        return Output(status: code, stdout: output)
    }

    /// The first `name` found in the colon-separated `searchPath`.
    static func find(_ name: String, in searchPath: String) -> String? {
        for directory in searchPath.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/\(name)"
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}
