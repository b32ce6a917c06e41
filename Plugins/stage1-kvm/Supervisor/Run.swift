import CKVM
import CLibvirt
import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// `run`: plans the apps (Stage1Kit, as the other stage1s), writes the plan the guest init reads,
/// boots the pod's VM through embedded libvirt and supervises it: the apps' output is copied to
/// stdout, their exit statuses come back over the `rkt.status` channel and become
/// `rkt/status/<app>`, and this process exits with the first failing app's status.
enum RunCommand {
    /// How long the guest may take from the domain's start to its first app's start. TCG boots
    /// of the generic kernel take about 5 s here; a guest that is not up after this is stuck.
    static var bootTimeout: Double { KVM.environment("RKT_KVM_BOOT_TIMEOUT").flatMap(Double.init) ?? 120 }

    static func execute(_ request: Stage1Request, _ run: RunPayload) throws(Stage1Error) -> Never {
        let begin = monotonicSeconds()
        try check(run)
        // Before any thread exists and before the split: the supervisor, libvirt's threads and
        // QEMU are all created from this thread and inherit the pod's network namespace.
        try PodNetwork.join(run)
        if !Containment.isSupervisor && KVM.environment("RKT_KVM_NO_PIDNS") == nil { try Containment.runOuter(request, run) }
        // Without the split (RKT_KVM_NO_PIDNS, for debugging) this process keeps the lock itself.
        let lockFD = Containment.isSupervisor ? nil : try PodLock.keep(run)
        let podPath = try canonicalPath(request.pod.path)
        let stage1Rootfs = try canonicalPath(request.pod.stage1Rootfs)
        let files = PodFiles(podPath: podPath, stage1Rootfs: stage1Rootfs)
        let podManifest = try AppConfig.readPodManifest(request.pod.manifestPath)
        var plans: [AppPlan] = []
        for app in run.apps {
            guard isDirectory(app.rootfs) else {
                throw Stage1Error(code: .invalidRequest, msg: "the rootfs of app \(app.name) does not exist", details: app.rootfs)
            }
            let plan = try AppConfig.plan(app: app, rootfs: try canonicalPath(app.rootfs), pod: podManifest)
            debug("app \(app.name): exec \(plan.exec), uid \(plan.uid), gid \(plan.gid), wd \(plan.workingDirectory)")
            plans.append(plan)
        }

        let kernel = KVM.kernelPath(stage1Rootfs: stage1Rootfs)
        let initramfs = KVM.initramfsPath(stage1Rootfs: stage1Rootfs)
        for (what, path) in [("kernel", kernel), ("initramfs", initramfs)] where !fileExists(path) {
            throw Stage1Error(
                code: .ioFailure, msg: "the guest \(what) \(path) does not exist",
                details: "the stage1-kvm image carries it in /kvm (images/stage1-kvm/build.sh, from linux-image-amd64); RKT_KVM_KERNEL and RKT_KVM_INITRAMFS override it")
        }
        let emulator = KVM.environment("RKT_KVM_QEMU") ?? "/usr/bin/qemu-system-x86_64"
        guard access(emulator, X_OK) == 0 else {
            throw Stage1Error(code: .ioFailure, msg: "QEMU \(emulator) is not installed", details: "install qemu-system-x86")
        }
        let (accelerator, reason) = try Accelerator.choose()
        debug("accelerator: \(accelerator.rawValue) (\(reason))")

        // Volumes: each mount is one more 9p share (`rkt.vol<k>`), mounted by the guest on its path.
        var shares: [VolumeShare] = []
        for plan in plans {
            for mount in plan.mounts {
                let source: String
                switch mount.volume.kind {
                case "host":
                    guard let path = mount.volume.source, path.hasPrefix("/") else {
                        throw Stage1Error(code: .invalidRequest, msg: "host volume \(mount.volume.name) has no absolute source")
                    }
                    guard isDirectory(path) else {
                        throw Stage1Error(
                            code: .unsupported, msg: "volume \(mount.volume.name): \(path) is not a directory",
                            details: "stage1-kvm shares volumes over virtio-9p, which shares directories only")
                    }
                    source = try canonicalPath(path)
                default:
                    source = try EmptyVolume.create(mount.volume, podPath: podPath)
                }
                debug("volume \(mount.volume.name): \(source) on \(mount.path) in app \(plan.name)\(mount.readOnly ? " (ro)" : "")")
                shares.append(VolumeShare(app: plan.name, tag: "rkt.vol\(shares.count)", source: source, path: mount.path, readOnly: mount.readOnly))
            }
        }

        let state = KVM.stateDirectory(pod: podPath)
        for directory in [files.statusDirectory, files.envDirectory, state, KVM.embedRoot(uuid: request.pod.uuid)] {
            try makeDirectories(directory)
        }
        for plan in plans { try Stage1Files.writeEnvironment(plan.environment, app: plan.name, files) }
        // --interactive: the app runs on a pty in the guest, sized as our terminal (nil: stdin is
        // not one, and the guest's pty does not echo piped input back).
        let stdinIsTerminal = run.interactive && isatty(0) == 1
        let terminalSize = stdinIsTerminal ? EnterCommand.windowSize() : nil
        try GuestPlan.write(plans, shares: shares, hostname: run.hostname ?? "rkt-" + request.pod.uuid, interactive: run.interactive,
                            terminal: terminalSize, to: KVM.planDirectory(pod: podPath))
        let isolation = try GuestIsolation.resolve(plans, insecureOptions: run.insecureOptions)
        try GuestIsolation.write(isolation, to: KVM.planDirectory(pod: podPath))
        try GuestEtcFiles.write(run, rootfses: plans.map(\.rootfs), hostname: run.hostname ?? "rkt-" + request.pod.uuid)
        let interfaces = try PodNetwork.prepare(run, planDirectory: KVM.planDirectory(pod: podPath))
        let statusListener = try UnixListener(path: KVM.socketPath(uuid: request.pod.uuid, "status"))
        let outputListener = try UnixListener(path: KVM.socketPath(uuid: request.pod.uuid, "output"))
        // The agent channel, and the control socket `enter` connects to (root only).
        let agentListener = try UnixListener(path: KVM.socketPath(uuid: request.pod.uuid, "agent"))
        let controlListener = try UnixListener(path: KVM.socketPath(uuid: request.pod.uuid, "control"), backlog: 16)
        chmod(controlListener.path, 0o600)
        unlink(KVM.consoleLog(pod: podPath))

        // Signals are taken synchronously in the loop below; block them before libvirt starts
        // its threads so that every thread inherits the mask and none of them takes a signal.
        var handled = sigset_t()
        sigemptyset(&handled)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGCHLD] { sigaddset(&handled, signal) }
        if run.interactive { sigaddset(&handled, SIGWINCH) }
        sigprocmask(SIG_BLOCK, &handled, nil)
        if kvm_become_subreaper() != 0 { debug("cannot become a child subreaper: \(errnoString(errno))") }

