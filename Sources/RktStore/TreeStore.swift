#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktArchive
import RktOS
import RktTypes

/// A rendered image under `cas/tree/<id>`: either its rootfs with every appc dependency applied
/// (flattened), or, for an image made of registry layers, the image's own rootfs (empty for a
/// converted image) over its layers, each rendered once in a tree of its own that images share
/// (`LayerTrees.swift`). `lowerDirs` is what an overlay mount of the image stacks.
public struct RenderedTree: Sendable, Equatable {
    public let id: String
    public let path: String
    /// The rootfs directories of a layered image, top first (the image's own first when it has
    /// content); empty for a flattened tree.
    public var layerRootfs: [String] = []
    /// The image's own files; the whole rootfs only when the tree is flattened (`!isLayered`).
    public var rootfs: String { path + "/rootfs" }
    public var manifest: String { path + "/manifest" }
    public var isLayered: Bool { !layerRootfs.isEmpty }
    /// The overlay lower directories of the image's rootfs, top first.
    public var lowerDirs: [String] { isLayered ? layerRootfs : [rootfs] }
}

/// One image in a flattened dependency list, upper image first.
struct DependencyLayer {
    let key: String
    let level: Int
}

extension ImageStore {
    // MARK: Dependencies

    /// The image and its dependencies, flattened in appc's render order (acirenderer): the upper
    /// image first, each image followed by its dependencies with the last-listed one nearest,
    /// so that an earlier entry's files win over a later entry's.
    func dependencyLayers(of key: String) throws(StoreError) -> [DependencyLayer] {
        var layers = [DependencyLayer(key: key, level: 0)]
        var index = 0
        while index < layers.count {
            let current = layers[index]
            if current.level > 64 {
                throw StoreError(.dependency, "dependency chain of \(key) is deeper than 64 levels (a cycle?)")
            }
            let facts = StoreManifestFacts(try manifest(key: current.key))
            var insertAt = index + 1
            for dependency in facts.dependencies.reversed() {
                let depKey = try resolveDependency(name: dependency.name, imageID: dependency.imageID, labels: dependency.labels, of: facts.name)
                layers.insert(DependencyLayer(key: depKey, level: current.level + 1), at: insertAt)
                insertAt += 1
            }
            index += 1
        }
        return layers
    }

    private func resolveDependency(name: String, imageID: String?, labels: [String: String], of parent: String) throws(StoreError) -> String {
        if let imageID, !imageID.isEmpty {
            do {
                return try resolveKey(idPrefix: imageID)
            } catch {
                throw StoreError(.dependency, "dependency \(name) (\(imageID)) of \(parent) is not in the store", cause: error)
            }
        }
        guard let match = try findImages(ImageReference(name: name, labels: labels)).first else {
            let ref = ImageReference(name: name, labels: labels)
            throw StoreError(.dependency, "dependency \(ref) of \(parent) is not in the store")
        }
        return match.key
    }

    /// rkt's tree store ID: a key over the comma-joined keys of the image and all its dependencies,
    /// so the same image renders to a new tree when one of its dependencies changes.
    public func treeID(for key: String) throws(StoreError) -> String {
        treeID(try dependencyLayers(of: key))
    }

    func treeID(_ layers: [DependencyLayer]) -> String {
        let keys = layers.map(\.key)
        // Without EVP: the tree ID was the only digest of `rkt run`, and EVP loads openssl.cnf.
        return "deps-" + ImageKey.key(fromDigestHex: StreamingDigest.sha512HexWithoutConfig(of: Data(keys.joined(separator: ",").utf8)))
    }

    // MARK: Rendering

