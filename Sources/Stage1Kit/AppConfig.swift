import Foundation
import Glibc
import Stage1Protocol

// MARK: appc manifests (only the members the plugins need; unknown members are ignored)

public struct PodManifestFile: Decodable {
    public var apps: [PodApp]?
    public var volumes: [Volume]?
}

public struct PodApp: Decodable {
    public var name: String
    public var app: ResolvedApp?
    public var mounts: [PodMount]?
    public var readOnlyRootFS: Bool?
}

public struct PodMount: Decodable {
    public var volume: String
    public var path: String
    public var appVolume: Volume?
}

public struct Volume: Decodable {
    public var name: String
    public var kind: String
    public var source: String?
    public var readOnly: Bool?
    public var recursive: Bool?
    public var mode: String?
    public var uid: Int?
    public var gid: Int?
}

public struct ImageManifestFile: Decodable {
    public var app: ResolvedApp?
}

/// One mount of a volume into the app, after rkt's `GenerateMounts` rules.
public struct VolumeMount {
    public var volume: Volume
    /// The mount target inside the app.
    public var path: String
    public var readOnly: Bool
}

/// Everything `run` needs to start the app.
public struct AppPlan {
    public var name: String
    public var rootfs: String
    public var exec: [String]
    public var execCandidates: [String]
    public var workingDirectory: String
    public var uid: UInt32
    public var gid: UInt32
    public var supplementaryGIDs: [UInt32]
    public var environment: [NameValue]
    public var mounts: [VolumeMount]
    /// The app's isolators as resolved (stage0's overrides, else the pod's, else the image's).
    public var isolators: [Isolator]
}

public enum AppConfig {
    /// rkt's default PATH, added when the app does not set one.
    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    public static func readPodManifest(_ path: String) throws(Stage1Error) -> PodManifestFile {
        guard let data = readFile(path) else {
            throw Stage1Error(code: .ioFailure, msg: "cannot read the pod manifest \(path)", details: errnoString(errno))
        }
        do {
            return try JSONDecoder().decode(PodManifestFile.self, from: data)
        } catch {
            throw Stage1Error(code: .invalidRequest, msg: "the pod manifest \(path) cannot be parsed", details: "\(error)")
        }
    }

    /// The app as stage0 resolved it, else the pod manifest's app, else the image manifest's.
    public static func resolvedApp(_ app: RunApp, pod: PodManifestFile) throws(Stage1Error) -> ResolvedApp {
        if let resolved = app.appManifest { return resolved }
        if let resolved = pod.apps?.first(where: { $0.name == app.name })?.app { return resolved }
        guard let data = readFile(app.imageManifestPath) else {
            throw Stage1Error(code: .ioFailure, msg: "cannot read the image manifest of app \(app.name)", details: app.imageManifestPath)
        }
        let manifest: ImageManifestFile
        do { manifest = try JSONDecoder().decode(ImageManifestFile.self, from: data) } catch {
            throw Stage1Error(code: .invalidRequest, msg: "the image manifest of app \(app.name) cannot be parsed", details: "\(error)")
        }
        guard let resolved = manifest.app else {
            throw Stage1Error(code: .invalidRequest, msg: "app \(app.name) has no app section (no exec)")
        }
        return resolved
    }

