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
    public func lay(out locked: LockedPod, manifest: PodManifest, stage1Key: String, noOverlay: Bool,
                    trees: [String: RenderedTree] = [:]) throws {
        let pod = locked.pod
        do {
            // No fsync here: `markPrepared` syncs it for pods that must outlive a reboot.
            try FileSystem.writeAtomically(try manifest.encoded(pretty: false), to: pod.file(Pod.File.manifest), mode: 0o640, sync: false)
            var useOverlay = !noOverlay
            // Stage1.
            let stage1Tree = try store.renderTree(key: stage1Key)
            try FileSystem.makeDirectories(pod.file("stage1"), mode: 0o750)
            try FileSystem.writeAtomically(try store.manifestData(key: stage1Key), to: pod.file("stage1/manifest"), mode: 0o640, sync: false)
            try FileSystem.writeAtomically(Data(stage1Tree.id.utf8), to: pod.file(Pod.File.stage1TreeStoreID), mode: 0o640, sync: false)
            if useOverlay {
                useOverlay = try mountOrDecline(tree: stage1Tree, upper: pod.file("overlay/\(stage1Tree.id)/upper"),
                                                work: pod.file("overlay/\(stage1Tree.id)/work"), target: pod.stage1Rootfs)
            }
            if !useOverlay {
                try FileSystem.makeDirectories(pod.stage1Rootfs, mode: 0o755)
                try store.render(key: stage1Key, into: pod.stage1Rootfs, rootfsOnly: true)
            }
            // Apps.
            for app in manifest.apps {
                guard let id = app.image.id else { throw PodError(.invalidManifest, "app \(app.name) has no image ID") }
                let key = try store.resolveKey(idPrefix: id.description)
                let name = app.name.rawValue
                let base = pod.stage1Rootfs + "/opt/stage2/" + name
                let info = pod.file("\(Pod.File.appsInfo)/\(name)")
                try FileSystem.makeDirectories(base + "/rootfs", mode: 0o755)
                try FileSystem.makeDirectories(info, mode: 0o750)
                let imageManifest = try store.manifestData(key: key)
                try FileSystem.writeAtomically(imageManifest, to: base + "/manifest", mode: 0o644, sync: false)
                try FileSystem.writeAtomically(imageManifest, to: info + "/manifest", mode: 0o640, sync: false)
                if useOverlay {
                    let tree = try trees[key] ?? store.renderTree(key: key)
                    try FileSystem.writeAtomically(Data(tree.id.utf8), to: info + "/treeStoreID", mode: 0o640, sync: false)
                    _ = try mountOrDecline(tree: tree, upper: pod.file("overlay/\(tree.id)/upper/\(name)"),
                                           work: pod.file("overlay/\(tree.id)/work/\(name)"), target: base + "/rootfs", required: true)
                } else {
                    try store.render(key: key, into: base + "/rootfs", rootfsOnly: true)
                }
            }
            if useOverlay { try FileSystem.writeAtomically(Data(), to: pod.file(Pod.File.overlayPrepared), mode: 0o640, sync: false) }
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
