import CNspawn
import Foundation
import Glibc
import Stage1Isolators
import Stage1Kit
import Stage1Protocol

/// `run`: plans the pod, starts rkt-pod-init as PID 1 of new namespaces, records its pid, then
/// becomes `rkt-pod-init --wait` (exec), which holds the pod lock until the pod ends and exits with
/// its status. The planner's own memory is gone once the pod runs.
enum RunCommand {
    static func execute(_ request: Stage1Request, _ run: RunPayload) throws(Stage1Error) -> Never {
        try check(run)
        let lockFD = try PodLock.keep(run)
        let podPath = try canonicalPath(request.pod.path)
        let stage1Rootfs = try canonicalPath(request.pod.stage1Rootfs)
        let files = PodFiles(podPath: podPath, stage1Rootfs: stage1Rootfs)
        let podManifest = try AppConfig.readPodManifest(request.pod.manifestPath)
        let stateDirectory = Nspawn.stateDirectory(pod: podPath)
        for directory in [files.statusDirectory, files.envDirectory, stateDirectory, files.logDirectory] {
            try makeDirectories(directory)
        }
        let initPath = try Nspawn.initPath()
        let hostname = run.hostname ?? "rkt-" + request.pod.uuid

        // Every app's plan and isolators first: they say which cgroups the pod needs.
        var planned: [PlannedApp] = []
        for app in run.apps { planned.append(try PlannedApp(app, run: run, podManifest: podManifest)) }
        var cgroups = PodCgroups(hierarchies: CgroupHierarchy.discover(), uuid: request.pod.uuid)
        var controllers: [String: Set<String>] = [:]
        for app in planned where cgroups.limitsInV1 { controllers[app.name] = app.isolation.v1Controllers }
        cgroups.create(apps: planned.map(\.name), controllers: controllers)
        try writeJSON(NspawnPodState(cgroupDirectories: cgroups.podDirectories), to: stateDirectory + "/pod.json")
        // Without fsync, as every file of a running pod (it does not survive a reboot).
        try Stage1Files.write(Data((cgroups.subcgroup + "\n").utf8), to: files.subcgroupPath)

        var plan = PlanWriter()
        plan.record("hostname", hostname)
        plan.record("stop-timeout", String(Nspawn.stopTimeoutMilliseconds))
        plan.record("ready", files.supervisorStatusPath)
        if run.interactive { plan.record("interactive") }
        let notify = try NotifyChannel.open(run)
        if let notify { plan.record("notify-fd", String(notify.podEnd)) }

        var namespaces = Int32(RKT_NS_MOUNT | RKT_NS_PID | RKT_NS_UTS)
        if run.ipc != .parent { namespaces |= Int32(RKT_NS_IPC) }
        var netnsFD: Int32 = -1
        if let path = run.networkNamespace {
            netnsFD = open(path, O_RDONLY | O_CLOEXEC)
            guard netnsFD >= 0 else {
                throw systemError("open", path, msg: "cannot open the pod's network namespace \(path): \(errnoString(errno))")
            }
            namespaces |= Int32(RKT_NS_NET)
        } else if run.net != .host {
            if run.net != .none {
                writeStderr("\(Nspawn.name): warning: run.net is \"\(run.net.rawValue)\" but stage0 set up no network namespace; the pod gets loopback only\n")
            }
            namespaces |= Int32(RKT_NS_NET)
            plan.record("loopback")
        }

        var apps = PlanWriter()
        for app in planned {
            try addApp(app, run: run, files: files, cgroups: cgroups, hostname: hostname, operations: &plan, apps: &apps)
        }
        let planPath = stateDirectory + "/plan"
        plan.append(apps)
        try plan.write(to: planPath)

        let pid = try cloneInit(initPath, plan: planPath, namespaces: namespaces, netnsFD: netnsFD, debug: request.debug)
        if netnsFD >= 0 { close(netnsFD) }
        notify?.podStarted()
        do { try Stage1Files.writePID(pid, files) } catch {
            writeStderr("\(Nspawn.name): warning: \(error.msg)\n")
        }
        debug("pod init started as pid \(pid)")
        var waiterEnvironment: [String] = []
        if let machine = MachineRegistration(uuid: request.pod.uuid, leader: pid, rootDirectory: stage1Rootfs), Machined.register(machine) {
            waiterEnvironment.append("RKT_MACHINE_NAME=" + machine.name)  // the waiter unregisters it at the end
        }
        // After busctl ran: the waiter's end of the channel is inherited by the waiter only.
        waiterEnvironment += notify?.waiterEnvironment() ?? []
        becomeWaiter(initPath, pid: pid, lockFD: lockFD, environment: waiterEnvironment)
    }