    /// Returns the rendered tree of an image, rendering it first if needed. Concurrent callers
    /// wait on the tree's lock; a tree counts only once its `rendered` marker exists.
    @discardableResult
    public func renderTree(key: String) throws(StoreError) -> RenderedTree {
        let layers = try dependencyLayers(of: key)
        let id = treeID(layers)
        if let layerKeys = try layeredRendering(of: layers) {
            return try renderLayeredTree(key: key, id: id, layerKeys: layerKeys)
        }
        let tree = RenderedTree(id: id, path: layout.treePath(id))
        let lock: FileLock
        do { lock = try FileLock.acquire(path: layout.treeLocks + "/" + id, .exclusive) } catch { throw StoreError.io(error) }
        defer { _ = lock }
        if FileSystem.exists(tree.path + "/rendered") { return tree }
        let usage = try materializeTree(id: id, key: key) { work throws(StoreError) in
            try render(key: key, into: work, rootfsOnly: false)
        }
        try db.query("UPDATE aciinfo SET treestoresize = ? WHERE blobkey = ?", [.integer(usage), .text(key)])
        return tree
    }

    /// Writes `cas/tree/<id>` for image `key` (the caller holds the tree's lock): `fill` writes
    /// `manifest` and `rootfs/` (and whatever else the tree keeps) into a work directory in
    /// cas/tmp, which is hashed, marked complete and renamed into place. Returns its disk usage.
    func materializeTree(id: String, key: String, fill: (String) throws(StoreError) -> Void) throws(StoreError) -> Int64 {
        let path = layout.treePath(id)
        let work = layout.tmp + "/tree-" + randomSuffix()
        do {
            try FileSystem.makeDirectories(work, mode: 0o700)
            // Held while rendering, so `image gc` can tell a live render from an abandoned one.
            let workLock = try FileLock(path: work)
            try workLock.lock(.exclusive)
            defer { _ = workLock }
            try fill(work)
            let hash = try TreeHasher.hash(root: work + "/rootfs")
            try FileSystem.writeAtomically(Data(hash.utf8), to: work + "/hash", mode: 0o640)
            try FileSystem.writeAtomically(Data(key.utf8), to: work + "/image", mode: 0o640)
            // Written last: its presence is what says the tree is complete.
            try FileSystem.writeAtomically(Data(), to: work + "/rendered", mode: 0o640)
            try FileSystem.removeTree(path)
            try sysCall("chmod", path: work) { chmod(work, 0o2700) }
            try FileSystem.rename(work, to: path)
            FileSystem.syncDirectory(layout.trees)
        } catch let error as StoreError {
            try? FileSystem.removeTree(work)
            throw error
        } catch let error as SystemError {
            try? FileSystem.removeTree(work)
            throw StoreError.io(error)
        } catch {
            try? FileSystem.removeTree(work)
            throw StoreError(.io, "rendering \(key): \(error)")
        }
        return FileSystem.diskUsage(path)
    }

