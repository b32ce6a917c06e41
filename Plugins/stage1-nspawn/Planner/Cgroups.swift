import CNspawn
import Foundation
import Glibc
import Stage1Kit
import Stage1Protocol

/// One mounted cgroup hierarchy: v1 (named by its controllers) or the v2 unified one.
struct CgroupHierarchy: Equatable {
    /// `memory`, `cpu,cpuacct`, … for v1; `unified` for v2.
    var name: String
    var controllers: [String]
    var mountPoint: String
    var isV2: Bool
    /// Where this process sits in the hierarchy (from /proc/self/cgroup), e.g. `/` or `/user.slice`.
    var ownPath: String

    /// The v1 controllers a pod gets cgroups in. cpuset is left out: a new v1 cpuset cgroup has no
    /// CPUs until someone copies them in, and rkt's isolators do not use it.
    static let v1Controllers: Set<String> = ["memory", "cpu", "cpuacct", "pids", "blkio", "freezer", "devices"]

    /// The hierarchies of this host that pods use: where this process sits in each (from
    /// /proc/self/cgroup) under the standard mount points, told apart with statfs. Reading
    /// /proc/self/mountinfo instead costs milliseconds on a host with many mounts.
    static func discover(root: String = "/sys/fs/cgroup") -> [CgroupHierarchy] {
        guard let cgroupFile = readFile("/proc/self/cgroup") else { return [] }
        var v1: [(controllers: String, path: String)] = []
        var v2Path: String?
        for line in String(decoding: cgroupFile, as: UTF8.self).split(separator: "\n") {
            let f = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard f.count == 3 else { continue }
            if f[0] == "0" && f[1].isEmpty { v2Path = String(f[2]) } else if !f[1].isEmpty, !f[1].hasPrefix("name=") { v1.append((String(f[1]), String(f[2]))) }
        }
        func isCgroup2(_ path: String) -> Bool { rkt_nspawn_is_cgroup2(path) == 1 }
        if isCgroup2(root) {
            // A cgroup v2 host: one hierarchy, holding every controller.
            guard let v2Path else { return [] }
            return [CgroupHierarchy(name: "", controllers: [], mountPoint: root, isV2: true, ownPath: v2Path)]
        }
        var out: [CgroupHierarchy] = []
        for (controllers, path) in v1 {
            let wanted = controllers.split(separator: ",").map(String.init).filter { v1Controllers.contains($0) }
            let mountPoint = root + "/" + controllers
            guard !wanted.isEmpty, isDirectory(mountPoint) else { continue }
            out.append(CgroupHierarchy(name: controllers, controllers: wanted, mountPoint: mountPoint, isV2: false, ownPath: path))
        }
        if let v2Path, isCgroup2(root + "/unified") {
            out.append(CgroupHierarchy(name: "unified", controllers: [], mountPoint: root + "/unified", isV2: true, ownPath: v2Path))
        }
        return out
    }

    func podDirectory(uuid: String) -> String {
        let base = ownPath == "/" ? mountPoint : mountPoint + ownPath
        return base + "/rkt-" + uuid
    }
}

/// The pod's cgroups: `rkt-<uuid>` below the cgroup stage0 ran in, with one child per app. Every
/// app gets one in the v2 hierarchy (it is born there, see rkt-pod-init), which tracks its
/// processes; a v1 hierarchy is used only for the controllers whose limits an app has, because
/// moving a process into a v1 cgroup costs an RCU grace period (about 20 ms here).
struct PodCgroups {
    var hierarchies: [CgroupHierarchy]
    var uuid: String
    /// Per app, the v1 hierarchies (by name) it joins.
    private(set) var joins: [String: [CgroupHierarchy]] = [:]

    init(hierarchies: [CgroupHierarchy], uuid: String) {
        self.hierarchies = hierarchies
        self.uuid = uuid
    }

    /// The name written to the pod's `subcgroup` file.
    var subcgroup: String { "rkt-" + uuid }

    var unified: CgroupHierarchy? { hierarchies.first { $0.isV2 } }
    /// Whether limits go to v1 controllers (hybrid and v1 hosts) or to the unified hierarchy.
    var limitsInV1: Bool { hierarchies.contains { !$0.isV2 } }

    /// The directories `gc` removes.
    var podDirectories: [String] {
        var used = Set(joins.values.flatMap { $0.map(\.mountPoint) })
        if let unified { used.insert(unified.mountPoint) }
        return hierarchies.filter { used.contains($0.mountPoint) }.map { $0.podDirectory(uuid: uuid) }
    }

