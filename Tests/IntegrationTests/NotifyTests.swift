import Foundation
import Glibc
import RktOS
import RktTestSupport
import Testing

/// sd_notify and systemd-machined with stage1-nspawn, through the built `rkt` as root: `rkt run`
/// started as a systemd Type=notify service would be (NOTIFY_SOCKET in its environment, here a
/// real datagram socket of the test), and on this host without systemd as PID 1.
/// Semantics: Documentation/stage1-nspawn.md, "Readiness and systemd".
@Suite(.serialized) struct NotifyTests {
    static let annotation = "appc.io/executor/supports-systemd-notify"

    func runner(_ test: String = #function) throws -> RktRunner? {
        guard isRoot else { print("skip \(test): running pods needs root"); return nil }
        let aci = ProcessInfo.processInfo.environment["RKT_STAGE1_NSPAWN_ACI"] ?? RktRunner.packageRoot + "/images/out/stage1-nspawn.aci"
        guard FileManager.default.fileExists(atPath: aci) else { print("skip \(test): no stage1-nspawn.aci (run images/stage1-nspawn/build.sh)"); return nil }
        guard FileManager.default.fileExists(atPath: RktRunner.image("probe.aci")) else { print("skip \(test): no probe.aci (images/build.sh)"); return nil }
        guard let rkt = RktRunner.make(test) else { return nil }
        try rkt.installStage1Image(aci, as: "stage1-nspawn.aci")
        return rkt
    }

    func finish(_ rkt: RktRunner) {
        _ = try? rkt.run(["gc", "--grace-period=0s"])
        rkt.cleanup()
    }

