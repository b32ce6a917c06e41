import Foundation
import RktTypes

/// What the builder needs to know about one resolved image (one per app, in
/// the order of `RunArguments.apps`).
public struct ImageInput: Sendable {
    /// `sha512-…`.
    public var imageID: String
    public var manifest: ImageManifest
    /// Contents of the image's `/etc/passwd`, if it has one.
    public var passwd: String?
    /// Contents of the image's `/etc/group`, if it has one.
    public var group: String?
    /// Owner of a path inside the image (for users/groups given as paths).
    public var fileOwner: @Sendable (String) -> (uid: UInt32, gid: UInt32)?

    public init(imageID: String, manifest: ImageManifest, passwd: String? = nil, group: String? = nil,
                fileOwner: @escaping @Sendable (String) -> (uid: UInt32, gid: UInt32)? = { _ in nil }) {
        self.imageID = imageID
        self.manifest = manifest
        self.passwd = passwd
        self.group = group
        self.fileOwner = fileOwner
    }
}

/// A pod manifest generation error; the message names the app or flag at fault.
public struct PodManifestBuilderError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

/// Turns parsed `rkt run`/`rkt prepare` arguments plus the resolved images into
/// the pod manifest, following rkt 1.30's `generatePodManifest` /
/// `generateRuntimeApp` (stage0) with the few run-time decisions rkt leaves to
/// stage1 (implicit volumes, env defaults) made here so the manifest is
/// complete.
public struct PodManifestBuilder: Sendable {
    /// How `-- ARGS` combine with the image's exec when there is no `--exec`.
    public enum ArgumentsMode: Sendable, Hashable {
        /// rkt 1.30 `run`/`prepare` (`stage0/common.go`): the arguments are
        /// appended to the image's whole exec line. With `--exec` the exec line
        /// is `[--exec] + ARGS` in both modes.
        case appendToImageExec
        /// rkt `app add` (`stage0/app_add.go`): the arguments replace the
        /// image's arguments after exec[0].
        case replaceImageArguments
    }

    public var argumentsMode: ArgumentsMode
    /// Add `EnvironmentRules.defaults` (PATH, SHELL, USER, LOGNAME, HOME) to
    /// each app's environment when missing. rkt adds them in stage1 when it
    /// writes the app's env file; doing it here puts them in the manifest.
    public var addDefaultEnvironment: Bool
    /// Create `empty` volumes for mount points nothing satisfies (rkt does this
    /// in stage1; here they are written into the manifest).
    public var addImplicitVolumes: Bool
    /// Value of the pod annotation `coreos.com/rkt/stage1/mutable`.
    public var mutable: Bool
    /// User and group for an image without an app section run with `--exec`
    /// (rkt uses its own uid/gid; it runs as root).
    public var defaultUser: String
    public var defaultGroup: String
    /// Check early that every app's user and group resolve in its image.
    public var validateUserGroup: Bool

    public init(argumentsMode: ArgumentsMode = .appendToImageExec, addDefaultEnvironment: Bool = true,
                addImplicitVolumes: Bool = true, mutable: Bool = false, defaultUser: String = "0",
                defaultGroup: String = "0", validateUserGroup: Bool = true) {
        self.argumentsMode = argumentsMode
        self.addDefaultEnvironment = addDefaultEnvironment
        self.addImplicitVolumes = addImplicitVolumes
        self.mutable = mutable
        self.defaultUser = defaultUser
        self.defaultGroup = defaultGroup
        self.validateUserGroup = validateUserGroup
    }

    public static let mutableAnnotation = "coreos.com/rkt/stage1/mutable"
    public static let stdinAnnotation = "coreos.com/rkt/stage2/stdin"
    public static let stdoutAnnotation = "coreos.com/rkt/stage2/stdout"
    public static let stderrAnnotation = "coreos.com/rkt/stage2/stderr"

    /// The default app name for an image: the last path component of its name,
    /// sanitized to an ACName (rkt `common.ImageNameToAppName`).
    public static func defaultAppName(for imageName: ACIdentifier) throws(PodManifestBuilderError) -> ACName {
        let last = imageName.rawValue.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        do throws(AppcError) {
            return try ACName(ACName.sanitize(last))
        } catch {
            throw PodManifestBuilderError("cannot derive an app name from image name \"\(imageName.rawValue)\": \(error.message); use --name")
        }
    }

