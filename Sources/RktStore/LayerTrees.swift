#if canImport(Glibc)
import Glibc
#endif
import CRktShim
import Foundation
import RktArchive
import RktOS

/// Images made of registry layers, rendered for overlayfs.
///
/// Each layer is rendered once into a tree of its own, `cas/tree/layer-<layer image key>`, with
/// its whiteouts in overlayfs's form (0/0 character devices, `trusted.overlay.opaque=y`), and
/// every image that has the layer uses that tree. The image's own tree (`cas/tree/deps-…`, its
/// usual ID) holds its manifest, its own rootfs (empty for a converted image) and a `layers`
/// file naming the layer trees, top first; a pod mounts an overlay whose lower directories are
/// those trees. So a second image that differs in one layer costs one layer tree, and nothing is
/// copied or hashed twice.
///
///     cas/tree/layer-sha512-…/{rootfs/, manifest, hash, image, rendered}
///     cas/tree/deps-sha512-…/{rootfs/, manifest, layers, hash, image, rendered}
///
/// A layer tree lives as long as its layer image: `image gc` removes it with the image, or when a
/// pod no longer uses it after that. The flattened render (`render(key:into:)`, `--no-overlay`,
/// `image render`) still applies the layers' whiteouts from the stored layer images.
extension ImageStore {
    /// The annotation RktFetch puts on the image of a registry layer: its blob digest.
    public static let layerDigestAnnotation = "appc.io/oci/layer-digest"
    static let layerTreePrefix = "layer-"
    static let layersFile = "layers"

    public func layerTreeID(forLayer key: String) -> String { Self.layerTreePrefix + key }

    /// Whether a stored image is a registry layer (RktFetch's `oci-layer/…` images).
    public func isLayerImage(key: String) -> Bool {
        (try? manifest(key: key))?.annotations[Self.layerDigestAnnotation] != nil
    }

    /// The layer images an image lists as dependencies, bottom first (empty for other images).
    public func layerKeys(of key: String) throws(StoreError) -> [String] {
        var keys: [String] = []
        for dependency in StoreManifestFacts(try manifest(key: key)).dependencies {
            guard let id = dependency.imageID, !id.isEmpty, let found = try? resolveKey(idPrefix: id), isLayerImage(key: found) else { continue }
            keys.append(found)
        }
        return keys
    }

    /// The layer images of an image that can be rendered as overlay layers, top first; nil when
    /// it is rendered flattened: an image whose dependencies are not all registry layers (appc
    /// dependencies keep appc's rendering), with a path whitelist, when not root (whiteouts are
    /// device nodes and trusted xattrs), or when the kernel could not mount that many layers.
    func layeredRendering(of layers: [DependencyLayer]) throws(StoreError) -> [String]? {
        guard layers.count > 1, geteuid() == 0 else { return nil }
        guard StoreManifestFacts(try manifest(key: layers[0].key)).pathWhitelist.isEmpty else { return nil }
        var keys: [String] = []
        for layer in layers.dropFirst() {
            guard layer.level == 1 else { return nil }
            let manifest = try manifest(key: layer.key)
            guard manifest.annotations[Self.layerDigestAnnotation] != nil, manifest.dependencies.isEmpty else { return nil }
            keys.append(layer.key)
        }
        let dirs = ([layers[0].key] + keys).map { layout.treePath(layerTreeID(forLayer: $0)) + "/rootfs" }
        guard OverlayMount.canMount(lowerDirs: dirs) else {
            logger.debug("rendering flattened: too many layers for this kernel's overlay mount", metadata: ["layers": "\(keys.count)"])
            return nil
        }
        return keys
    }