        let libvirt = try EmbeddedLibvirt(root: KVM.embedRoot(uuid: request.pod.uuid))
        let description = DomainDescription(
            name: KVM.domainName(uuid: request.pod.uuid), accelerator: accelerator, kernel: kernel, initramfs: initramfs,
            memoryMiB: GuestIsolation.memoryMiB(isolation), cpus: GuestIsolation.cpus(isolation),
            planDirectory: KVM.planDirectory(pod: podPath), appRootfses: plans.map(\.rootfs), volumes: shares,
            consoleLog: KVM.consoleLog(pod: podPath), statusSocket: statusListener.path, outputSocket: outputListener.path,
            agentSocket: agentListener.path,
            emulator: emulator, interfaces: interfaces)
        debug("connected to libvirt after \(milliseconds(since: begin)) ms")
        let domain: Domain
        do { domain = try libvirt.start(xml: description.xml) } catch {
            libvirt.close()
            throw error
        }
        startReaper(pidFile: KVM.embedRoot(uuid: request.pod.uuid) + "/run/qemu/" + description.name + ".pid")
        for plan in plans { try? Stage1Files.touch(files.createdPath(app: plan.name)) }
        // `pid`: the process `stop` signals (the outer process when there is one; it forwards).
        if !Containment.isSupervisor { try? Stage1Files.writePID(getpid(), files) }
        _ = lockFD
        debug("domain \(description.name) started after \(milliseconds(since: begin)) ms")

