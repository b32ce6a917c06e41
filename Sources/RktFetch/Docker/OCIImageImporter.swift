#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import RktArchive
import RktOS
import RktStore

/// Where the blobs of an image come from: a directory (OCI layout, `docker save` tarball) or a
/// registry. Every blob handed out has been checked against its digest.
protocol BlobSource {
    /// A small blob (the image config) in memory.
    func blobData(_ descriptor: OCIDescriptor, what: String) throws(FetchError) -> Data
    /// A blob as a local file, which may live in `work` (and then goes with it).
    func blobFile(_ descriptor: OCIDescriptor, work: StoreWorkDirectory, what: String) throws(FetchError) -> String
}

/// Stores an OCI/Docker image: each layer as its own image named after its digest (skipped when
/// already stored), then the image itself as an ACI with an empty rootfs that lists the layers
/// as dependencies and carries the app converted from the image config.
struct OCIImageImporter {
    let store: ImageStore
    let logger: Logger

    /// Image configs are small; a huge one is a broken or hostile registry.
    static let configLimit = 4 << 20

    func importImage(manifest: OCIManifest, manifestDigest: String?, source: any BlobSource, origin: ImageOrigin, latest: Bool) throws(FetchError) -> ImageInfo {
        guard OCIDigest.isValid(manifest.config.digest) else {
            throw FetchError(.malformedResponse, "\(origin.name): unsupported config digest \(quotedArg(manifest.config.digest)) (want sha256)")
        }
        let configData = try source.blobData(manifest.config, what: "\(origin.name): config \(manifest.config.digest)")
        let config: OCIImageConfig
        do { config = try JSONDecoder().decode(OCIImageConfig.self, from: configData) } catch {
            throw FetchError(.malformedResponse, "\(origin.name): invalid image config: \(error)", underlying: error)
        }
        if let os = config.os, os != "linux" {
            throw FetchError(.invalidArgument, "\(origin.name): the image is for \(os), not linux")
        }

        let layers = try storeLayers(manifest.layers, source: source, imageName: origin.name)

        var annotations = origin.annotations
        if let manifestDigest { annotations.append((DockerAnnotations.manifestDigest, manifestDigest)) }
        annotations.append((DockerAnnotations.imageID, manifest.config.digest))
        let imageManifest = try DockerManifestConverter.imageManifest(
            origin: ImageOrigin(name: origin.name, version: origin.version, annotations: annotations), config: config, layers: layers)
        let work: StoreWorkFile
        do throws(StoreError) { work = try store.makeWorkFile("docker-image") } catch {
            throw FetchError(.store, "\(origin.name): \(error)", underlying: error)
        }
        try LayerConverter.writeEmptyImage(manifest: imageManifest, to: work.fd, what: origin.name)
        do throws(StoreError) {
            let info = try store.importWrittenImage(work, latest: latest)
            logger.debug("stored image", metadata: ["key": "\(info.key)", "layers": "\(layers.count)"])
            return info
        } catch {
            throw FetchError(.store, "\(origin.name): storing the image: \(error)", underlying: error)
        }
    }

    /// A layer that is not in the store yet, with the work files it is fetched and converted into.
    fileprivate struct PendingLayer {
        let index: Int
        let descriptor: OCIDescriptor
        let name: String
        let what: String
        let work: StoreWorkDirectory
        let output: StoreWorkFile
    }