    /// Renders the missing layer trees (concurrently: extraction and hashing are CPU-bound), then
    /// the image's own tree, and returns it with its layers.
    func renderLayeredTree(key: String, id: String, layerKeys: [String]) throws(StoreError) -> RenderedTree {
        let missing = layerKeys.filter { !FileSystem.exists(layout.treePath(layerTreeID(forLayer: $0)) + "/rendered") }
        if !missing.isEmpty {
            let results = RenderResults(count: missing.count)
            let blobs = missing.map { layout.blobPath($0) }
            let self_ = UncheckedStore(store: self)
            DispatchQueue.concurrentPerform(iterations: missing.count) { index in
                do throws(StoreError) {
                    results.set(index, .success(try self_.store.renderLayerTree(key: missing[index], blob: blobs[index])))
                } catch {
                    results.set(index, .failure(error))
                }
            }
            for (index, result) in results.all.enumerated() {
                switch result {
                case .success(let usage?):
                    try db.query("UPDATE aciinfo SET treestoresize = ? WHERE blobkey = ?", [.integer(usage), .text(missing[index])])
                case .success(nil): break
                case .failure(let error): throw error
                case nil: throw StoreError(.io, "rendering layer \(missing[index]): no result")
                }
            }
        }

        let path = layout.treePath(id)
        let lock: FileLock
        do { lock = try FileLock.acquire(path: layout.treeLocks + "/" + id, .exclusive) } catch { throw StoreError.io(error) }
        defer { _ = lock }
        if !FileSystem.exists(path + "/rendered") {
            let usage = try materializeTree(id: id, key: key) { work throws(StoreError) in
                do {
                    var options = ExtractOptions()
                    options.overlayWhiteouts = true
                    try ACIExtractor.extract(archivePath: layout.blobPath(key), to: work, options: options)
                    let names = layerKeys.map { layerTreeID(forLayer: $0) }.joined(separator: "\n") + "\n"
                    try FileSystem.writeAtomically(Data(names.utf8), to: work + "/" + Self.layersFile, mode: 0o640, sync: false)
                } catch let error as ArchiveError {
                    throw StoreError.archive(error)
                } catch let error as SystemError {
                    throw StoreError.io(error)
                } catch {
                    throw StoreError(.io, "rendering \(key): \(error)")
                }
            }
            try db.query("UPDATE aciinfo SET treestoresize = ? WHERE blobkey = ?", [.integer(usage), .text(key)])
        }
        try markUsed(key: key)
        return try layeredTree(id: id)
    }

    /// A rendered layered tree as stored: its own rootfs (when not empty) over its layer trees.
    func layeredTree(id: String) throws(StoreError) -> RenderedTree {
        var tree = RenderedTree(id: id, path: layout.treePath(id))
        let names: [String]
        do {
            names = String(decoding: try FileSystem.read(tree.path + "/" + Self.layersFile), as: UTF8.self).split(separator: "\n").map(String.init)
            let own = try FileSystem.list(tree.rootfs)
            tree.layerRootfs = (own.isEmpty ? [] : [tree.rootfs]) + names.map { layout.treePath($0) + "/rootfs" }
        } catch {
            throw StoreError.io(error)
        }
        return tree
    }

    /// Renders one layer's tree unless it exists; returns its disk usage when it rendered it.
    /// Called from several threads at once: it touches only files (the caller updates the index).
    func renderLayerTree(key: String, blob: String) throws(StoreError) -> Int64? {
        let id = layerTreeID(forLayer: key)
        let lock: FileLock
        do { lock = try FileLock.acquire(path: layout.treeLocks + "/" + id, .exclusive) } catch { throw StoreError.io(error) }
        defer { _ = lock }
        if FileSystem.exists(layout.treePath(id) + "/rendered") { return nil }
        return try materializeTree(id: id, key: key) { work throws(StoreError) in
            var options = ExtractOptions()
            options.overlayWhiteouts = true
            do throws(ArchiveError) {
                try ACIExtractor.extract(archivePath: blob, to: work, options: options)
            } catch {
                throw StoreError.archive(error)
            }
        }
    }

    // MARK: Verification

    /// `image verify` of a layered image: every layer tree and the image's own tree are checked
    /// against their hashes; a damaged or missing one is rendered again.
    func verifyLayeredTree(key: String, id: String, layerKeys: [String]) throws(StoreError) -> TreeVerification {
        var repaired = false
        for layerKey in layerKeys {
            if try checkTree(id: layerTreeID(forLayer: layerKey)) == .damaged { repaired = true }
        }
        let own = try checkTree(id: id)
        let tree = try renderLayeredTree(key: key, id: id, layerKeys: layerKeys)
        if own == .missing { return .rendered(tree) }
        return repaired || own == .damaged ? .repaired(tree) : .intact(tree)
    }

    enum TreeState { case intact, damaged, missing }

    /// Compares a tree with its recorded hash under its lock; a damaged or incomplete tree is removed.
    func checkTree(id: String) throws(StoreError) -> TreeState {
        let path = layout.treePath(id)
        do {
            let lock = try FileLock.acquire(path: layout.treeLocks + "/" + id, .exclusive)
            defer { _ = lock }
            guard FileSystem.exists(path + "/rendered") else {
                try FileSystem.removeTree(path)
                return .missing
            }
            let recorded = String(decoding: try FileSystem.read(path + "/hash"), as: UTF8.self)
            if recorded == (try TreeHasher.hash(root: path + "/rootfs")) { return .intact }
            logger.info("tree hash mismatch, rendering again", metadata: ["tree": "\(id)"])
            try FileSystem.removeTree(path)
            return .damaged
        } catch {
            throw StoreError.io(error)
        }
    }