    /// rkt's `GenerateMounts`: the pod manifest's mounts of this app (their volume, or their
    /// embedded `appVolume`), then every mount point of the app not mounted yet, matched to a pod
    /// volume by name or, failing that, backed by an implicit `empty` volume `<app>-<mountpoint>`.
    /// `readOnly` is the volume's if set, else the matching mount point's.
    public static func volumeMounts(app: String, resolved: ResolvedApp, pod: PodManifestFile) throws(Stage1Error) -> [VolumeMount] {
        var volumes: [String: Volume] = [:]
        for volume in pod.volumes ?? [] { volumes[volume.name] = volume }
        let mountPoints = resolved.mountPoints ?? []
        var out: [VolumeMount] = []
        var mountedPaths = Set<String>()
        for mount in pod.apps?.first(where: { $0.name == app })?.mounts ?? [] {
            mountedPaths.insert(mount.path)
            guard let volume = mount.appVolume ?? volumes[mount.volume] else {
                throw Stage1Error(code: .invalidRequest, msg: "app \(app) mounts volume \(mount.volume), which the pod manifest does not declare")
            }
            let readOnly = volume.readOnly ?? mountPoints.first(where: { $0.name == mount.volume })?.readOnly ?? false
            out.append(VolumeMount(volume: volume, path: mount.path, readOnly: readOnly))
        }
        for mountPoint in mountPoints where !mountedPaths.contains(mountPoint.path) {
            if let volume = volumes[mountPoint.name] {
                out.append(VolumeMount(volume: volume, path: mountPoint.path, readOnly: volume.readOnly ?? mountPoint.readOnly ?? false))
            } else {
                writeStderr("\(Stage1Kit.pluginName): warning: no volume specified for mount point \"\(mountPoint.name)\", implicitly creating an \"empty\" volume. This volume will be removed when the pod is garbage-collected.\n")
                let volume = Volume(name: app + "-" + mountPoint.name, kind: "empty", mode: "0755", uid: 0, gid: 0)
                out.append(VolumeMount(volume: volume, path: mountPoint.path, readOnly: mountPoint.readOnly ?? false))
            }
        }
        for mount in out where mount.volume.kind != "host" && mount.volume.kind != "empty" {
            throw Stage1Error(code: .unsupported, msg: "volume \(mount.volume.name) has kind \"\(mount.volume.kind)\"; \(Stage1Kit.pluginName) supports host and empty")
        }
        return out
    }

    public static func plan(app: RunApp, rootfs: String, pod: PodManifestFile) throws(Stage1Error) -> AppPlan {
        let resolved = try resolvedApp(app, pod: pod)
        guard let exec = resolved.exec, let first = exec.first, !first.isEmpty else {
            throw Stage1Error(code: .invalidRequest, msg: "app \(app.name) has no exec")
        }
        let users = UserDatabase(rootfs: rootfs)
        let (uid, passwd) = try users.uid(resolved.user, app: app.name)
        let gid = try users.gid(resolved.group, app: app.name)
        var supplementary: [UInt32] = []
        for value in resolved.supplementaryGIDs ?? [] {
            guard value >= 0, value <= Int(UInt32.max) else {
                throw Stage1Error(code: .invalidRequest, msg: "app \(app.name) has an invalid supplementary GID \(value)")
            }
            supplementary.append(UInt32(value))
        }
        var workingDirectory = resolved.workingDirectory ?? "/"
        if workingDirectory.isEmpty { workingDirectory = "/" }
        if !workingDirectory.hasPrefix("/") { workingDirectory = "/" + workingDirectory }

        let environment = composeEnvironment(
            app: app.name, given: resolved.environment ?? [], uid: uid, userName: resolved.user, passwd: passwd)
        let path = environment.last(where: { $0.name == "PATH" })?.value ?? AppConfig.defaultPath
        return AppPlan(
            name: app.name, rootfs: rootfs, exec: exec, execCandidates: execCandidates(first, path: path),
            workingDirectory: workingDirectory, uid: uid, gid: gid, supplementaryGIDs: supplementary,
            environment: environment,
            mounts: try volumeMounts(app: app.name, resolved: resolved, pod: pod),
            isolators: resolved.isolators ?? [])
    }