        let channels = GuestChannels(status: statusListener, output: outputListener, agent: agentListener, control: controlListener)
        var supervisor = Supervision(domain: domain, channels: channels, files: files, apps: plans.map(\.name), begin: begin,
                                     interactive: run.interactive, stdinIsTerminal: stdinIsTerminal)
        // The user's terminal in raw mode while the app has the guest's pty (which does the line
        // editing and turns ^C into SIGINT there).
        let terminal = stdinIsTerminal ? RawTerminal() : nil
        let outcome = supervisor.run(signals: &handled)
        terminal?.restore()
        domain.destroy()
        libvirt.close()
        debug("pod ended after \(milliseconds(since: begin)) ms")
        switch outcome {
        case .exited(let status):
            exit(status)
        case .failed(let error):
            if let tail = consoleTail(podPath) { writeStderr("stage1-kvm: the guest console ended with:\n\(tail)\n") }
            error.exit(for: .run)
        }
    }

    /// Reaps QEMU the moment it exits, on a thread of its own. QEMU is our child once libvirt's
    /// launcher has exited (we are its reaper), and libvirt, when the guest powers off, holds the
    /// domain's lock until QEMU is gone: a reaper on the supervisor's loop would block behind that
    /// lock (virDomainIsActive) and the shutdown would wait for libvirt's kill timeout.
    static func startReaper(pidFile: String) {
        guard let data = readFile(pidFile),
              let pid = pid_t(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0
        else {
            debug("no QEMU pid file \(pidFile); QEMU is reaped by the loop only")
            return
        }
        debug("QEMU is pid \(pid)")
        Thread {
            var attempts = 0
            while true {
                var status: Int32 = 0
                let reaped = waitpid(pid, &status, 0)
                if reaped == pid { return }
                if reaped < 0 && errno == EINTR { continue }
                // ECHILD: not reparented to us yet (or already reaped by the loop).
                attempts += 1
                if attempts > 500 { return }
                usleep(10_000)
            }
        }.start()
    }

    /// Refuses what this slice does not do (stage0 checks the features first; this is the backstop).
    static func check(_ run: RunPayload) throws(Stage1Error) {
        func unsupported(_ feature: String, _ details: String) -> Stage1Error {
            Stage1Error(code: .unsupported, msg: "unsupported feature \(feature)", details: details)
        }
        // run.net: PodNetwork.join refuses `host` and needs a namespace for the CNI modes.
        if run.interactive && run.apps.count != 1 { throw unsupported("interactive", "an interactive pod has exactly one app") }
        if run.privateUsers != nil { throw unsupported("private-users", "run.privateUsers is set") }
        if run.mdsToken != nil { throw unsupported("metadata-service", "run.mdsToken is set") }
        if run.ipc != .auto { throw unsupported("ipc-modes", "run.ipc is \"\(run.ipc.rawValue)\": the VM always has its own IPC") }
        for app in run.apps {
            guard !app.name.isEmpty, app.name != ".", app.name != "..", !app.name.contains("/"), !app.name.contains("\0"),
                  !app.name.contains("\n"), !app.name.contains(" ")
            else { throw Stage1Error(code: .invalidRequest, msg: "\"\(app.name)\" is not a valid app name") }
        }
        guard run.apps.count <= 32 else { throw unsupported("multiple-apps", "stage1-kvm runs at most 32 apps per pod") }
    }

    /// The last lines of the guest console, for errors.
    static func consoleTail(_ podPath: String) -> String? {
        guard let data = readFile(KVM.consoleLog(pod: podPath)), !data.isEmpty else { return nil }
        let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
        return lines.suffix(15).joined(separator: "\n")
    }
}