    /// Refuses what this plugin does not do (stage0 checks the features first; this is the backstop).
    static func check(_ run: RunPayload) throws(Stage1Error) {
        guard !run.apps.isEmpty else { throw Stage1Error(code: .invalidRequest, msg: "the pod has no apps") }
        if run.privateUsers != nil {
            throw Stage1Error(code: .unsupported, msg: "unsupported feature private-users", details: "stage1-nspawn has no user namespaces yet")
        }
        if run.mdsToken != nil { throw Stage1Error(code: .unsupported, msg: "unsupported feature metadata-service") }
        if run.interactive && run.apps.count != 1 {
            throw Stage1Error(code: .invalidRequest, msg: "an interactive pod has exactly one app; this one has \(run.apps.count)")
        }
        var seen = Set<String>()
        for app in run.apps {
            guard !app.name.isEmpty, app.name != ".", app.name != "..", !app.name.contains("/"), !app.name.contains("\0") else {
                throw Stage1Error(code: .invalidRequest, msg: "\"\(app.name)\" is not a valid app name")
            }
            guard seen.insert(app.name).inserted else { throw Stage1Error(code: .invalidRequest, msg: "app \(app.name) appears twice") }
        }
    }

    static func addApp(
        _ planned: PlannedApp, run: RunPayload, files: PodFiles, cgroups: PodCgroups, hostname: String,
        operations: inout PlanWriter, apps: inout PlanWriter
    ) throws(Stage1Error) {
        let app = planned.app, appPlan = planned.plan, isolation = planned.isolation, rootfs = appPlan.rootfs
        try Stage1Files.writeEnvironment(appPlan.environment, app: app.name, files)
        try EtcFiles.write(rootfs: rootfs, hostname: hostname, run: run, plan: &operations)

        // Cgroups: limits, and read-only views for the app.
        try isolation.applyLimits(cgroups: cgroups, app: app.name)
        let insecure = Set(run.insecureOptions)
        let options = PodFilesystem.Options(
            readOnlyRootfs: planned.readOnlyRootfs,
            protectPaths: !insecure.contains("paths") && !insecure.contains("all-run"),
            privateIPC: run.ipc != .parent,
            cgroups: cgroups.views(app: app.name),
            appMountsSys: appPlan.mounts.contains { $0.path == "/sys" || $0.path.hasPrefix("/sys/") })
        try PodFilesystem.addMounts(to: &operations, app: appPlan, options: options, podPath: files.podPath)

        let stateDirectory = Nspawn.stateDirectory(pod: files.podPath)
        var seccompFile: String?
        if let bpf = isolation.seccompBPF {
            seccompFile = stateDirectory + "/" + app.name + ".seccomp"
            try Stage1Files.write(Data(bpf), to: seccompFile!)
        }

        apps.record("app", app.name)
        apps.record("rootfs", rootfs)
        var environment = appPlan.environment
        if run.notifySocket != nil {
            let supportsNotify = try NotifyChannel.addApp(app, rootfs: rootfs, stateDirectory: stateDirectory, operations: &operations, apps: &apps)
            environment = SystemdNotify.environment(environment, supportsNotify: supportsNotify)
        }
        apps.list("argv", appPlan.exec)
        apps.list("paths", appPlan.execCandidates)
        apps.list("env", environment.map { $0.name + "=" + $0.value })
        apps.record("cwd", appPlan.workingDirectory)
        apps.record("uid", String(appPlan.uid))
        apps.record("gid", String(appPlan.gid))
        apps.list("groups", appPlan.supplementaryGIDs.map(String.init))
        if !run.interactive { apps.record("log", files.logPath(app: app.name)) }
        apps.record("status", files.statusPath(app: app.name))
        apps.record("created", files.createdPath(app: app.name))
        apps.record("started", files.startedPath(app: app.name))
        apps.record("pidfile", stateDirectory + "/" + app.name + ".pid")
        for procs in cgroups.procsFiles(app: app.name) { apps.record("cgroup", procs) }
        if let directory = cgroups.cgroup2Directory(app: app.name) { apps.record("cgroup2", directory) }
        if let oom = isolation.oomScoreAdj { apps.record("oom", String(oom)) }
        if let caps = isolation.capabilitiesText { apps.record("caps", caps) }
        if isolation.noNewPrivileges { apps.record("nnp") }
        if let seccompFile { apps.record("seccomp", seccompFile) }

        let state = NspawnAppState(
            workingDirectory: appPlan.workingDirectory, uid: appPlan.uid,
            gid: appPlan.gid, supplementaryGIDs: appPlan.supplementaryGIDs, capabilities: isolation.capabilitiesText,
            noNewPrivileges: isolation.noNewPrivileges, seccompFile: seccompFile,
            cgroupProcs: cgroups.procsFiles(app: app.name), cgroup2: cgroups.cgroup2Directory(app: app.name),
            oomScoreAdj: isolation.oomScoreAdj)
        try writeJSON(state, to: Nspawn.statePath(pod: files.podPath, app: app.name))
    }