    /// The probe image, renamed `rkt.dev/notify-probe` and annotated as supporting sd_notify.
    func notifyProbeImage(_ rkt: RktRunner) throws -> String {
        let layout = rkt.root + "/notify-probe"
        try FileManager.default.createDirectory(atPath: layout, withIntermediateDirectories: true)
        try Self.tar(["-xf", RktRunner.image("probe.aci"), "-C", layout])
        let manifestPath = layout + "/manifest"
        var manifest = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: manifestPath))) as? [String: Any])
        manifest["name"] = "rkt.dev/notify-probe"
        var annotations = manifest["annotations"] as? [[String: Any]] ?? []
        annotations.append(["name": Self.annotation, "value": "true"])
        manifest["annotations"] = annotations
        try JSONSerialization.data(withJSONObject: manifest).write(to: URL(fileURLWithPath: manifestPath))
        let aci = rkt.root + "/notify-probe.aci"
        try Self.tar(["-cf", aci, "-C", layout, "manifest", "rootfs"])
        return aci
    }

    static func tar(_ arguments: [String]) throws {
        let result = try Subprocess.run(["/bin/tar"] + arguments, timeout: 120)
        try #require(result.status == 0, "tar \(arguments): \(result.stderr)")
    }

    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
        /// The pid of `rkt run`: the process systemd would have started, the service's main PID.
        let pid: pid_t
    }

    /// `rkt run ARGS` with `environment` replacing the given variables (nil values remove them).
    func run(_ rkt: RktRunner, _ args: [String], environment: [String: String?]) throws -> Run {
        var env = ProcessInfo.processInfo.environment
        for (name, value) in environment { env[name] = value }
        let result = try Subprocess.run(
            [rkt.binary, "--dir=\(rkt.dataDir)", "--local-config=\(rkt.localConfig)", "--system-config=\(rkt.systemConfig)",
             "--insecure-options=image", "run", "--net=none"] + args, environment: env)
        #expect(!result.timedOut, "\(result.stderr)")
        return Run(status: result.status, stdout: result.stdout, stderr: result.stderr, pid: result.pid)
    }

    /// The pod's PID 1 as rkt recorded it (`pid` in the pod directory).
    func podPID(_ rkt: RktRunner, uuidFile: String) throws -> String {
        let uuid = try String(contentsOfFile: uuidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        return try String(contentsOfFile: rkt.dataDir + "/pods/run/\(uuid)/pid", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A plain image: READY=1 once the app has started, from the main process (rkt's pid), with
    /// MAINPID = that pid and X_RKT_POD_PID = the pod's recorded pid. The app itself gets no
    /// NOTIFY_SOCKET, not even the host's through --inherit-env.
    @Test func plainPodIsReadyOnceItsAppStarted() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        let manager = try NotifyListener(path: rkt.root + "/notify")
        let uuidFile = rkt.root + "/uuid"
        let result = try run(rkt, ["--inherit-env", "--uuid-file-save=\(uuidFile)", RktRunner.image("busybox.aci"), "--exec", "/bin/sh", "--", "-c", "echo notify=${NOTIFY_SOCKET:-unset}"],
                             environment: ["NOTIFY_SOCKET": manager.path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "notify=unset\n")
        let messages = manager.drain()
        try #require(messages.count == 1, "one message, READY: \(messages)")
        let podPID = try podPID(rkt, uuidFile: uuidFile)
        #expect(messages[0].lines == ["MAINPID=\(result.pid)", "READY=1", "X_RKT_POD_PID=\(podPID)"], "\(messages[0])")
        #expect(messages[0].senderPID == result.pid, "sent by the service's main process, as NotifyAccess=main requires")
        #expect(podPID != String(result.pid))
    }

    /// An app whose image supports sd_notify gets its own socket at /run/systemd/notify; its
    /// STATUS= is passed on with its name, and the pod is ready only after its READY=1, even with
    /// another app started long before. What else it sends (MAINPID=…) stays in the pod.
    @Test func notifyAppGatesTheReadinessOfThePod() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        let image = try notifyProbeImage(rkt)
        let manager = try NotifyListener(path: rkt.root + "/notify")
        let uuidFile = rkt.root + "/uuid"
        let result = try run(rkt, [
            "--uuid-file-save=\(uuidFile)",
            image, "--user=1000", "--group=1000", "--exec", "/probe", "--", "--print-env=NOTIFY_SOCKET", "--notify=STATUS=warming up", "--sleep=1",
            "--notify=STATUS=hot\nMAINPID=1", "--notify=READY=1", "--sleep=1", "---",
            RktRunner.image("busybox.aci"), "--exec", "/bin/sh", "--", "-c", "echo plain=${NOTIFY_SOCKET:-unset}",
        ], environment: ["NOTIFY_SOCKET": manager.path])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("env.NOTIFY_SOCKET=/run/systemd/notify"), "\(result.stdout)")
        #expect(result.stdout.split(separator: "\n").filter { $0.hasPrefix("notify=") } == ["notify=ok", "notify=ok", "notify=ok"], "an unprivileged app can send: \(result.stdout)")
        #expect(result.stdout.contains("plain=unset"), "only the annotated app gets a socket: \(result.stdout)")
        let messages = manager.drain()
        let podPID = try podPID(rkt, uuidFile: uuidFile)
        // READY last: it waited for the app's READY=1, sent a second after the other app started.
        #expect(messages.map(\.lines) == [
            ["STATUS=notify-probe: warming up"],
            ["STATUS=notify-probe: hot"],
            ["MAINPID=\(result.pid)", "READY=1", "X_RKT_POD_PID=\(podPID)"],
        ], "\(messages)")
        #expect(messages.allSatisfy { $0.senderPID == result.pid }, "\(messages)")
        let uuid = try String(contentsOfFile: uuidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let socket = rkt.dataDir + "/pods/run/\(uuid)/stage1-nspawn/notify-notify-probe"
        var st = stat()
        #expect(lstat(socket, &st) == 0 && st.st_mode & S_IFMT == S_IFSOCK, "the app's socket, bound by the pod's PID 1: \(socket)")
    }

    /// Without NOTIFY_SOCKET nothing changes: no socket for the annotated app, nothing bound in
    /// the pod, nothing created in the app's rootfs.
    @Test func withoutNotifySocketNothingIsSetUp() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        let image = try notifyProbeImage(rkt)
        let uuidFile = rkt.root + "/uuid"
        let result = try run(rkt, ["--uuid-file-save=\(uuidFile)", image, "--exec", "/probe", "--", "--print-env=NOTIFY_SOCKET", "--stat-file=/run/systemd/notify", "--notify=READY=1", "--exit-code=0"],
                             environment: ["NOTIFY_SOCKET": nil])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.split(separator: "\n") == ["env.NOTIFY_SOCKET=(unset)", "stat_file=errno=ENOENT", "notify=errno=ENOENT", "exit_code=0"], "\(result.stdout)")
        let uuid = try String(contentsOfFile: uuidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let state = try FileManager.default.contentsOfDirectory(atPath: rkt.dataDir + "/pods/run/\(uuid)/stage1-nspawn")
        #expect(!state.contains("notify-notify-probe"), "no socket bound for the app: \(state)")
    }

    /// This host does not run systemd as PID 1: the pod is not registered with machined. A busctl
    /// first on PATH records any call; there must be none (and no warning).
    @Test func machinedIsLeftAloneWithoutSystemd() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        var st = stat()
        guard lstat("/run/systemd/system", &st) != 0 else { print("skip machinedIsLeftAloneWithoutSystemd: this host runs systemd"); return }
        let bin = rkt.root + "/fake-bin", log = rkt.root + "/busctl.log"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try TestExecutable.write("#!/bin/sh\necho \"$@\" >> \(log)\n", to: bin + "/busctl")
        let path = bin + ":" + (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin")
        let result = try run(rkt, [RktRunner.image("busybox.aci"), "--exec", "/bin/true"], environment: ["PATH": path])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: log), "busctl was called: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(!result.stderr.contains("machined"), "\(result.stderr)")
        // The fake busctl is the one the plugin would find (the check above can fail).
        let which = try Subprocess.run(["/bin/sh", "-c", "command -v busctl"], environment: ["PATH": path], timeout: 30)
        #expect(which.stdout == bin + "/busctl\n")
    }
}

