#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktArchive
import RktOS

/// A file in `cas/tmp` that its creator writes an image tar into. It is locked while this object
/// lives, so `image gc` leaves it alone, and removed when the object goes (unless it was
/// published into the store, which renames it away).
public final class StoreWorkFile {
    public let path: String
    let lock: FileLock
    /// Open for reading and writing.
    public var fd: Int32 { lock.fd }

    init(path: String) throws(StoreError) {
        self.path = path
        do {
            lock = try FileLock(path: path, create: true)
            try lock.lock(.exclusive)
        } catch {
            throw StoreError.io(error)
        }
    }

    deinit { unlink(path) }
}

/// A written image that was hashed and validated, ready to be published.
public struct CheckedImage: @unchecked Sendable {
    // @unchecked: the work file is only read through its path and descriptor.
    let imported: ImportedACI
    let work: StoreWorkFile
}

/// A directory in `cas/tmp` for downloads and unpacked archives; locked while it lives, removed after.
public final class StoreWorkDirectory {
    public let path: String
    let lock: FileLock

    init(path: String) throws(StoreError) {
        self.path = path
        do {
            try FileSystem.makeDirectories(path, mode: 0o700)
            lock = try FileLock(path: path)
            try lock.lock(.exclusive)
        } catch {
            throw StoreError.io(error)
        }
    }

    deinit { try? FileSystem.removeTree(path) }
}

/// Images built by rkt itself from other formats (registry layers and the images that list them
/// as dependencies). Each layer is an ordinary image of its own, stored once, so an image is
/// rendered from its layers with the usual dependency rules and `image gc` keeps a layer as long
/// as some image lists it.
extension ImageStore {
    public func makeWorkFile(_ purpose: String) throws(StoreError) -> StoreWorkFile {
        try StoreWorkFile(path: layout.tmp + "/\(purpose)-" + randomSuffix())
    }

    public func makeWorkDirectory(_ purpose: String) throws(StoreError) -> StoreWorkDirectory {
        try StoreWorkDirectory(path: layout.tmp + "/\(purpose)-" + randomSuffix())
    }

    /// Imports the uncompressed ACI the caller wrote into `work`: it is read once to hash and
    /// validate it exactly as `importImage` does, then renamed into place rather than copied.
    @discardableResult
    public func importWrittenImage(_ work: StoreWorkFile, latest: Bool = false) throws(StoreError) -> ImageInfo {
        try importCheckedImage(try Self.checkWrittenImage(work), latest: latest)
    }

    /// The first half of `importWrittenImage`, which touches only the work file (hashing,
    /// validating and syncing it), so callers may run it for several images at once.
    public static func checkWrittenImage(_ work: StoreWorkFile) throws(StoreError) -> CheckedImage {
        let imported: ImportedACI
        do {
            imported = try ACIImporter.importACI(path: work.path, copyUncompressedTo: nil)
        } catch {
            throw StoreError.archive(error)
        }
        guard imported.compression == .none else {
            throw StoreError(.invalidImage, "internal error: a written image must be an uncompressed tar, not \(imported.compression)")
        }
        // The commit syncs it again before the rename; done here, that costs nothing then.
        do { try sysCall("fsync", path: work.path) { fsync(work.fd) } } catch { throw StoreError.io(error) }
        return CheckedImage(imported: imported, work: work)
    }

    /// The second half of `importWrittenImage`: publishes a checked image.
    @discardableResult
    public func importCheckedImage(_ checked: CheckedImage, latest: Bool = false) throws(StoreError) -> ImageInfo {
        try commitImport(checked.imported, tmpPath: checked.work.path, tmpFD: checked.work.fd, latest: latest)
    }

    /// For every stored image that another stored image lists as a dependency: who lists it.
    /// Dependencies are resolved as rendering resolves them (by image ID, else by name and
    /// labels); ones that are not in the store are ignored.
    public func dependents(among images: [ImageInfo]? = nil) throws(StoreError) -> [String: Set<String>] {
        let all: [ImageInfo]
        if let images { all = images } else { all = try allImages() }
        var result: [String: Set<String>] = [:]
        for image in all {
            guard let data = try? manifestData(key: image.key), let manifest = try? Self.validatedManifest(data) else { continue }
            for dependency in StoreManifestFacts(manifest).dependencies {
                var key: String?
                if let id = dependency.imageID, !id.isEmpty {
                    key = try? resolveKey(idPrefix: id)
                } else {
                    key = try findImages(ImageReference(name: dependency.name, labels: dependency.labels)).first?.key
                }
                if let key { result[key, default: []].insert(image.key) }
            }
        }
        return result
    }
}