    static func cloneInit(_ initPath: String, plan: String, namespaces: Int32, netnsFD: Int32, debug: Bool) throws(Stage1Error) -> pid_t {
        let argv = CStringArray([initPath, plan])
        var environment = ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        if debug { environment.append("RKT_DEBUG=1") }
        let envp = CStringArray(environment)
        defer { argv.free(); envp.free() }
        var pid: pid_t = -1, step: Int32 = 0, code: Int32 = 0
        let result = argv.pointers.withUnsafeBufferPointer { a in
            envp.pointers.withUnsafeBufferPointer { e in
                rkt_nspawn_clone_init(namespaces, netnsFD, initPath, a.baseAddress, e.baseAddress, &pid, &step, &code)
            }
        }
        if result == 0 { return pid }
        let what: String
        switch UInt32(step) {
        case RKT_NSPAWN_STEP_CLONE.rawValue: what = "cannot create the pod's namespaces"
        case RKT_NSPAWN_STEP_SETNS.rawValue: what = "cannot join the pod's network namespace"
        case RKT_NSPAWN_STEP_EXEC.rawValue: what = "cannot start the pod supervisor \(initPath)"
        default: what = "cannot create a pipe"
        }
        throw Stage1Error(code: .ioFailure, msg: "\(what): \(errnoString(code))", details: "errno \(code)")
    }

    /// Execs `rkt-pod-init --wait PID`, keeping the pod lock open across the exec.
    /// `environment`: sd_notify and machined settings for the waiter (notify.h, machined.h).
    static func becomeWaiter(_ initPath: String, pid: pid_t, lockFD: Int32?, environment: [String] = []) -> Never {
        if let lockFD { _ = rkt_nspawn_set_cloexec(lockFD, 0) }
        let argv = CStringArray([initPath, "--wait", String(pid)])
        let envp = CStringArray(["PATH=/usr/sbin:/usr/bin:/sbin:/bin"] + environment)
        argv.pointers.withUnsafeBufferPointer { a in
            envp.pointers.withUnsafeBufferPointer { e in
                _ = execve(initPath, a.baseAddress!, e.baseAddress!)
            }
        }
        // Without the waiter, wait here: the pod still runs and its status is ours.
        writeStderr("\(Nspawn.name): warning: cannot exec \(initPath) --wait: \(errnoString(errno)); waiting in the planner\n")
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        exit(AppExitStatus(waitStatus: status).value)
    }
}

/// One app as planned before any cgroup or mount exists: its plan (exec, user, environment,
/// volumes) and its isolators.
struct PlannedApp {
    var app: RunApp
    var plan: AppPlan
    var isolation: AppIsolationPlan
    var readOnlyRootfs: Bool
    var name: String { app.name }

    init(_ app: RunApp, run: RunPayload, podManifest: PodManifestFile) throws(Stage1Error) {
        guard isDirectory(app.rootfs) else {
            throw Stage1Error(code: .invalidRequest, msg: "the rootfs of app \(app.name) does not exist", details: app.rootfs)
        }
        let rootfs = try canonicalPath(app.rootfs)
        self.app = app
        plan = try AppConfig.plan(app: app, rootfs: rootfs, pod: podManifest)
        isolation = try AppIsolationPlan.resolve(plan.isolators, insecureOptions: run.insecureOptions, uid: plan.uid, app: app.name)
        readOnlyRootfs = podManifest.apps?.first(where: { $0.name == app.name })?.readOnlyRootFS ?? false
        debug("app \(app.name): exec \(plan.exec), uid \(plan.uid), gid \(plan.gid), caps \(isolation.capabilitiesText ?? "all"), seccomp \(isolation.seccomp == nil ? "off" : "on")")
    }
}