/// A service manager's notification socket: a datagram socket that asks for its senders'
/// credentials (SO_PASSCRED), as systemd's does.
final class NotifyListener {
    struct Message: CustomStringConvertible {
        var text: String
        var senderPID: pid_t
        var lines: [String] { text.split(separator: "\n").map(String.init) }
        var description: String { "[pid \(senderPID)] \(text.debugDescription)" }
    }

    let path: String
    let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        try #require(fd >= 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        try #require(bytes.count < MemoryLayout.size(ofValue: addr.sun_path), "socket path too long: \(path)")
        withUnsafeMutableBytes(of: &addr.sun_path) { for (i, b) in bytes.enumerated() { $0[i] = b } }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        let bound = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        try #require(bound == 0, "bind \(path): \(String(cString: strerror(errno)))")
        var on: Int32 = 1
        try #require(setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, socklen_t(MemoryLayout<Int32>.size)) == 0)
    }

    deinit {
        close(fd)
        unlink(path)
    }

    /// Every message queued so far (the senders are done when this is called).
    func drain() -> [Message] {
        var messages: [Message] = []
        var buffer = [UInt8](repeating: 0, count: 8192)
        var control = [UInt8](repeating: 0, count: 64)
        while true {
            let received: (Int, pid_t) = buffer.withUnsafeMutableBytes { data in
                control.withUnsafeMutableBytes { control in
                    var iov = iovec(iov_base: data.baseAddress, iov_len: data.count)
                    return withUnsafeMutablePointer(to: &iov) { iovPointer in
                        var header = msghdr()
                        header.msg_iov = iovPointer
                        header.msg_iovlen = 1
                        header.msg_control = control.baseAddress
                        header.msg_controllen = control.count
                        let n = recvmsg(fd, &header, Int32(MSG_DONTWAIT))
                        // struct cmsghdr { size_t len; int level; int type; } then struct ucred { pid, uid, gid }.
                        var pid: pid_t = -1
                        if n >= 0, header.msg_controllen >= 28, control.load(fromByteOffset: 8, as: Int32.self) == SOL_SOCKET,
                           control.load(fromByteOffset: 12, as: Int32.self) == 2 /* SCM_CREDENTIALS */ {
                            pid = control.load(fromByteOffset: 16, as: pid_t.self)
                        }
                        return (n, pid)
                    }
                }
            }
            if received.0 < 0 { break }
            messages.append(Message(text: String(decoding: buffer[0..<received.0], as: UTF8.self), senderPID: received.1))
        }
        return messages
    }
}
