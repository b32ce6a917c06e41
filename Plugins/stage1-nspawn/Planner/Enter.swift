import Foundation
import Glibc
import Stage1Kit
import Stage1Protocol

/// `enter`: runs a command in a running app, with everything `run` applied to the app: its
/// namespaces (its own mount namespace included), cgroups, user, groups, bounding set,
/// no_new_privs and seccomp filter (rkt's CVE-2019-10144/10145/10147 came from skipping these).
/// The work is done by `rkt-pod-init --enter`: joining a mount namespace needs a single-threaded
/// process, and a PID namespace applies only to children.
enum EnterCommand {
    /// The command when the request has none (stage0 always sends one).
    static let defaultCommand = ["/bin/sh"]

    static func execute(_ request: Stage1Request, _ enter: EnterPayload) throws(Stage1Error) -> Never {
        let app = enter.appName
        let notRunning = { (details: String) in Stage1Error(code: .podNotRunning, msg: "the pod is not running", details: details) }
        guard !app.isEmpty, app != ".", app != "..", !app.contains("/") else {
            throw Stage1Error(code: .podNotRunning, msg: "app \"\(app)\" is not in this pod")
        }
        guard enter.pid > 0, kill(enter.pid, 0) == 0 else { throw notRunning("process \(enter.pid) does not exist") }
        let podPath: String
        do { podPath = try canonicalPath(request.pod.path) } catch { throw notRunning("\(request.pod.path): \(error.msg)") }
        let files = PodFiles(podPath: podPath, stage1Rootfs: request.pod.stage1Rootfs)
        guard let state = readJSON(NspawnAppState.self, from: Nspawn.statePath(pod: podPath, app: app)),
              let environmentData = readFile(files.envPath(app: app))
        else {
            throw Stage1Error(code: .podNotRunning, msg: "app \(app) is not running in this pod", details: "stage1-nspawn did not start it")
        }
        if readFile(files.statusPath(app: app)) != nil {
            throw Stage1Error(code: .podNotRunning, msg: "app \(app) has exited")
        }
        guard let appPID = appProcess(initPID: enter.pid, app: app, podPath: podPath) else {
            throw Stage1Error(code: .podNotRunning, msg: "app \(app) is not running in this pod", details: "no process of it under pid \(enter.pid)")
        }

        var environment: [String] = []
        var path = AppConfig.defaultPath
        for line in String(decoding: environmentData, as: UTF8.self).split(separator: "\n") where line.contains("=") {
            environment.append(String(line))
            if line.hasPrefix("PATH=") { path = String(line.dropFirst(5)) }
        }
        let command = enter.command.isEmpty ? defaultCommand : enter.command
        var plan = PlanWriter()
        plan.record("enter-pid", String(appPID))
        plan.record("app", app)
        plan.record("rootfs", "/")
        plan.list("argv", command)
        plan.list("paths", AppConfig.execCandidates(command[0], path: path))
        plan.list("env", environment)
        plan.record("cwd", state.workingDirectory)
        plan.record("uid", String(state.uid))
        plan.record("gid", String(state.gid))
        plan.list("groups", state.supplementaryGIDs.map(String.init))
        for procs in state.cgroupProcs where fileExists(procs) { plan.record("cgroup", procs) }
        if let directory = state.cgroup2, isDirectory(directory) { plan.record("cgroup2", directory) }
        if let oom = state.oomScoreAdj { plan.record("oom", String(oom)) }
        if let caps = state.capabilities { plan.record("caps", caps) }
        if state.noNewPrivileges { plan.record("nnp") }
        if let seccomp = state.seccompFile { plan.record("seccomp", seccomp) }
        let planPath = Nspawn.stateDirectory(pod: podPath) + "/enter-\(getpid())"
        try plan.write(to: planPath)
        debug("enter \(app) (pid \(appPID)): \(command)")

        let initPath = try Nspawn.initPath()
        let argv = CStringArray([initPath, "--enter", planPath])
        let envp = CStringArray(["PATH=/usr/sbin:/usr/bin:/sbin:/bin"])
        argv.pointers.withUnsafeBufferPointer { a in
            envp.pointers.withUnsafeBufferPointer { e in
                _ = execve(initPath, a.baseAddress!, e.baseAddress!)
            }
        }
        let code = errno
        unlink(planPath)
        throw systemError("execve", initPath, code)
    }

    /// The host pid of the app's main process: a child of the pod's init whose pid in the pod's
    /// PID namespace (the last `NSpid` field) is the one init recorded.
    static func appProcess(initPID: pid_t, app: String, podPath: String) -> pid_t? {
        guard let text = readFile(Nspawn.stateDirectory(pod: podPath) + "/" + app + ".pid"),
              let inPod = Int32(String(decoding: text, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)),
              let children = readFile("/proc/\(initPID)/task/\(initPID)/children")
        else { return nil }
        for field in String(decoding: children, as: UTF8.self).split(separator: " ") {
            guard let child = pid_t(field.trimmingCharacters(in: .whitespacesAndNewlines)),
                  let status = readFile("/proc/\(child)/status")
            else { continue }
            for line in String(decoding: status, as: UTF8.self).split(separator: "\n") where line.hasPrefix("NSpid:") {
                if let last = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).last, Int32(last) == inPod { return child }
            }
        }
        return nil
    }
}
