#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktOS

/// What `rkt image gc` removed.
public struct StoreGCReport: Sendable {
    public var removedImages: [ImageInfo] = []
    public var removedTrees: [String] = []
    public var removedLeftovers: [String] = []
}

extension ImageStore {
    /// rkt's `image gc`: images not used within `gracePeriod`, trees no pod references, and what
    /// killed `rkt` processes left behind (unlocked temporary files, blobs with no index row).
    public func garbageCollect(gracePeriod: TimeInterval, referencedTrees: Set<String>, now: Date = Date()) throws(StoreError) -> StoreGCReport {
        var report = StoreGCReport()
        report.removedLeftovers = try removeLeftovers()
        let cutoff = now.addingTimeInterval(-gracePeriod)
        // An image another image lists as a dependency (a registry layer, an appc base image)
        // stays while that image does; once it goes, its dependencies may go in the next round.
        var remaining = try allImages()
        while true {
            let used = try dependents(among: remaining)
            let expired = remaining.filter { $0.lastUsed < cutoff && used[$0.key] == nil }
            if expired.isEmpty { break }
            for image in expired {
                do {
                    try remove(key: image.key, checkDependents: false)
                    report.removedImages.append(image)
                } catch where error.kind == .notFound {
                    continue
                }
            }
            let gone = Set(expired.map(\.key))
            remaining.removeAll { gone.contains($0.key) }
        }
        report.removedTrees = try removeUnreferencedTrees(referenced: referencedTrees)
        return report
    }

    /// Removes work-in-progress files whose writer is gone, blobs and manifests whose import never
    /// committed, and lock files of images that no longer exist.
    func removeLeftovers() throws(StoreError) -> [String] {
        var removed: [String] = []
        do {
            for name in try FileSystem.listIfPresent(layout.tmp) {
                let path = layout.tmp + "/" + name
                // Each writer holds a lock on its work file or directory while it works.
                guard let lock = try? FileLock(path: path), try lock.tryLock(.exclusive) else { continue }
                try FileSystem.removeTree(path)
                removed.append(path)
            }
            let known = Set(try allImages().map(\.key))
            for (dir, isBlob) in [(layout.blobs, true), (layout.manifests, false)] {
                for shard in try FileSystem.listIfPresent(dir) {
                    for key in try FileSystem.listIfPresent(dir + "/" + shard) where !known.contains(key) {
                        guard key.hasPrefix("sha512-") else { continue }
                        let lock = try FileLock(path: layout.imageLocks + "/" + key, create: true)
                        guard try lock.tryLock(.exclusive) else { continue }
                        // Look again under the lock: the import may have committed meanwhile.
                        if try image(key: key) != nil { continue }
                        let path = isBlob ? layout.blobPath(key) : layout.manifestPath(key)
                        unlink(path)
                        removed.append(path)
                    }
                }
            }
            for key in try FileSystem.listIfPresent(layout.imageLocks) where !known.contains(key) {
                let path = layout.imageLocks + "/" + key
                let lock = try FileLock(path: path)
                if try lock.tryLock(.exclusive), !FileSystem.exists(layout.blobPath(key)) { unlink(path) }
            }
            for name in try FileSystem.listIfPresent(layout.trees) where !FileSystem.exists(layout.treePath(name) + "/rendered") {
                let lock = try FileLock(path: layout.treeLocks + "/" + name, create: true)
                guard try lock.tryLock(.exclusive) else { continue }
                try FileSystem.removeTree(layout.treePath(name))
                removed.append(layout.treePath(name))
            }
        } catch let error as SystemError {
            throw StoreError.io(error)
        } catch let error as StoreError {
            throw error
        } catch {
            throw StoreError(.io, "removing leftovers: \(error)")
        }
        return removed
    }
}
