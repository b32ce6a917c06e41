import CFly
import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// `run`: one app, chrooted into its rootfs, in the host's namespaces. This process stays the
/// app's parent: it keeps the pod lock, forwards SIGTERM/SIGINT/SIGHUP/SIGQUIT, waits, and
/// records the app's exit status.
enum RunCommand {
    static func execute(_ request: Stage1Request, _ run: RunPayload) throws(Stage1Error) -> Never {
        try check(run)
        let app = run.apps[0]
        let lockFD = try PodLock.keep(run)

        let podPath = try canonicalPath(request.pod.path)
        let files = PodFiles(podPath: podPath, stage1Rootfs: try canonicalPath(request.pod.stage1Rootfs))
        guard isDirectory(app.rootfs) else {
            throw Stage1Error(code: .invalidRequest, msg: "the rootfs of app \(app.name) does not exist", details: app.rootfs)
        }
        let rootfs = try canonicalPath(app.rootfs)
        // /dev, /proc and /sys are bound into the rootfs recursively: a rootfs below one of them
        // (a data directory on /dev/shm) would receive a copy of itself, and of every earlier pod's
        // mounts with it, so the mount table would grow without bound.
        for directory in ["/dev", "/proc", "/sys"] where rootfs.hasPrefix(directory + "/") {
            throw Stage1Error(
                code: .invalidRequest,
                msg: "the rootfs of app \(app.name) is below \(directory), which stage1-fly binds into it recursively: use a data directory outside \(directory)",
                details: rootfs)
        }
        let podManifest = try AppConfig.readPodManifest(request.pod.manifestPath)
        let plan = try AppConfig.plan(app: app, rootfs: rootfs, pod: podManifest)
        debug("app \(app.name): exec \(plan.exec), uid \(plan.uid), gid \(plan.gid), wd \(plan.workingDirectory)")

        // rkt/env/<app> first: it also checks the environment can be passed at all.
        for directory in [files.statusDirectory, files.envDirectory, Fly.stateDirectory(pod: podPath)] {
            try makeDirectories(directory)
        }
        try Stage1Files.writeEnvironment(plan.environment, app: app.name, files)
        // A pod is run once; should it be run again, drop the mounts of the previous run first.
        let statePath = Fly.statePath(pod: podPath, app: app.name)
        if let previous = readJSON(FlyAppState.self, from: statePath) {
            FlyMounts.unmountApp(rootfs: rootfs, including: previous.selfBound)
        }
        let selfBound = !isMountPoint(rootfs)
        let state = FlyAppState(
            podPath: podPath, rootfs: rootfs, workingDirectory: plan.workingDirectory, uid: plan.uid, gid: plan.gid,
            supplementaryGIDs: plan.supplementaryGIDs, selfBound: selfBound)
        try writeJSON(state, to: statePath)
        do {
            try mountAll(plan, podPath: podPath, selfBind: selfBound)
        } catch {
            FlyMounts.unmountApp(rootfs: rootfs, including: selfBound)
            throw error
        }
        try Stage1Files.touch(files.createdPath(app: app.name))

        // Signals are taken synchronously with sigwaitinfo: block them before the fork so none is
        // lost; the child restores the original mask before exec.
        var waited = sigset_t()
        sigemptyset(&waited)
        for signal in [SIGCHLD, SIGTERM, SIGINT, SIGHUP, SIGQUIT] { sigaddset(&waited, signal) }
        var original = sigset_t()
        sigprocmask(SIG_BLOCK, &waited, &original)

        let pid: pid_t
        do {
            pid = try spawn(plan, interactive: run.interactive, mask: &original, files: files)
        } catch {
            // Nothing runs: undo the mounts now rather than leave them to gc.
            FlyMounts.unmountApp(rootfs: rootfs, including: selfBound)
            throw error
        }
        _ = lockFD
        do {
            try Stage1Files.writePID(pid, files)
            try Stage1Files.touch(files.startedPath(app: app.name))
        } catch {
            writeStderr("stage1-fly: warning: \(error.msg)\n")
        }
        debug("app \(app.name) started as pid \(pid)")

        let status = wait(for: pid, signals: &waited)
        debug("app \(app.name) exited with status \(status.value)")
        do { try Stage1Files.writeStatus(status, app: app.name, files) } catch {
            writeStderr("stage1-fly: warning: \(error.msg)\n")
        }
        exit(status.value)
    }

