import Foundation
import RktTestSupport
import Glibc
import Stage1Protocol
import Testing

/// Finds the built plugin and builds pods by hand, as stage0 would lay them out.
enum FlyHarness {
    /// The plugin binary: `RKT_STAGE1_FLY_BINARY`, else the newer of `.build/release/stage1-fly`
    /// and `.build/debug/stage1-fly` of the package these tests belong to.
    static let binary: String? = {
        if let path = ProcessInfo.processInfo.environment["RKT_STAGE1_FLY_BINARY"], !path.isEmpty {
            return access(path, X_OK) == 0 ? path : nil
        }
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent("Package.swift").path) {
                // The newer of the two, so a stale release build does not shadow a fresh debug one.
                let built = ["release", "debug"].map { directory.appendingPathComponent(".build/\($0)/stage1-fly").path }
                    .filter { access($0, X_OK) == 0 }
                return built.max { modified($0) < modified($1) }
            }
            directory.deleteLastPathComponent()
        }
        return nil
    }()

    private static func modified(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? st.st_mtim.tv_sec * 1_000_000_000 + st.st_mtim.tv_nsec : 0
    }

    static let busybox = "/bin/busybox"

    /// Why the tests cannot run here, or nil.
    static let skipReason: String? = {
        let reason: String?
        if getuid() != 0 {
            reason = "not root: stage1-fly mounts and chroots"
        } else if binary == nil {
            reason = "stage1-fly is not built (set RKT_STAGE1_FLY_BINARY or run swift build --product stage1-fly)"
        } else if access(busybox, X_OK) != 0 {
            reason = "\(busybox) is missing (apt-get install busybox-static)"
        } else {
            reason = nil
        }
        if let reason { print("Stage1FlyTests: skipped: \(reason)") }
        return reason
    }()

    static var ready: Bool { skipReason == nil }

    static let applets: [String] = {
        let result = run([busybox, "--list"])
        return result.stdout.split(separator: "\n").map(String.init).filter { $0 != "busybox" }
    }()

    /// Runs a host command to completion (test plumbing, not the plugin).
    @discardableResult
    static func run(_ argv: [String]) -> Result {
        Spawn(argv: argv, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]).wait()
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }
}

/// A child process with stdout and stderr captured to files, optionally handed the pod lock as fd
/// `Spawn.lockFD` (the only descriptor it inherits besides stdio).
final class Spawn: @unchecked Sendable {
    static let lockFD: Int32 = 50
    let pid: pid_t
    private let outPath: String
    private let errPath: String
    private var finished: FlyHarness.Result?

    init(argv: [String], environment: [String], lock: Int32? = nil, stdinPath: String = "/dev/null") {
        let scratch = NSTemporaryDirectory() + "stage1-fly-io-\(UUID().uuidString)"
        outPath = scratch + ".out"
        errPath = scratch + ".err"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, stdinPath, O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        // dup2 clears close-on-exec on the copy: only this child gets the lock.
        if let lock { posix_spawn_file_actions_adddup2(&actions, lock, Spawn.lockFD) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))
        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = environment.map { strdup($0) } + [nil]
        defer { for p in cArgv + cEnv { free(p) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgv, cEnv)
        precondition(rc == 0, "posix_spawn \(argv[0]): \(String(cString: strerror(rc)))")
        self.pid = pid
    }

    /// Waits at most `timeout` seconds, then kills the child.
    func wait(timeout: Double = 30) -> FlyHarness.Result {
        if let finished { return finished }
        let deadline = Date().addingTimeInterval(timeout)
        var status: Int32 = 0
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { status = 255 << 8; break }
            if Date() > deadline {
                kill(pid, SIGKILL)
                _ = waitpid(pid, &status, 0)
                break
            }
            usleep(5_000)
        }
        let code = (status & 0x7f) == 0 ? (status >> 8) & 0xff : 128 + (status & 0x7f)
        let out = String(decoding: FileManager.default.contents(atPath: outPath) ?? Data(), as: UTF8.self)
        let err = String(decoding: FileManager.default.contents(atPath: errPath) ?? Data(), as: UTF8.self)
        unlink(outPath)
        unlink(errPath)
        let result = FlyHarness.Result(status: code, stdout: out, stderr: err)
        finished = result
        return result
    }
}

/// A pod directory made by hand: `<dir>/pod` (manifest), `stage1/rootfs/opt/stage2/<app>/rootfs`
/// holding a static busybox with its applets, `/etc/passwd` and `/etc/group`.
final class TestPod: @unchecked Sendable {
    static let uuid = "6f1a2c3e-8b7d-4e1f-9a2b-3c4d5e6f7a8b"
    let base: String
    let path: String
    let app: String
    var info: PodInfo { PodInfo(uuid: Self.uuid, path: path) }
    var files: PodFiles { PodFiles(pod: info) }
    var rootfs: String { info.stage1Rootfs + "/opt/stage2/\(app)/rootfs" }
    private var lockFD: Int32 = -1