func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}

func milliseconds(since start: Double) -> Int { Int((monotonicSeconds() - start) * 1000) }

/// The plan directory the guest mounts read-only (9p tag `rkt.plan`); GuestInit/init.c reads it.
enum GuestPlan {
    static func write(_ plans: [AppPlan], shares: [VolumeShare], hostname: String, interactive: Bool = false,
                      terminal: (rows: Int, columns: Int)? = nil, to directory: String) throws(Stage1Error) {
        try makeDirectories(directory)
        func put(_ name: String, _ text: String) throws(Stage1Error) { try Stage1Files.write(Data(text.utf8), to: directory + "/" + name) }
        func nulTerminated(_ strings: [String]) -> String { strings.map { $0 + "\0" }.joined() }
        try put("apps", plans.map { $0.name + "\n" }.joined())
        try put("hostname", hostname + "\n")
        // `interactive`: "ROWS COLS" for our terminal's size, "pipe" when our stdin is not a terminal.
        let mode = interactive ? terminal.map { "\($0.rows) \($0.columns)\n" } ?? "pipe\n" : nil
        try Stage1Files.write(mode.map { Data($0.utf8) }, orRemove: directory + "/interactive")
        for plan in plans {
            if plan.exec.contains(where: { $0.contains("\0") }) {
                throw Stage1Error(code: .invalidRequest, msg: "the exec of app \(plan.name) contains a NUL byte")
            }
            try put(plan.name + ".exec", nulTerminated(plan.exec))
            try put(plan.name + ".env", nulTerminated(plan.environment.map { $0.name + "=" + $0.value }))
            try put(plan.name + ".workdir", plan.workingDirectory + "\n")
            try put(plan.name + ".uid", "\(plan.uid)\n")
            try put(plan.name + ".gid", "\(plan.gid)\n")
            try put(plan.name + ".groups", plan.supplementaryGIDs.map(String.init).joined(separator: " ") + "\n")
            // `<tag> <ro|rw> <path>` lines, parents before children; the path is last (it may hold spaces).
            let mounts = shares.filter { $0.app == plan.name }
                .sorted { $0.path.split(separator: "/").count < $1.path.split(separator: "/").count }
            if mounts.contains(where: { $0.path.contains("\n") || $0.path.contains("\0") }) {
                throw Stage1Error(code: .invalidRequest, msg: "a mount path of app \(plan.name) contains a newline or NUL")
            }
            try put(plan.name + ".mounts", mounts.map { "\($0.tag) \($0.readOnly ? "ro" : "rw") \($0.path)\n" }.joined())
        }
    }
}

/// A listening unix socket QEMU connects to (the channels are `mode='connect'` on its side, so
/// nothing the guest writes before we read is lost: it waits in the socket).
struct UnixListener {
    let path: String
    let fd: Int32

    /// The `sockaddr_un` for `path` (the listener's and the enter client's), refusing paths the
    /// kernel would truncate.
    static func address(_ path: String) throws(Stage1Error) -> sockaddr_un {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw Stage1Error(code: .ioFailure, msg: "the socket path \(path) is too long for a unix socket")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in bytes.enumerated() { raw[i] = b }
        }
        return address
    }

    init(path: String, backlog: Int32 = 1) throws(Stage1Error) {
        self.path = path
        unlink(path)
        var address = try UnixListener.address(path)
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw systemError("socket", path) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let code = errno
            Glibc.close(fd)
            throw systemError("bind", path, code)
        }
        self.fd = fd
    }
}

/// One volume mount shared with the guest.
struct VolumeShare {
    var app: String
    var tag: String
    var source: String
    var path: String
    var readOnly: Bool
}