    /// Whether the app's rootfs is a mount point already (stage0's overlay) or must be bound onto
    /// itself. statx answers in microseconds; parsing /proc/self/mountinfo took about 5 ms with
    /// a hundred mounts, so it is only the fallback for kernels older than 5.8.
    static func isMountPoint(_ path: String) -> Bool {
        switch cfly_is_mount_root(path) {
        case 1: return true
        case 0: return false
        default: return MountInfo.isMountPoint(path)
        }
    }

    /// Refuses what fly does not do (stage0 checks the features first; this is the backstop).
    static func check(_ run: RunPayload) throws(Stage1Error) {
        func unsupported(_ feature: String, _ details: String) -> Stage1Error {
            Stage1Error(code: .unsupported, msg: "unsupported feature \(feature)", details: details)
        }
        guard run.apps.count == 1 else {
            throw unsupported("multiple-apps", "stage1-fly runs exactly one app; the request has \(run.apps.count) apps")
        }
        guard run.net == .host else {
            throw unsupported(
                "networks", "run.net is \"\(run.net.rawValue)\": stage1-fly runs the app in the host's network namespace and needs net host (rkt run --net=host)")
        }
        if run.privateUsers != nil { throw unsupported("private-users", "stage1-fly has no user namespace") }
        if run.hostname != nil { throw unsupported("hostname", "stage1-fly shares the host's UTS namespace") }
        if run.mdsToken != nil { throw unsupported("metadata-service", "run.mdsToken is set") }
        if run.ipc != .auto && run.ipc != .parent {
            throw unsupported("ipc-modes", "run.ipc is \"\(run.ipc.rawValue)\": stage1-fly shares the host's IPC namespace")
        }
        if run.dns.mode != .default && run.dns.mode != .none {
            throw unsupported("dns", "run.dns.mode is \"\(run.dns.mode.rawValue)\": stage1-fly leaves the image's /etc/resolv.conf alone")
        }
        if run.hostsMode != .default {
            throw unsupported("hosts", "run.hostsMode is \"\(run.hostsMode.rawValue)\": stage1-fly leaves the image's /etc/hosts alone")
        }
        let app = run.apps[0]
        if let isolators = app.appManifest?.isolators, !isolators.isEmpty {
            throw unsupported("isolators", "app \(app.name) has isolators (\(isolators.map(\.name).joined(separator: ", ")))")
        }
        guard !app.name.isEmpty, app.name != ".", app.name != "..", !app.name.contains("/"), !app.name.contains("\0") else {
            throw Stage1Error(code: .invalidRequest, msg: "\"\(app.name)\" is not a valid app name")
        }
    }

    /// rkt fly's mounts, all in the host mount namespace below the app rootfs: the rootfs bound
    /// onto itself (if it is not a mount point yet) and made rslave, rbinds of /dev, /proc and
    /// /sys, a tmpfs on /tmp, the volumes, and rslave again over everything.
    static func mountAll(_ plan: AppPlan, podPath: String, selfBind: Bool) throws(Stage1Error) {
        let rootfs = plan.rootfs
        if selfBind {
            try mountOrThrow(rootfs, rootfs, nil, Int(MS_BIND) | Int(MS_REC), what: "the rootfs of app \(plan.name) on itself")
        }
        try FlyMounts.makeRecursiveSlave(rootfs)
        for directory in ["/dev", "/proc", "/sys"] {
            let target = try RootPath.resolve(root: rootfs, path: directory, create: .directory)
            try FlyMounts.bind(source: directory, target: target, recursive: true, readOnly: false, what: directory)
        }
        try FlyMounts.tmpfs(target: try RootPath.resolve(root: rootfs, path: "/tmp", create: .directory), what: "/tmp")

        for mount in VolumeMount.parentsFirst(plan.mounts) {
            let volume = mount.volume
            let (source, recursive) = try mount.hostSource(podPath: podPath)
            let target = try RootPath.resolve(root: rootfs, path: mount.path, create: isDirectory(source) ? .directory : .file)
            debug("volume \(volume.name): \(source) on \(target)\(mount.readOnly ? " (ro)" : "")\(recursive ? " (rec)" : "")")
            try FlyMounts.bind(
                source: source, target: target, recursive: recursive, readOnly: mount.readOnly,
                what: "volume \(volume.name) on \(mount.path)")
        }
        try FlyMounts.makeRecursiveSlave(rootfs)
    }

