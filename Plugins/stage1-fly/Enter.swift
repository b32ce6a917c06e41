import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// `enter`: run a command in the app's root directory and working directory with its environment
/// (`rkt/env/<app>` as `run` wrote it), as root, as the spec says. fly shares every namespace with
/// the host, so there is nothing to join: chroot and exec, in this process.
enum EnterCommand {
    /// The command when the request has none (stage0 always sends one). rkt used /bin/bash, which
    /// most small images lack; every image with a shell has /bin/sh.
    static let defaultCommand = ["/bin/sh"]

    static func execute(_ request: Stage1Request, _ enter: EnterPayload) throws(Stage1Error) -> Never {
        let app = enter.appName
        guard !app.isEmpty, app != ".", app != "..", !app.contains("/") else {
            throw Stage1Error(code: .podNotRunning, msg: "app \"\(app)\" is not in this pod")
        }
        guard enter.pid > 0, kill(enter.pid, 0) == 0 || errno == EPERM else {
            throw Stage1Error(code: .podNotRunning, msg: "the pod is not running", details: "process \(enter.pid) does not exist")
        }
        let podPath: String
        do { podPath = try canonicalPath(request.pod.path) } catch {
            throw Stage1Error(code: .podNotRunning, msg: "the pod is not running", details: "\(request.pod.path): \(error.msg)")
        }
        let files = PodFiles(podPath: podPath, stage1Rootfs: request.pod.stage1Rootfs)
        guard let state = readJSON(FlyAppState.self, from: Fly.statePath(pod: podPath, app: app)),
              let environmentData = readFile(files.envPath(app: app))
        else {
            throw Stage1Error(code: .podNotRunning, msg: "app \(app) is not running in this pod", details: "stage1-fly did not start it")
        }
        let rootfs = state.rootfs(podPath: podPath)
        if let root = processRoot(enter.pid), root != rootfs {
            throw Stage1Error(
                code: .podNotRunning, msg: "the pod is not running",
                details: "process \(enter.pid) has root \(root), not the rootfs of app \(app)")
        }

        var environment: [String] = []
        var path = AppConfig.defaultPath
        for line in String(decoding: environmentData, as: UTF8.self).split(separator: "\n") where line.contains("=") {
            environment.append(String(line))
            if line.hasPrefix("PATH=") { path = String(line.dropFirst(5)) }
        }
        let command = enter.command.isEmpty ? defaultCommand : enter.command
        let candidates = AppConfig.execCandidates(command[0], path: path)
        debug("enter \(app): \(command) in \(rootfs), wd \(state.workingDirectory)")

        guard chroot(rootfs) == 0 else { throw systemError("chroot", rootfs) }
        guard chdir("/") == 0 else { throw systemError("chdir", "/") }
        guard chdir(state.workingDirectory) == 0 else {
            let code = errno
            throw Stage1Error(
                code: .ioFailure,
                msg: "cannot change to the working directory \"\(state.workingDirectory)\" of app \(app): \(errnoString(code))")
        }
        let argv = CStringArray(command)
        let envp = CStringArray(environment)
        var best: (code: Int32, path: String)?
        for candidate in candidates {
            argv.pointers.withUnsafeBufferPointer { a in
                envp.pointers.withUnsafeBufferPointer { e in
                    _ = execve(candidate, a.baseAddress!, e.baseAddress!)
                }
            }
            let code = errno
            if best == nil || (code != ENOENT && code != ENOTDIR && (best!.code == ENOENT || best!.code == ENOTDIR)) {
                best = (code, candidate)
            }
        }
        let name = command[0].contains("/") ? best?.path ?? command[0] : command[0]
        throw Stage1Error(code: .ioFailure, msg: "Unable to open \"\(name)\": \(errnoString(best?.code ?? ENOENT))")
    }
}

/// The root directory of a process (`/proc/<pid>/root`), or nil if it cannot be read.
func processRoot(_ pid: pid_t) -> String? {
    var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
    let n = readlink("/proc/\(pid)/root", &buffer, buffer.count - 1)
    guard n > 0 else { return nil }
    return String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