    /// `volumes` and `mounts` are the pod manifest's (appc JSON objects).
    init(app: String = "app", volumes: [[String: Any]] = [], mounts: [[String: Any]] = []) throws {
        var template = Array((NSTemporaryDirectory() + "stage1-fly-test-XXXXXX").utf8CString)
        guard let made = mkdtemp(&template) else { throw TestError("mkdtemp failed") }
        base = String(cString: made)
        path = base + "/pod"
        self.app = app
        let fm = FileManager.default
        try fm.createDirectory(atPath: rootfs + "/bin", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: rootfs + "/etc", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: rootfs + "/home/user", withIntermediateDirectories: true)
        try TestExecutable.copy(FlyHarness.busybox, to: rootfs + "/bin/busybox")
        for applet in FlyHarness.applets {
            try fm.createSymbolicLink(atPath: rootfs + "/bin/" + applet, withDestinationPath: "busybox")
        }
        try "root:x:0:0:root:/root:/bin/sh\nuser:x:1000:1000:user:/home/user:/bin/sh\n"
            .write(toFile: rootfs + "/etc/passwd", atomically: true, encoding: .utf8)
        try "root:x:0:\nusers:x:100:user\nuser:x:1000:\n".write(toFile: rootfs + "/etc/group", atomically: true, encoding: .utf8)
        try Data(#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/busybox"}"#.utf8)
            .write(to: URL(fileURLWithPath: info.stage1Rootfs + "/opt/stage2/\(app)/manifest"))
        var appEntry: [String: Any] = ["name": app, "image": ["id": "sha512-" + String(repeating: "0", count: 128)]]
        if !mounts.isEmpty { appEntry["mounts"] = mounts }
        let manifest: [String: Any] = [
            "acKind": "PodManifest", "acVersion": "0.8.11", "apps": [appEntry], "volumes": volumes,
        ]
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: info.manifestPath))
    }

    /// A one-app `run` request with the host network.
    func runRequest(_ resolved: ResolvedApp, apps: Int = 1, net: NetworkMode = .host, interactive: Bool = false) -> Stage1Request {
        let list = (0..<apps).map { i in
            RunApp(
                name: i == 0 ? app : "\(app)\(i)", stage1Rootfs: info.stage1Rootfs,
                imageID: "sha512-" + String(repeating: "0", count: 128), appManifest: resolved)
        }
        return Stage1Request(
            pod: info, payload: .run(RunPayload(apps: list, net: net, interactive: interactive, lockFD: Spawn.lockFD)))
    }

    /// Writes `request` and starts the plugin the way stage0 does: cwd = the pod directory,
    /// argv = [binary, --stage1-protocol=1], the request file in RKT_STAGE1_REQUEST and, for
    /// `run`, the pod lock (held exclusively) as RKT_LOCK_FD.
    func start(_ request: Stage1Request) throws -> Spawn {
        let requestPath = base + "/request-\(UUID().uuidString).json"
        try request.encoded().write(to: URL(fileURLWithPath: requestPath))
        var environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "RKT_STAGE1_REQUEST=" + requestPath]
        var lock: Int32?
        if request.command == .run {
            let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard fd >= 0, flock(fd, LOCK_EX | LOCK_NB) == 0 else { throw TestError("cannot lock \(path)") }
            lock = fd
            environment.append("RKT_LOCK_FD=\(Spawn.lockFD)")
        }
        // /bin/sh only to chdir (posix_spawn_file_actions_addchdir_np is not visible from Swift).
        let spawn = Spawn(
            argv: ["/bin/sh", "-c", "cd \"$0\" && exec \"$@\"", path, FlyHarness.binary!, "--stage1-protocol=1"],
            environment: environment, lock: lock)
        if let lock { close(lock) }  // as stage0 does by exec'ing: the plugin now holds the only copy
        return spawn
    }

    func call(_ request: Stage1Request, timeout: Double = 30) throws -> FlyHarness.Result {
        try start(request).wait(timeout: timeout)
    }

    func call(_ payload: Stage1Request.Payload) throws -> FlyHarness.Result {
        try call(Stage1Request(pod: info, payload: payload))
    }

    /// Mount points at or below the pod directory.
    var mounts: [String] {
        return readAll("/proc/self/mountinfo").split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 4 else { return nil }
            let point = String(fields[4])
            return point == path || point.hasPrefix(path + "/") ? point : nil
        }
    }

    /// Whether the pod lock is held by someone (the plugin).
    var locked: Bool {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        defer { close(fd) }
        return flock(fd, LOCK_SH | LOCK_NB) != 0
    }

    func waitFor(_ condition: () -> Bool, timeout: Double = 10) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            usleep(10_000)
        }
        return condition()
    }

    /// gc, then removes the directory, but only if nothing is mounted below it any more.
    func destroy() {
        _ = try? call(.gc(GCPayload()))
        if mounts.isEmpty {
            try? FileManager.default.removeItem(atPath: base)
        } else {
            Issue.record("gc left mounts below \(base), not removing it: \(mounts)")
        }
    }
}

/// A whole file, read to EOF (Foundation stops at st_size, which is 0 in /proc).
func readAll(_ path: String) -> String {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return "" }
    defer { close(fd) }
    var bytes: [UInt8] = []
    var buffer = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = read(fd, &buffer, buffer.count)
        if n > 0 { bytes += buffer[0..<n] } else if n == 0 || errno != EINTR { break }
    }
    return String(decoding: bytes, as: UTF8.self)
}

struct TestError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