    static func spawn(_ plan: AppPlan, interactive: Bool, mask: inout sigset_t, files: PodFiles) throws(Stage1Error) -> pid_t {
        let argv = CStringArray(plan.exec)
        let paths = CStringArray(plan.execCandidates)
        let envp = CStringArray(plan.environment.map { $0.name + "=" + $0.value })
        let root = strdup(plan.rootfs), workdir = strdup(plan.workingDirectory)
        defer {
            argv.free(); paths.free(); envp.free()
            free(root); free(workdir)
        }
        var pid: pid_t = -1, step: Int32 = 0, code: Int32 = 0, index: Int32 = -1
        let groups = plan.supplementaryGIDs.map { gid_t($0) }
        let result: Int32 = argv.pointers.withUnsafeBufferPointer { argvBuffer in
            paths.pointers.withUnsafeBufferPointer { pathsBuffer in
                envp.pointers.withUnsafeBufferPointer { envpBuffer in
                    groups.withUnsafeBufferPointer { groupsBuffer in
                        withUnsafePointer(to: &mask) { maskPointer in
                            var args = cfly_spawn_args(
                                root: root, workdir: workdir, argv: argvBuffer.baseAddress, paths: pathsBuffer.baseAddress,
                                envp: envpBuffer.baseAddress, uid: plan.uid, gid: plan.gid,
                                groups: groupsBuffer.baseAddress, ngroups: groups.count,
                                stdin_null: interactive ? 0 : 1, mask: maskPointer)
                            return cfly_spawn(&args, &pid, &step, &code, &index)
                        }
                    }
                }
            }
        }
        if result == 0 { return pid }

        let failed = UInt32(step)
        if failed == CFLY_STEP_EXEC.rawValue {
            // The app could not start: rkt's one-line message, a status file, the status as exit code.
            var name = plan.exec[0]
            if name.contains("/"), index >= 0, Int(index) < plan.execCandidates.count { name = plan.execCandidates[Int(index)] }
            writeStderr("Error: Unable to open \"\(name)\": \(errnoString(code))\n")
            let status: Int32 = (code == ENOENT || code == ENOTDIR) ? 127 : 126
            try? Stage1Files.writeStatus(.exited(status), app: plan.name, files)
            exit(status)
        }
        let what: String
        switch failed {
        case CFLY_STEP_FORK.rawValue: what = "cannot fork"
        case CFLY_STEP_STDIN.rawValue: what = "cannot open /dev/null for the app's stdin"
        case CFLY_STEP_CHROOT.rawValue: what = "cannot chroot into \(plan.rootfs)"
        case CFLY_STEP_CHDIR.rawValue: what = "cannot change to the working directory \"\(plan.workingDirectory)\" of app \(plan.name)"
        case CFLY_STEP_SETGROUPS.rawValue: what = "cannot set the supplementary groups \(plan.supplementaryGIDs) of app \(plan.name)"
        case CFLY_STEP_SETGID.rawValue: what = "cannot set gid \(plan.gid) for app \(plan.name)"
        case CFLY_STEP_SETUID.rawValue: what = "cannot set uid \(plan.uid) for app \(plan.name)"
        default: what = "cannot set the parent-death signal of app \(plan.name)"
        }
        throw Stage1Error(code: .ioFailure, msg: "\(what): \(errnoString(code))", details: "errno \(code)")
    }

    /// Waits for the app, forwarding the termination signals this process receives. A signal the
    /// terminal sent (si_code SI_KERNEL) already reached the app, which is in our process group.
    static func wait(for pid: pid_t, signals: inout sigset_t) -> AppExitStatus {
        let siKernel: Int32 = 0x80
        while true {
            var status: Int32 = 0
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { return AppExitStatus(waitStatus: status) }
            if reaped < 0 && errno != EINTR {
                writeStderr("stage1-fly: waitpid \(pid): \(errnoString(errno))\n")
                return .exited(254)
            }
            var info = siginfo_t()
            let signal = sigwaitinfo(&signals, &info)
            if signal < 0 || signal == SIGCHLD { continue }
            if info.si_code == siKernel { continue }
            debug("forwarding signal \(signal) to pid \(pid)")
            kill(pid, signal)
        }
    }
}