    /// The app's environment: its variables in order (a later duplicate replaces the value of the
    /// earlier one in place), rkt's defaults for PATH, HOME, USER, LOGNAME and SHELL when missing
    /// (from the user's passwd entry when there is one), and AC_APP_NAME.
    public static func composeEnvironment(app: String, given: [NameValue], uid: UInt32, userName: String, passwd: PasswdEntry?)
        -> [NameValue]
    {
        var out: [NameValue] = []
        var index: [String: Int] = [:]
        func set(_ name: String, _ value: String, override: Bool) {
            if let i = index[name] {
                if override { out[i].value = value }
            } else {
                index[name] = out.count
                out.append(NameValue(name: name, value: value))
            }
        }
        for variable in given { set(variable.name, variable.value, override: true) }
        let name = passwd?.name ?? (uid == 0 ? "root" : userName)
        set("PATH", AppConfig.defaultPath, override: false)
        set("HOME", passwd?.home ?? (uid == 0 ? "/root" : "/"), override: false)
        set("USER", name, override: false)
        set("LOGNAME", name, override: false)
        set("SHELL", passwd.map { $0.shell.isEmpty ? "/bin/sh" : $0.shell } ?? "/bin/sh", override: false)
        set("AC_APP_NAME", app, override: true)
        return out
    }

    /// Where to look for `command` inside the rootfs: itself when it contains a `/`, else each
    /// directory of `path` (an empty entry is the working directory), as execvp does.
    public static func execCandidates(_ command: String, path: String) -> [String] {
        if command.contains("/") { return [command] }
        let directories = path.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        let candidates = directories.map { ($0.isEmpty ? "." : $0) + "/" + command }
        return candidates.isEmpty ? [command] : candidates
    }
}

public struct PasswdEntry {
    public var name: String
    public var uid: UInt32
    public var gid: UInt32
    public var home: String
    public var shell: String
}

/// Users and groups of the app's image (`/etc/passwd`, `/etc/group` inside its rootfs), never the host's.
public struct UserDatabase {
    public var rootfs: String

    private func lines(_ file: String) -> [[String]] {
        guard let path = try? RootPath.resolve(root: rootfs, path: file), let data = readFile(path) else { return [] }
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            if line.hasPrefix("#") { return nil }
            return line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
        }
    }

    public func passwd() -> [PasswdEntry] {
        lines("/etc/passwd").compactMap { f in
            guard f.count >= 7, let uid = UInt32(f[2]), let gid = UInt32(f[3]) else { return nil }
            return PasswdEntry(name: f[0], uid: uid, gid: gid, home: f[5], shell: f[6])
        }
    }

    /// appc's user forms: a number, a name from the image's /etc/passwd (`root` is 0 without one),
    /// or an absolute path whose owner is the user.
    public func uid(_ user: String, app: String) throws(Stage1Error) -> (UInt32, PasswdEntry?) {
        let entries = passwd()
        if let uid = UInt32(user) { return (uid, entries.first { $0.uid == uid }) }
        if user.hasPrefix("/") { let uid = try owner(of: user, app: app).uid; return (uid, entries.first { $0.uid == uid }) }
        if let entry = entries.first(where: { $0.name == user }) { return (entry.uid, entry) }
        if user == "root" { return (0, nil) }
        throw Stage1Error(
            code: .invalidRequest, msg: "cannot resolve user \"\(user)\" of app \(app)",
            details: "no such user in the image's /etc/passwd")
    }

    public func gid(_ group: String, app: String) throws(Stage1Error) -> UInt32 {
        if let gid = UInt32(group) { return gid }
        if group.hasPrefix("/") { return try owner(of: group, app: app).gid }
        for f in lines("/etc/group") where f.count >= 3 && f[0] == group {
            if let gid = UInt32(f[2]) { return gid }
        }
        if group == "root" { return 0 }
        throw Stage1Error(
            code: .invalidRequest, msg: "cannot resolve group \"\(group)\" of app \(app)",
            details: "no such group in the image's /etc/group")
    }

    private func owner(of path: String, app: String) throws(Stage1Error) -> (uid: UInt32, gid: UInt32) {
        let host = try RootPath.resolve(root: rootfs, path: path)
        var st = stat()
        guard stat(host, &st) == 0 else { throw systemError("stat", host) }
        return (st.st_uid, st.st_gid)
    }
}