    /// Builds the pod manifest.
    ///
    /// - Parameters:
    ///   - arguments: the parsed command line; must not use `--pod-manifest`
    ///     (use `loadPodManifest`).
    ///   - images: one per app, in order.
    ///   - environment: the caller's environment, used only with `--inherit-env`.
    ///   - environmentFiles: contents of each `--set-env-file`, by path.
    public func build(arguments: RunArguments, images: [ImageInput], environment: [String: String] = [:],
                      environmentFiles: [String: String] = [:]) throws(PodManifestBuilderError) -> PodManifest {
        if arguments.podManifestPath != nil {
            throw PodManifestBuilderError("--pod-manifest was given: load it with loadPodManifest instead of generating a manifest")
        }
        guard !arguments.apps.isEmpty else {
            throw PodManifestBuilderError("must provide at least one image or specify the pod manifest")
        }
        guard images.count == arguments.apps.count else {
            throw PodManifestBuilderError("internal error: \(arguments.apps.count) apps but \(images.count) resolved images")
        }
        if arguments.interactive && arguments.apps.count > 1 {
            throw PodManifestBuilderError("interactive option only supports one image")
        }

        // Pod-wide environment layers.
        var files: [(path: String, contents: String)] = []
        for path in arguments.setEnvironmentFiles {
            guard let contents = environmentFiles[path] else {
                throw PodManifestBuilderError("--set-env-file \"\(path)\": contents not provided")
            }
            files.append((path, contents))
        }
        let fromFiles: [EnvironmentVariable]
        do throws(EnvironmentRules.FileError) {
            fromFiles = try EnvironmentRules.parseEnvironmentFiles(files)
        } catch {
            throw PodManifestBuilderError("--set-env-file: \(error.message)")
        }
        let inherited = arguments.inheritEnvironment ? EnvironmentRules.variables(from: environment) : []

        // Volumes, and the mounts referring to them.
        var volumes: [Volume] = []
        for volume in arguments.volumes {
            if volumes.contains(where: { $0.name == volume.name }) {
                throw PodManifestBuilderError("duplicate volume name \"\(volume.name.rawValue)\" (--volume)")
            }
            volumes.append(volume)
        }
        let volumeNames = Set(volumes.map(\.name))
        for mount in arguments.mounts + arguments.apps.flatMap(\.mounts)
        where mount.appVolume == nil && !volumeNames.contains(mount.volume) {
            throw PodManifestBuilderError("--mount: dangling mount point \"\(mount.path)\": volume \"\(mount.volume.rawValue)\" not found")
        }

        var apps: [RuntimeApp] = []
        var implicitVolumes: [Volume] = []
        for (index, (appArguments, image)) in zip(arguments.apps, images).enumerated() {
            let runtimeApp = try buildApp(appArguments, image: image, number: index + 1, arguments: arguments,
                                          inherited: inherited, fromFiles: fromFiles)
            if let other = apps.firstIndex(where: { $0.name == runtimeApp.name }) {
                throw PodManifestBuilderError("duplicate app name \"\(runtimeApp.name.rawValue)\" (images \(other + 1) and \(index + 1)); set distinct names with --name")
            }
            var app = runtimeApp
            if addImplicitVolumes {
                try addImplicitVolumes(to: &app, podVolumes: volumes + implicitVolumes, implicit: &implicitVolumes)
            }
            apps.append(app)
        }

        var manifest = PodManifest(apps: apps, volumes: volumes + implicitVolumes, ports: arguments.ports)
        manifest.annotations.set(try! ACIdentifier(Self.mutableAnnotation), to: String(mutable))
        try Self.checkForwardedPorts(manifest, imageApp: { _ in nil })
        do throws(AppcError) {
            try manifest.validate()
        } catch {
            throw PodManifestBuilderError("generated pod manifest is invalid: \(error)")
        }
        return manifest
    }

