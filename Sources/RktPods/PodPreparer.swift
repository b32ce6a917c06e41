#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import RktOS
import RktStore
import RktTypes

/// Lays out a new pod directory: the pod manifest, the stage1 image and each app's rootfs, as
/// overlay mounts over the tree store (or copies with `--no-overlay`, or where overlayfs refuses).
///
///     pod                                  the pod manifest
///     stage1TreeStoreID                    the stage1 tree under the overlay
///     stage1/manifest, stage1/rootfs/      stage1 (overlay: lower = tree, upper = overlay/<id>/upper)
///     stage1/rootfs/opt/stage2/<app>/      each app: manifest, rootfs/ (overlay/<id>/upper/<app>)
///     appsinfo/<app>/{manifest,treeStoreID}
public struct PodPreparer {
    public struct AppImage: Sendable {
        public let key: String
        public init(key: String) { self.key = key }
    }

    let store: ImageStore
    let pods: PodStore
    let logger: Logger

    public init(store: ImageStore, pods: PodStore, logger: Logger) {
        self.store = store
        self.pods = pods
        self.logger = logger
    }

    /// Builds the pod manifest from the command line and the images (already in the store).
    /// Rendering each image to read its /etc/passwd leaves its tree in `trees`, for `lay(out:)`.
    public func podManifest(arguments: RunArguments, images: [AppImage], environment: [String: String],
                            environmentFiles: [String: String], podManifestFile: Data?,
                            trees: inout [String: RenderedTree]) throws -> PodManifest {
        if let podManifestFile {
            let imageManifest: (Hash) -> ImageManifest? = { hash in try? store.manifest(key: ImageKey.key(fromDigestHex: String(hash.description.dropFirst(7)))) }
            return try PodManifestBuilder.loadPodManifest(podManifestFile, arguments: arguments, imageManifest: imageManifest)
        }
        var inputs: [ImageInput] = []
        for image in images {
            let manifest = try store.manifest(key: image.key)
            let tree = try store.renderTree(key: image.key)
            trees[image.key] = tree
            // Looked up through the image's layers when it has them (Docker/OCI images).
            func read(_ path: String) -> String? { tree.hostPath(path).flatMap { try? FileSystem.read($0) }.map { String(decoding: $0, as: UTF8.self) } }
            inputs.append(ImageInput(imageID: image.key, manifest: manifest, passwd: read("/etc/passwd"), group: read("/etc/group"),
                                     fileOwner: { path in tree.owner(of: path) }))
        }
        return try PodManifestBuilder().build(arguments: arguments, images: inputs, environment: environment, environmentFiles: environmentFiles)
    }

    /// Writes the pod's files and mounts (or copies) stage1 and the apps. On failure the pod is
    /// unmounted and removed; a killed rkt leaves an unlocked pod in prepare/ for `rkt gc`.
    /// `trees` holds trees already rendered on the way here (keyed by image), so a pod start
    /// resolves each image's dependencies once.
    ///
    /// The pod is in `prepare/`, where nothing reads it, so its files are written in place rather
    /// than renamed into place. What stage0 and stage1 write below the stage1 rootfs is made in
    /// the overlay's upper directory before the mount: created through the overlay, each of those
    /// directories would first be copied up from the stage1 image (a directory, extended
    /// attributes and a rename in the work directory), the largest file-system cost of a pod start.
    public func lay(out locked: LockedPod, manifest: PodManifest, stage1Key: String, noOverlay: Bool,
                    trees: [String: RenderedTree] = [:]) throws {
        let pod = locked.pod
        do {
            // No fsync here: `markPrepared` syncs it for pods that must outlive a reboot.
            try FileSystem.writeNew(try manifest.encoded(pretty: false), to: pod.file(Pod.File.manifest), mode: 0o640)
            var useOverlay = !noOverlay
            // Each app's image, once.
            var apps: [Stage1Upper.App] = []
            for app in manifest.apps {
                guard let id = app.image.id else { throw PodError(.invalidManifest, "app \(app.name) has no image ID") }
                let key = try store.resolveKey(idPrefix: id.description)
                apps.append(Stage1Upper.App(name: app.name.rawValue, key: key, manifest: try store.manifestData(key: key)))
            }
            // Stage1.
            let stage1Tree = try store.renderTree(key: stage1Key)
            try FileSystem.makeDirectories(pod.file("stage1"), mode: 0o750)
            try FileSystem.writeNew(try store.manifestData(key: stage1Key), to: pod.file("stage1/manifest"), mode: 0o640)
            try FileSystem.writeNew(Data(stage1Tree.id.utf8), to: pod.file(Pod.File.stage1TreeStoreID), mode: 0o640)
            if useOverlay {
                let upper = pod.file("overlay/\(stage1Tree.id)/upper")
                try FileSystem.makeDirectories(upper, mode: 0o755)
                let appsPrepared = try Stage1Upper.prepare(upper: upper, lowerDirs: stage1Tree.lowerDirs, apps: apps)
                useOverlay = try mountOrDecline(tree: stage1Tree, upper: upper, work: pod.file("overlay/\(stage1Tree.id)/work"), target: pod.stage1Rootfs)
                if useOverlay && !appsPrepared {
                    try Stage1Upper.writeApps(apps, under: pod.stage1Rootfs)
                }
            }
            if !useOverlay {
                try FileSystem.makeDirectories(pod.stage1Rootfs, mode: 0o755)
                try store.render(key: stage1Key, into: pod.stage1Rootfs, rootfsOnly: true)
                try Stage1Upper.writeApps(apps, under: pod.stage1Rootfs)
            }
            // Apps.
            for app in apps {
                let rootfs = pod.stage1Rootfs + "/opt/stage2/" + app.name + "/rootfs"
                let info = pod.file("\(Pod.File.appsInfo)/\(app.name)")
                try FileSystem.makeDirectories(info, mode: 0o750)
                try FileSystem.writeNew(app.manifest, to: info + "/manifest", mode: 0o640)
                if useOverlay {
                    let tree = try trees[app.key] ?? store.renderTree(key: app.key)
                    try FileSystem.writeNew(Data(tree.id.utf8), to: info + "/treeStoreID", mode: 0o640)
                    _ = try mountOrDecline(tree: tree, upper: pod.file("overlay/\(tree.id)/upper/\(app.name)"),
                                           work: pod.file("overlay/\(tree.id)/work/\(app.name)"), target: rootfs, required: true)
                } else {
                    try store.render(key: app.key, into: rootfs, rootfsOnly: true)
                }
            }
            if useOverlay { try FileSystem.writeNew(Data(), to: pod.file(Pod.File.overlayPrepared), mode: 0o640) }
        } catch {
            Mounts.unmountAll(under: pod.path)
            try? FileSystem.removeTree(pod.path)
            throw error
        }
    }