    /// The stored image of each layer, bottom first. Layers already in the store are reused;
    /// the others are downloaded and converted concurrently (one per core: decompression and
    /// hashing are CPU-bound), then imported one by one in order.
    private func storeLayers(_ descriptors: [OCIDescriptor], source: any BlobSource, imageName: String) throws(FetchError) -> [(name: String, imageID: String)] {
        var keys: [String?] = Array(repeating: nil, count: descriptors.count)
        var pending: [PendingLayer] = []
        for (index, layer) in descriptors.enumerated() {
            let what = "\(imageName): layer \(index + 1)/\(descriptors.count) (\(layer.digest))"
            guard OCIDigest.isValid(layer.digest) else {
                throw FetchError(.malformedResponse, "\(what): unsupported digest (want sha256:<64 hex>)")
            }
            if let type = layer.mediaType, !type.contains("tar") || type.contains("encrypted") {
                throw FetchError(.malformedResponse, "\(what): unsupported layer media type \(type)")
            }
            let name = LayerNaming.imageName(forDigest: layer.digest)
            do throws(StoreError) {
                if let existing = try store.findImages(ImageReference(name: name)).first {
                    logger.debug("layer already stored", metadata: ["digest": "\(layer.digest)", "key": "\(existing.key)"])
                    try store.markUsed(key: existing.key)
                    keys[index] = existing.key
                } else if !pending.contains(where: { $0.name == name }) {
                    pending.append(PendingLayer(index: index, descriptor: layer, name: name, what: what,
                                                work: try store.makeWorkDirectory("blob"), output: try store.makeWorkFile("layer")))
                }
            } catch {
                throw FetchError(.store, "\(what): \(error)", underlying: error)
            }
        }

        let failures = FailureList()
        let shared = SharedWork(pending: pending, source: source)
        DispatchQueue.concurrentPerform(iterations: pending.count) { position in
            let layer = shared.pending[position]
            do throws(FetchError) {
                let blob = try shared.source.blobFile(layer.descriptor, work: layer.work, what: layer.what)
                try LayerConverter.convert(blobPath: blob, manifest: try Self.layerManifest(name: layer.name, layer: layer.descriptor),
                                           to: layer.output.fd, what: layer.what)
                // A downloaded blob is not needed once converted (a local one is the user's file).
                if blob.hasPrefix(layer.work.path + "/") { unlink(blob) }
                // Hashing and syncing the converted layer here, concurrently, leaves the
                // sequential imports below only their renames and index rows.
                do throws(StoreError) {
                    shared.record(position, try ImageStore.checkWrittenImage(layer.output))
                } catch {
                    throw FetchError(.store, "\(layer.what): storing the layer: \(error)", underlying: error)
                }
            } catch {
                failures.record(position, error)
            }
        }
        if let failure = failures.first { throw failure }

        for (position, layer) in pending.enumerated() {
            do throws(StoreError) {
                guard let checked = shared.checked(position) else { throw StoreError(.io, "layer was not checked") }
                let info = try store.importCheckedImage(checked)
                logger.debug("stored layer", metadata: ["digest": "\(layer.descriptor.digest)", "key": "\(info.key)"])
                keys[layer.index] = info.key
            } catch {
                throw FetchError(.store, "\(layer.what): storing the layer: \(error)", underlying: error)
            }
        }
        // A digest listed twice in one manifest was converted once.
        for (index, layer) in descriptors.enumerated() where keys[index] == nil {
            keys[index] = pending.first { $0.name == LayerNaming.imageName(forDigest: layer.digest) }.flatMap { keys[$0.index] }
        }
        return descriptors.enumerated().map { (LayerNaming.imageName(forDigest: $0.element.digest), keys[$0.offset] ?? "") }
    }

    static func layerManifest(name: String, layer: OCIDescriptor) throws(FetchError) -> Data {
        var annotations = [["name": DockerAnnotations.layerDigest, "value": layer.digest]]
        if let type = layer.mediaType { annotations.append(["name": DockerAnnotations.layerMediaType, "value": type]) }
        let manifest: [String: Any] = ["acKind": "ImageManifest", "acVersion": "0.8.11", "name": name, "annotations": annotations]
        do {
            return try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys, .withoutEscapingSlashes])
        } catch {
            throw FetchError(.malformedResponse, "layer manifest: \(error)")
        }
    }
}