    private func buildApp(_ arguments: AppArguments, image: ImageInput, number: Int, arguments pod: RunArguments,
                          inherited: [EnvironmentVariable],
                          fromFiles: [EnvironmentVariable]) throws(PodManifestBuilderError) -> RuntimeApp {
        let manifest = image.manifest
        let imageLabel = "image \(number) (\"\(arguments.image)\")"
        let id: Hash
        do throws(AppcError) {
            id = try Hash(image.imageID)
        } catch {
            throw PodManifestBuilderError("\(imageLabel): invalid image ID \"\(image.imageID)\": \(error.message)")
        }
        let name: ACName
        if let given = arguments.name {
            name = given
        } else {
            name = try Self.defaultAppName(for: manifest.name)
        }
        let appLabel = "app \"\(name.rawValue)\""

        guard manifest.app != nil || arguments.exec != nil else {
            throw PodManifestBuilderError("\(appLabel): image \(manifest.name.rawValue) (\(id)) has no app section and --exec argument is not provided")
        }
        var app = manifest.app ?? App(exec: [], user: defaultUser, group: defaultGroup)

        // Exec line.
        if let exec = arguments.exec {
            app.exec = [exec] + (arguments.arguments ?? [])
        } else if let extra = arguments.arguments {
            switch argumentsMode {
            case .appendToImageExec: app.exec += extra
            case .replaceImageArguments: app.exec = Array(app.exec.prefix(1)) + extra
            }
        }
        guard let program = app.exec.first, !program.isEmpty else {
            throw PodManifestBuilderError("\(appLabel): the image has no exec and --exec was not given")
        }

        if let workingDirectory = arguments.workingDirectory {
            guard workingDirectory.hasPrefix("/") else {
                throw PodManifestBuilderError("\(appLabel): --working-dir \"\(workingDirectory)\" must be an absolute path")
            }
            app.workingDirectory = workingDirectory
        }
        app.isolators = try Self.mergeIsolators(image: app.isolators, overrides: arguments, appLabel: appLabel)
        if let user = arguments.user { app.user = user }
        if let group = arguments.group { app.group = group }
        if let gids = arguments.supplementaryGIDs { app.supplementaryGIDs = gids }
        app.userAnnotations.merge(arguments.userAnnotations) { _, new in new }
        app.userLabels.merge(arguments.userLabels) { _, new in new }
        app.environment = EnvironmentRules.merge(inherited: inherited, image: app.environment, fromFiles: fromFiles,
                                                 explicit: pod.setEnvironment, app: arguments.environment,
                                                 addDefaults: addDefaultEnvironment)

        if validateUserGroup {
            var imageAnnotations: [String: String] = [:]
            for annotation in manifest.annotations { imageAnnotations[annotation.name.rawValue] = annotation.value }
            let fallback = UserGroupResolver.dockerGroupFallbackApplies(
                imageAnnotations: imageAnnotations, imageUser: manifest.app?.user, imageGroup: manifest.app?.group,
                runtimeGroup: app.group)
            do throws(UserGroupResolverError) {
                _ = try UserGroupResolver.resolve(user: app.user, group: app.group, passwd: image.passwd,
                                                  groupFile: image.group, fileOwner: image.fileOwner,
                                                  groupDefaultsToUID: fallback)
            } catch {
                throw PodManifestBuilderError("\(appLabel): \(error.message)")
            }
        }

        var annotations = arguments.annotations
        if let mode = arguments.stdin { annotations.set(try! ACIdentifier(Self.stdinAnnotation), to: mode.rawValue) }
        if let mode = arguments.stdout { annotations.set(try! ACIdentifier(Self.stdoutAnnotation), to: mode.rawValue) }
        if let mode = arguments.stderr { annotations.set(try! ACIdentifier(Self.stderrAnnotation), to: mode.rawValue) }

        let runtimeApp = RuntimeApp(
            name: name,
            image: RuntimeImage(name: manifest.name, id: id, labels: manifest.labels),
            app: app,
            readOnlyRootFS: arguments.readOnlyRootFS ?? false,
            mounts: Self.mergeMounts(pod: pod.mounts, app: arguments.mounts),
            annotations: annotations)
        do throws(AppcError) {
            try runtimeApp.validate()
        } catch {
            throw PodManifestBuilderError("\(appLabel): \(error)")
        }
        return runtimeApp
    }

    /// The app's own `--mount`s first, then the pod-wide ones; of several
    /// mounts on the same (cleaned) path the first wins (rkt `MergeMounts`).
    public static func mergeMounts(pod: [Mount], app: [Mount]) -> [Mount] {
        var seen = Set<String>()
        return (app + pod).filter { seen.insert(cleanPath($0.path)).inserted }
    }