    /// Renders an image with its dependencies into `destination` (which must exist): `manifest`
    /// and `rootfs/`, or the rootfs contents alone. Lower layers are applied first and upper
    /// layers replace their files, which gives the same tree as appc's first-wins walk from the top.
    public func render(key: String, into destination: String, rootfsOnly: Bool) throws(StoreError) {
        let layers = try dependencyLayers(of: key)
        let rootfs = rootfsOnly ? destination : destination + "/rootfs"
        do {
            try FileSystem.makeDirectories(rootfs, mode: 0o755)
            for (position, layer) in layers.reversed().enumerated() {
                var options = ExtractOptions()
                options.rootfsOnly = true
                options.layering = position > 0
                try ACIExtractor.extract(archivePath: layout.blobPath(layer.key), to: rootfs, options: options)
            }
            let whitelist = StoreManifestFacts(try manifest(key: key)).pathWhitelist
            if !whitelist.isEmpty { try pruneToWhitelist(rootfs: rootfs, whitelist: Set(whitelist)) }
            if !rootfsOnly {
                try FileSystem.writeAtomically(try manifestData(key: key), to: destination + "/manifest", mode: 0o644, sync: false)
            }
        } catch let error as ArchiveError {
            throw StoreError.archive(error)
        } catch let error as SystemError {
            throw StoreError.io(error)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, "rendering \(key): \(error)")
        }
        try markUsed(key: key)
    }

    /// appc pathWhitelist: only the listed files exist in the rendered rootfs (directories stay).
    private func pruneToWhitelist(rootfs: String, whitelist: Set<String>) throws(SystemError) {
        func walk(_ relative: String) throws(SystemError) {
            let path = rootfs + relative
            for name in try FileSystem.list(path) {
                let child = relative + "/" + name
                let st = try FileSystem.lstatInfo(rootfs + child)
                if (st.st_mode & S_IFMT) == S_IFDIR {
                    try walk(child)
                } else if !whitelist.contains(child) {
                    try sysCall("unlink", path: rootfs + child) { unlink(rootfs + child) }
                }
            }
        }
        try walk("")
    }

    // MARK: Verification

    public enum TreeVerification: Sendable, Equatable {
        case intact(RenderedTree)
        /// The tree did not match its recorded hash and was rendered again.
        case repaired(RenderedTree)
        /// There was no complete tree; one was rendered.
        case rendered(RenderedTree)
    }

    /// Recomputes the tree's hash; on mismatch renders it again (rkt's `image verify`).
    public func verifyTree(key: String) throws(StoreError) -> TreeVerification {
        let layers = try dependencyLayers(of: key)
        let id = treeID(layers)
        if let layerKeys = try layeredRendering(of: layers) {
            return try verifyLayeredTree(key: key, id: id, layerKeys: layerKeys)
        }
        let tree = RenderedTree(id: id, path: layout.treePath(id))
        do {
            let lock = try FileLock.acquire(path: layout.treeLocks + "/" + id, .exclusive)
            defer { _ = lock }
            guard FileSystem.exists(tree.path + "/rendered") else {
                try FileSystem.removeTree(tree.path)
                return .rendered(try renderTreeUnlocked(key: key, lockHeld: lock))
            }
            let recorded = String(decoding: try FileSystem.read(tree.path + "/hash"), as: UTF8.self)
            let actual = try TreeHasher.hash(root: tree.rootfs)
            if recorded == actual { return .intact(tree) }
            logger.info("tree hash mismatch, rendering again", metadata: ["tree": "\(id)"])
            try FileSystem.removeTree(tree.path)
            return .repaired(try renderTreeUnlocked(key: key, lockHeld: lock))
        } catch let error as SystemError {
            throw StoreError.io(error)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, "verifying \(key): \(error)")
        }
    }

    /// renderTree for a caller that already holds the tree lock (flock locks are per open file,
    /// so taking it again through a new descriptor would wait forever).
    private func renderTreeUnlocked(key: String, lockHeld: FileLock) throws(StoreError) -> RenderedTree {
        try lockHeld.unlockAndRun { () throws(StoreError) in try renderTree(key: key) }
    }

    // MARK: Garbage collection

    /// Removes trees not in `referenced` (those used by pods), except the layers of those and
    /// the trees of layers still stored. Returns the IDs of the trees removed.
    public func removeUnreferencedTrees(referenced: Set<String>) throws(StoreError) -> [String] {
        var removed: [String] = []
        let referenced = try treesKept(referenced: referenced)
        let ids: [String]
        do { ids = try FileSystem.listIfPresent(layout.trees) } catch { throw StoreError.io(error) }
        for id in ids where !referenced.contains(id) {
            do {
                let lock = try FileLock(path: layout.treeLocks + "/" + id, create: true)
                guard try lock.tryLock(.exclusive) else { continue }
                let path = layout.treePath(id)
                let owner = (try? FileSystem.read(path + "/image")).map { String(decoding: $0, as: UTF8.self) }
                try FileSystem.removeTree(path)
                unlink(layout.treeLocks + "/" + id)
                if let owner {
                    try db.query("UPDATE aciinfo SET treestoresize = 0 WHERE blobkey = ?", [.text(owner)])
                }
                removed.append(id)
            } catch let error as SystemError {
                throw StoreError.io(error)
            } catch let error as StoreError {
                throw error
            } catch {
                throw StoreError(.io, "removing tree \(id): \(error)")
            }
        }
        return removed
    }
}

extension FileLock {
    /// Releases the lock for the duration of `body`, then takes it back.
    func unlockAndRun<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        do { try unlock() } catch { throw StoreError.io(error) }
        defer { try? lock(.exclusive) }
        return try body()
    }
}