    /// Mounts stage1 or an app over its tree; false when the kernel or file system has no
    /// overlayfs for this (then rkt copies instead: "disabling overlay support").
    private func mountOrDecline(tree: RenderedTree, upper: String, work: String, target: String, required: Bool = false) throws -> Bool {
        try FileSystem.makeDirectories(upper, mode: 0o755)
        try FileSystem.makeDirectories(work, mode: 0o700)
        try FileSystem.makeDirectories(target, mode: 0o755)
        var failure: SystemError?
        do throws(SystemError) {
            try OverlayMount.mount(lowerDirs: tree.lowerDirs, upper: upper, work: work, target: target)
        } catch {
            failure = error
        }
        guard let failure else { return true }
        // The compiler of the day mishandles `catch where` on typed errors here; decide after.
        if required || ![ENODEV, EINVAL, EOPNOTSUPP].contains(failure.errno.rawValue) { throw failure }
        logger.warning("disabling overlay support: \(failure)")
        return false
    }
}

/// The stage1 rootfs's writable layer, filled before the overlay is mounted: `opt/stage2/<app>/`
/// with the app's manifest and an empty `rootfs/` (the app's mount point), and the `rkt/status`
/// and `rkt/env` directories stage1 writes to when the stage1 image has them. A directory that
/// the image also has gets the image's mode and owner, as a copy-up would give it.
enum Stage1Upper {
    /// An app of the pod: its name, its image's store key and image manifest.
    struct App {
        let name: String
        let key: String
        let manifest: Data
    }

    /// False (nothing written) when an image directory on the way is not a directory (a symlink,
    /// say): then the apps are written through the mounted overlay, which resolves it.
    static func prepare(upper: String, lowerDirs: [String], apps: [App]) throws -> Bool {
        var paths = ["opt", "opt/stage2"]
        for app in apps { paths += ["opt/stage2/\(app.name)", "opt/stage2/\(app.name)/rootfs"] }
        let required = Set(paths)
        paths += ["rkt", "rkt/status", "rkt/env"]
        // What the image has at each path: the first lower directory that has an entry wins.
        var image: [String: stat] = [:]
        for relative in paths {
            for lower in lowerDirs {
                var st = stat()
                if lstat(lower + "/" + relative, &st) == 0 { image[relative] = st; break }
            }
        }
        func isDirectory(_ relative: String) -> Bool { image[relative].map { ($0.st_mode & S_IFMT) == S_IFDIR } ?? true }
        if !required.allSatisfy(isDirectory) { return false }
        var skipped: [String] = []
        // New directories take the group of the pod directory when it is set-group-ID.
        let inherited = try FileSystem.statInfo(upper)
        for relative in paths {
            if skipped.contains(where: { relative.hasPrefix($0 + "/") }) { continue }
            let entry = image[relative]
            if !isDirectory(relative) {
                skipped.append(relative)
                continue
            }
            if entry == nil && !required.contains(relative) { continue }
            let path = upper + "/" + relative
            try FileSystem.makeDirectories(path, mode: entry.map { $0.st_mode & 0o7777 } ?? 0o755)
            if let entry, entry.st_uid != geteuid() || entry.st_gid != inherited.st_gid {
                try sysCall("lchown", path: path) { lchown(path, entry.st_uid, entry.st_gid) }
            }
        }
        try writeApps(apps, under: upper, directoriesMade: true)
        return true
    }

    /// Each app's image manifest at `opt/stage2/<app>/manifest`, and its `rootfs/` mount point
    /// (unless `directoriesMade`).
    static func writeApps(_ apps: [App], under root: String, directoriesMade: Bool = false) throws {
        for app in apps {
            let base = root + "/opt/stage2/" + app.name
            if !directoriesMade { try FileSystem.makeDirectories(base + "/rootfs", mode: 0o755) }
            try FileSystem.writeNew(app.manifest, to: base + "/manifest", mode: 0o644)
        }
    }
}