    /// Lexical `path.Clean` for absolute or relative paths.
    static func cleanPath(_ path: String) -> String {
        let isAbsolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            switch part {
            case ".": continue
            case "..":
                if let last = parts.last, last != ".." { parts.removeLast() } else if !isAbsolute { parts.append(part) }
            default: parts.append(part)
            }
        }
        let joined = parts.joined(separator: "/")
        if isAbsolute { return "/" + joined }
        return joined.isEmpty ? "." : joined
    }

    /// The image's isolators with the command-line overrides applied: an
    /// override replaces every image isolator of the same name (`--caps-*`
    /// replace both capability sets, `--seccomp` both seccomp sets) and is
    /// appended after the remaining image isolators.
    public static func mergeIsolators(image: [Isolator], overrides: AppArguments,
                                      appLabel: String = "app") throws(PodManifestBuilderError) -> [Isolator] {
        if overrides.capsRetain != nil && overrides.capsRemove != nil {
            throw PodManifestBuilderError("\(appLabel): cannot use both --caps-retain and --caps-remove on the same image")
        }
        var replaced = Set<String>()
        var added: [Isolator] = []
        func add(_ names: [String], _ make: () throws(AppcError) -> Isolator, flag: String) throws(PodManifestBuilderError) {
            do throws(AppcError) {
                added.append(try make())
            } catch {
                throw PodManifestBuilderError("\(appLabel): invalid \(flag): \(error.message)")
            }
            replaced.formUnion(names)
        }
        typealias N = IsolatorValue.Name
        if let limit = overrides.memoryLimit {
            try add([N.memory], { () throws(AppcError) in try Isolator.memory(limit: limit, request: limit) }, flag: "--memory")
        }
        if let limit = overrides.cpuLimit {
            try add([N.cpu], { () throws(AppcError) in try Isolator.cpu(limit: limit, request: limit) }, flag: "--cpu")
        }
        if let shares = overrides.cpuShares {
            try add([N.cpuShares], { () throws(AppcError) in try Isolator(.cpuShares(shares)) }, flag: "--cpu-shares")
        }
        if let score = overrides.oomScoreAdj {
            try add([N.oomScoreAdj], { () throws(AppcError) in try Isolator(.oomScoreAdj(score)) }, flag: "--oom-score-adj")
        }
        let capabilityNames = [N.capabilitiesRetainSet, N.capabilitiesRemoveSet]
        if let set = overrides.capsRetain {
            try add(capabilityNames, { () throws(AppcError) in try Isolator(.capabilitiesRetainSet(set)) }, flag: "--caps-retain")
        } else if let set = overrides.capsRemove {
            try add(capabilityNames, { () throws(AppcError) in try Isolator(.capabilitiesRemoveSet(set)) }, flag: "--caps-remove")
        }
        if let seccomp = overrides.seccomp {
            try add([N.seccompRetainSet, N.seccompRemoveSet], { () throws(AppcError) in try seccomp.isolator() },
                    flag: "--seccomp")
        }
        let result = image.filter { !replaced.contains($0.name.rawValue) } + added
        do throws(AppcError) {
            try Isolator.validateSet(result)
        } catch {
            throw PodManifestBuilderError("\(appLabel): invalid isolators: \(error)")
        }
        return result
    }

    /// Adds an `empty` volume and a mount for every mount point of the app that
    /// no mount (same cleaned path) and no pod volume (same name) satisfies.
    /// Named `<app>-<mountpoint>` as rkt's stage1 names them; the volume's
    /// readOnly is the mount point's.
    private func addImplicitVolumes(to runtimeApp: inout RuntimeApp, podVolumes: [Volume],
                                    implicit: inout [Volume]) throws(PodManifestBuilderError) {
        guard let app = runtimeApp.app else { return }
        let volumeNames = Set(podVolumes.map(\.name))
        for mountPoint in app.mountPoints {
            let path = Self.cleanPath(mountPoint.path)
            if runtimeApp.mounts.contains(where: { Self.cleanPath($0.path) == path }) { continue }
            if volumeNames.contains(mountPoint.name) { continue }
            let nameText = "\(runtimeApp.name.rawValue)-\(mountPoint.name.rawValue)"
            let name: ACName
            do throws(AppcError) {
                name = try ACName(nameText)
            } catch {
                throw PodManifestBuilderError("app \"\(runtimeApp.name.rawValue)\": cannot name an implicit volume for mount point \"\(mountPoint.name.rawValue)\": \(error.message)")
            }
            if volumeNames.contains(name) || implicit.contains(where: { $0.name == name }) {
                throw PodManifestBuilderError("app \"\(runtimeApp.name.rawValue)\": the implicit volume for mount point \"\(mountPoint.name.rawValue)\" would be named \"\(nameText)\", which a --volume already uses; give the mount point a volume or a --mount")
            }
            implicit.append(Volume(name: name, kind: .empty, readOnly: mountPoint.readOnly))
            runtimeApp.mounts.append(Mount(volume: name, path: mountPoint.path))
        }
    }

    /// rkt's `ForwardedPorts` check: each `--port` name must be a port of
    /// exactly one app, and no two forwards may use the same protocol, host
    /// port and overlapping host IP.
    static func checkForwardedPorts(_ manifest: PodManifest,
                                    imageApp: (RuntimeApp) -> App?) throws(PodManifestBuilderError) {
        var forwarded: [(hostIP: String, hostPort: UInt, podPort: RktTypes.Port)] = []
        for exposed in manifest.ports {
            var podPort = exposed.podPort
            if podPort == nil {
                for runtimeApp in manifest.apps {
                    guard let app = runtimeApp.app ?? imageApp(runtimeApp) else { continue }
                    for port in app.ports where port.name == exposed.name {
                        if podPort != nil {
                            throw PodManifestBuilderError("--port: port name \"\(exposed.name.rawValue)\" defined multiple apps")
                        }
                        podPort = port
                    }
                }
            }
            guard let podPort else {
                throw PodManifestBuilderError("--port: port name \"\(exposed.name.rawValue)\" could not be found in any apps")
            }
            let hostIP = exposed.hostIP ?? "0.0.0.0"
            for other in forwarded where other.podPort.protocol == podPort.protocol && other.hostPort == exposed.hostPort {
                if hostIP == "0.0.0.0" || other.hostIP == "0.0.0.0" || hostIP == other.hostIP {
                    throw PodManifestBuilderError("--port: port \(podPort.protocol)-\(hostIP):\(exposed.hostPort) already mapped to pod port \(other.podPort.port)")
                }
            }
            forwarded.append((hostIP, exposed.hostPort, podPort))
        }
    }

    /// Handles `--pod-manifest`: rejects the flags rkt rejects with it (see
    /// `RunArguments.podManifestConflicts`), then decodes and validates the
    /// file (`PodManifest.decode`) and makes rkt's further checks: every app
    /// names an image ID, has an app section (its own or, through
    /// `imageManifest`, its image's), and forwarded ports resolve.
    ///
    /// - Parameter imageManifest: the stored image manifest for an image ID,
    ///   nil when unknown (then the app-section check needs the pod's own).
    public static func loadPodManifest(_ data: Data, arguments: RunArguments,
                                       imageManifest: (Hash) -> ImageManifest? = { _ in nil })
        throws(PodManifestBuilderError) -> PodManifest {
        let conflicts = arguments.podManifestConflicts
        if !conflicts.isEmpty {
            throw PodManifestBuilderError("conflicting flags set with --pod-manifest: \(conflicts.joined(separator: ", ")) (see --help)")
        }
        let manifest: PodManifest
        do throws(AppcError) {
            manifest = try PodManifest.decode(data)
        } catch {
            let path = arguments.podManifestPath.map { " \"\($0)\"" } ?? ""
            throw PodManifestBuilderError("invalid pod manifest\(path): \(error)")
        }
        for runtimeApp in manifest.apps {
            guard let id = runtimeApp.image.id else {
                throw PodManifestBuilderError("pod manifest: no image ID for app \"\(runtimeApp.name.rawValue)\"")
            }
            if runtimeApp.app == nil, imageManifest(id).map({ $0.app == nil }) ?? false {
                throw PodManifestBuilderError("pod manifest: app \"\(runtimeApp.name.rawValue)\": no app section in the pod manifest or the image manifest")
            }
        }
        try checkForwardedPorts(manifest) { runtimeApp in runtimeApp.image.id.flatMap(imageManifest)?.app }
        return manifest
    }
}