    func appDirectory(_ hierarchy: CgroupHierarchy, app: String) -> String { hierarchy.podDirectory(uuid: uuid) + "/" + app }

    /// Creates the pod's and the apps' directories: in the unified hierarchy for every app, and in
    /// the v1 hierarchies holding `controllers[app]`. A hierarchy where that fails is skipped with
    /// a warning (rkt: a missing controller is a warning, not an error).
    mutating func create(apps: [String], controllers: [String: Set<String>]) {
        var unusable = Set<String>()
        func make(_ hierarchy: CgroupHierarchy, app: String) -> Bool {
            if unusable.contains(hierarchy.mountPoint) { return false }
            let pod = hierarchy.podDirectory(uuid: uuid)
            var ok = mkdir(pod, 0o755) == 0 || errno == EEXIST
            if ok, hierarchy.isV2, !limitsInV1 { enableV2Controllers(pod) }
            ok = ok && (mkdir(pod + "/" + app, 0o755) == 0 || errno == EEXIST)
            if !ok {
                unusable.insert(hierarchy.mountPoint)
                writeStderr("\(Nspawn.name): warning: cgroup hierarchy \(hierarchy.name) is not usable (\(errnoString(errno))); skipping it\n")
            }
            return ok
        }
        for app in apps {
            if let unified { _ = make(unified, app: app) }
            let wanted = controllers[app] ?? []
            joins[app] = hierarchies.filter { !$0.isV2 && !wanted.isDisjoint(with: $0.controllers) && make($0, app: app) }
        }
        hierarchies.removeAll { unusable.contains($0.mountPoint) }
    }

    /// On a v2 host the apps' limits need the controllers delegated down from the pod's cgroup.
    private func enableV2Controllers(_ pod: String) {
        guard let available = readFile(pod + "/cgroup.controllers") else { return }
        let wanted = String(decoding: available, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
            .filter { ["memory", "cpu", "pids", "io"].contains(String($0)) }
        guard !wanted.isEmpty else { return }
        _ = try? Stage1Files.writeInPlace(wanted.map { "+" + $0 }.joined(separator: " "), to: pod + "/cgroup.subtree_control")
    }

    /// The v1 `cgroup.procs` files the app's process joins.
    func procsFiles(app: String) -> [String] { (joins[app] ?? []).map { appDirectory($0, app: app) + "/cgroup.procs" } }

    /// The app's directory in the unified hierarchy, where it is created.
    func cgroup2Directory(app: String) -> String? { unified.map { appDirectory($0, app: app) } }

    /// The app's cgroups to show inside it, read-only: `/sys/fs/cgroup/<name>`.
    func views(app: String) -> [(hierarchy: String, directory: String)] {
        var out = (joins[app] ?? []).map { ($0.name, appDirectory($0, app: app)) }
        if let unified, let dir = cgroup2Directory(app: app) { out.append((limitsInV1 ? unified.name : "", dir)) }
        return out
    }

    /// Writes `value` to `file` in the app's cgroup of the hierarchy holding `controller` (v1), or
    /// in its unified one. Returns false when no such hierarchy is usable.
    func write(app: String, controller: String, v2: Bool, file: String, value: String) throws(Stage1Error) -> Bool {
        let hierarchy = v2 ? unified : (joins[app] ?? []).first { $0.controllers.contains(controller) }
        guard let hierarchy else { return false }
        try Stage1Files.writeInPlace(value, to: appDirectory(hierarchy, app: app) + "/" + file)
        return true
    }

    /// Kills whatever is still in the pod's cgroups and removes them, deepest first. Idempotent.
    static func remove(directories: [String]) -> [String] {
        var failures: [String] = []
        for pod in directories {
            guard isDirectory(pod) else { continue }
            let children = ((try? FileManager.default.contentsOfDirectory(atPath: pod)) ?? []).filter { isDirectory(pod + "/" + $0) }
            for directory in children.map({ pod + "/" + $0 }) + [pod] {
                for attempt in 0..<50 {
                    killAll(in: directory)
                    if rmdir(directory) == 0 || errno == ENOENT { break }
                    if errno != EBUSY || attempt == 49 {
                        failures.append("\(directory): \(errnoString(errno))")
                        break
                    }
                    usleep(10_000)
                }
            }
        }
        return failures
    }

    private static func killAll(in directory: String) {
        guard let data = readFile(directory + "/cgroup.procs") else { return }
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            if let pid = pid_t(line) { kill(pid, SIGKILL) }
        }
    }
}