/// Reads a file while hashing it with SHA-256 and compares with `digest`.
enum DigestCheck {
    static func verifyFile(_ path: String, digest: String, expectedSize: Int64?, what: String) throws(FetchError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FetchError(.io, "\(what): cannot open \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hasher = StreamingDigest(.sha256)
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        var total: Int64 = 0
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw FetchError(.io, "\(what): reading \(path): \(String(cString: strerror(errno)))")
            }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
            total += Int64(n)
        }
        try compare(hasher.finalizeHex(), size: total, digest: digest, expectedSize: expectedSize, what: what)
    }

    static func compare(_ actualHex: String, size: Int64, digest: String, expectedSize: Int64?, what: String) throws(FetchError) {
        if let expectedSize, expectedSize >= 0, size != expectedSize {
            throw FetchError(.truncated, "\(what): got \(size) bytes, the manifest says \(expectedSize)")
        }
        if "sha256:" + actualHex != digest {
            throw FetchError(.malformedResponse, "\(what): digest mismatch: content has sha256:\(actualHex)")
        }
    }
}

/// Blobs in a directory: an OCI layout's `blobs/<alg>/<hex>`, or explicit paths (`docker save`).
struct DirectoryBlobSource: BlobSource {
    let root: String
    /// digest → path, for archives whose blobs are not named by digest.
    var paths: [String: String] = [:]

    func path(for descriptor: OCIDescriptor) -> String {
        paths[descriptor.digest] ?? root + "/blobs/sha256/" + OCIDigest.hex(descriptor.digest)
    }

    func blobData(_ descriptor: OCIDescriptor, what: String) throws(FetchError) -> Data {
        let file = path(for: descriptor)
        let data: Data
        do { data = try FileSystem.read(file) } catch { throw FetchError(.io, "\(what): \(error)", underlying: error) }
        guard data.count <= OCIImageImporter.configLimit else { throw FetchError(.bodyTooLarge, "\(what): larger than \(OCIImageImporter.configLimit) bytes") }
        let actual = OCIDigest.of(data)
        if actual != descriptor.digest { throw FetchError(.malformedResponse, "\(what): digest mismatch: content has \(actual)") }
        return data
    }

    func blobFile(_ descriptor: OCIDescriptor, work: StoreWorkDirectory, what: String) throws(FetchError) -> String {
        let file = path(for: descriptor)
        guard FileSystem.isRegularFile(file) else { throw FetchError(.io, "\(what): blob \(file) is missing") }
        try DigestCheck.verifyFile(file, digest: descriptor.digest, expectedSize: descriptor.size > 0 ? descriptor.size : nil, what: what)
        return file
    }
}

extension OCIImageImporter {
    /// What the concurrent downloads share. @unchecked: read-only once made but for the checked
    /// images, which `lock` guards; blob sources are safe to use from several threads (a
    /// registry client guards its token, a directory is only read).
    fileprivate final class SharedWork: @unchecked Sendable {
        let pending: [PendingLayer]
        let source: any BlobSource
        private let lock = NSLock()
        private var checkedImages: [Int: CheckedImage] = [:]

        init(pending: [PendingLayer], source: any BlobSource) {
            self.pending = pending
            self.source = source
        }

        func record(_ position: Int, _ image: CheckedImage) {
            lock.lock()
            checkedImages[position] = image
            lock.unlock()
        }

        func checked(_ position: Int) -> CheckedImage? {
            lock.lock()
            defer { lock.unlock() }
            return checkedImages[position]
        }
    }
}

/// Errors of concurrent work, reported in order of the work items.
private final class FailureList: @unchecked Sendable {
    // @unchecked: every access holds `lock`.
    private let lock = NSLock()
    private var failures: [(Int, FetchError)] = []

    func record(_ position: Int, _ error: FetchError) {
        lock.lock()
        failures.append((position, error))
        lock.unlock()
    }

    var first: FetchError? {
        lock.lock()
        defer { lock.unlock() }
        return failures.min { $0.0 < $1.0 }?.1
    }
}