    // MARK: Garbage collection

    /// Trees to keep besides those pods name: the layers of those trees, and the tree of every
    /// layer image still stored (rendered once, kept while the layer is).
    func treesKept(referenced: Set<String>) throws(StoreError) -> Set<String> {
        var kept = referenced
        for id in referenced {
            guard let data = try? FileSystem.read(layout.treePath(id) + "/" + Self.layersFile) else { continue }
            for name in String(decoding: data, as: UTF8.self).split(separator: "\n") { kept.insert(String(name)) }
        }
        for image in try allImages() where FileSystem.exists(layout.treePath(layerTreeID(forLayer: image.key))) {
            kept.insert(layerTreeID(forLayer: image.key))
        }
        return kept
    }
}

extension RenderedTree {
    /// Where a file of the image's rootfs is on the host, looked up through the layers as
    /// overlayfs would show it (a whiteout hides a name, an opaque directory the layers below),
    /// with symlinks followed inside the rootfs as in a chroot (the last one only when
    /// `followingFinalSymlink`). nil when the image has no such file.
    public func hostPath(_ path: String, followingFinalSymlink: Bool = true) -> String? {
        var resolved: [String] = []
        var pending = Array(path.split(separator: "/").map(String.init).reversed())
        var hops = 0
        while let component = pending.popLast() {
            if component == "." { continue }
            if component == ".." {
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            guard let (hostPath, st) = visible(resolved + [component]) else { return nil }
            if (st.st_mode & S_IFMT) == S_IFLNK && (!pending.isEmpty || followingFinalSymlink) {
                hops += 1
                guard hops <= 40, let target = try? TreeHasher.readLink(hostPath) else { return nil }
                if target.hasPrefix("/") { resolved.removeAll() }
                pending.append(contentsOf: target.split(separator: "/").map(String.init).reversed())
                continue
            }
            if !pending.isEmpty && (st.st_mode & S_IFMT) != S_IFDIR { return nil }
            resolved.append(component)
        }
        return visible(resolved)?.0
    }

    /// Owner of a file of the image (not following a final symlink), for users and groups given as paths.
    public func owner(of path: String) -> (uid: UInt32, gid: UInt32)? {
        guard let host = hostPath(path, followingFinalSymlink: false) else { return nil }
        var st = stat()
        guard lstat(host, &st) == 0 else { return nil }
        return (st.st_uid, st.st_gid)
    }

    /// The entry overlayfs shows for a symlink-free path: the topmost layer's, unless a whiteout
    /// hides it; a directory merges the layers below until one is opaque or not a directory.
    func visible(_ components: [String]) -> (String, stat)? {
        var candidates = Array(lowerDirs.indices)
        var found: (String, stat)?
        for depth in components.indices {
            let relative = "/" + components[0...depth].joined(separator: "/")
            found = nil
            var below: [Int] = []
            for index in candidates {
                let host = lowerDirs[index] + relative
                var st = stat()
                guard lstat(host, &st) == 0 else { continue }
                let type = st.st_mode & S_IFMT
                if isLayered && type == S_IFCHR && st.st_rdev == 0 { break }  // a whiteout
                if found == nil { found = (host, st) }
                guard type == S_IFDIR, let top = found, (top.1.st_mode & S_IFMT) == S_IFDIR else { break }
                below.append(index)
                if isLayered && Self.isOpaque(host) { break }
            }
            guard found != nil else { return nil }
            candidates = below
        }
        if components.isEmpty, let first = lowerDirs.first {
            var st = stat()
            guard lstat(first, &st) == 0 else { return nil }
            return (first, st)
        }
        return found
    }

    static func isOpaque(_ path: String) -> Bool {
        var value: UInt8 = 0
        return rkt_lgetxattr(path, "trusted.overlay.opaque", &value, 1) == 1 && value == UInt8(ascii: "y")
    }
}

/// Per-layer results of the concurrent rendering. @unchecked: every access holds `lock`.
private final class RenderResults: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<Int64?, StoreError>?]

    init(count: Int) { results = Array(repeating: nil, count: count) }

    func set(_ index: Int, _ result: Result<Int64?, StoreError>) {
        lock.lock()
        results[index] = result
        lock.unlock()
    }

    var all: [Result<Int64?, StoreError>?] {
        lock.lock()
        defer { lock.unlock() }
        return results
    }
}

/// The store handed to the concurrent layer renders. @unchecked: `renderLayerTree` touches only
/// files under their own locks and the immutable layout, never the SQLite connection.
private struct UncheckedStore: @unchecked Sendable {
    let store: ImageStore
}
