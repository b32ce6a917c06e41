#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import RktOS
import RktStore
import RktArchive
import RktTypes

/// Images on local disk in the formats Docker tooling writes: `docker save` tarballs
/// (`manifest.json` at the top, rkt/rkt#3292) and OCI image layouts (`oci-layout` + `index.json`),
/// as directories or tars, as skopeo and umoci write them. Named by path, or as
/// `oci:DIR[:TAG]`, `oci-archive:FILE[:TAG]`, `docker-archive:FILE[:NAME:TAG]` (skopeo's transports).
public struct LocalImageArchive: Sendable, Equatable {
    public enum Format: Sendable, Equatable { case dockerSave, ociLayout }

    public var format: Format
    public var path: String
    public var isDirectory: Bool
    /// Which image of a multi-image archive: a tag (OCI) or `name:tag` (docker save).
    public var selector: String?

    /// Recognises `text` as a local Docker/OCI image; nil for anything else (an ACI, a name, a URL).
    public static func detect(_ text: String) -> LocalImageArchive? {
        for (prefix, wantDirectory) in [("oci:", true), ("oci-archive:", false), ("docker-archive:", false)] where text.hasPrefix(prefix) {
            let rest = String(text.dropFirst(prefix.count))
            // The path ends at the first colon whose prefix exists on disk (paths rarely contain colons).
            var path = rest
            var selector: String?
            if !FileSystem.exists(rest), let colon = rest.firstIndex(of: ":") {
                path = String(rest[..<colon])
                selector = String(rest[rest.index(after: colon)...])
            }
            guard var found = sniff(path) else { return nil }
            if wantDirectory != found.isDirectory { return nil }
            found.selector = selector
            return found
        }
        if text.contains("://") { return nil }
        return sniff(text)
    }

    private static func sniff(_ path: String) -> LocalImageArchive? {
        if FileSystem.isDirectory(path) {
            if FileSystem.isRegularFile(path + "/manifest.json") { return LocalImageArchive(format: .dockerSave, path: path, isDirectory: true) }
            if FileSystem.isRegularFile(path + "/oci-layout") && FileSystem.isRegularFile(path + "/index.json") {
                return LocalImageArchive(format: .ociLayout, path: path, isDirectory: true)
            }
            return nil
        }
        guard FileSystem.isRegularFile(path), let names = PlainTar.topLevelNames(path) else { return nil }
        if names.contains("manifest") || names.contains("rootfs") { return nil }
        if names.contains("manifest.json") { return LocalImageArchive(format: .dockerSave, path: path, isDirectory: false) }
        if names.contains("oci-layout") && names.contains("index.json") { return LocalImageArchive(format: .ociLayout, path: path, isDirectory: false) }
        return nil
    }

    /// Converts and stores the image; returns the stored image (not yet rendered).
    public func importImage(store: ImageStore, logger: Logger) throws(FetchError) -> ImageInfo {
        var unpacked: StoreWorkDirectory?
        var root = path
        if !isDirectory {
            do throws(StoreError) { unpacked = try store.makeWorkDirectory("archive") } catch {
                throw FetchError(.store, "\(path): \(error)", underlying: error)
            }
            root = unpacked!.path
            try PlainTar.extract(path, into: root)
        }
        defer { _ = unpacked }
        let importer = OCIImageImporter(store: store, logger: logger)
        switch format {
        case .dockerSave: return try importDockerSave(root: root, importer: importer)
        case .ociLayout: return try importLayout(root: root, importer: importer)
        }
    }

    /// The fallback image name: the archive's file name without extensions, made a valid appc name.
    private var baseName: String {
        var name = (path as NSString).lastPathComponent
        for suffix in [".tar", ".gz", ".tgz", ".oci"] where name.hasSuffix(suffix) { name = String(name.dropLast(suffix.count)) }
        return (try? ACIdentifier.sanitize("local/" + name)) ?? "local/image"
    }

    // MARK: docker save

    private struct SaveEntry: Decodable {
        var Config: String
        var RepoTags: [String]?
        var Layers: [String]
    }

    private func importDockerSave(root: String, importer: OCIImageImporter) throws(FetchError) -> ImageInfo {
        let entries: [SaveEntry]
        do {
            entries = try JSONDecoder().decode([SaveEntry].self, from: try FileSystem.read(root + "/manifest.json"))
        } catch {
            throw FetchError(.malformedResponse, "\(path): invalid manifest.json: \(error)")
        }
        let entry: SaveEntry
        var repoTag: String?
        if let selector {
            guard let match = entries.first(where: { ($0.RepoTags ?? []).contains(selector) }) else {
                throw FetchError(.invalidArgument, "\(path): no image tagged \(selector) (it has: \(entries.flatMap { $0.RepoTags ?? [] }.joined(separator: ", ")))")
            }
            entry = match
            repoTag = selector
        } else {
            guard entries.count == 1 else {
                throw FetchError(.invalidArgument, "\(path) holds \(entries.count) images: name one as docker-archive:\(path):NAME:TAG (tags: \(entries.flatMap { $0.RepoTags ?? [] }.joined(separator: ", ")))")
            }
            entry = entries[0]
            repoTag = entry.RepoTags?.first
        }
        // Layers in a `docker save` tarball are named by path; their digests are those of their content.
        var source = DirectoryBlobSource(root: root)
        func descriptor(_ relative: String, mediaType: String) throws(FetchError) -> OCIDescriptor {
            guard let clean = LayerConverter.normalizedName(relative), !clean.split(separator: "/").contains("..") else {
                throw FetchError(.malformedResponse, "\(path): manifest.json names \(quotedArg(relative))")
            }
            let file = root + "/" + clean
            let digest = try Self.sha256(ofFile: file, what: "\(path): \(clean)")
            source.paths[digest] = file
            return OCIDescriptor(mediaType: mediaType, digest: digest, size: -1)
        }
        let config = try descriptor(entry.Config, mediaType: "application/vnd.docker.container.image.v1+json")
        var layers: [OCIDescriptor] = []
        for layer in entry.Layers { layers.append(try descriptor(layer, mediaType: "application/vnd.docker.image.rootfs.diff.tar")) }
        let manifest = OCIManifest(schemaVersion: 2, mediaType: nil, config: config, layers: layers)

        var name = baseName
        var version: String?
        var annotations: [(String, String)] = [(DockerAnnotations.originalName, "docker-archive:" + path + (selector.map { ":" + $0 } ?? ""))]
        if let repoTag, let reference = try? DockerReference.parse(repoTag) {
            name = reference.appcName
            version = reference.tag
            annotations += [(DockerAnnotations.registry, reference.registry), (DockerAnnotations.repository, reference.repository)]
            if let tag = reference.tag { annotations.append((DockerAnnotations.tag, tag)) }
        }
        return try importer.importImage(manifest: manifest, manifestDigest: nil, source: source,
                                        origin: ImageOrigin(name: name, version: version, annotations: annotations), latest: false)
    }

    // MARK: OCI layout

    static let refNameAnnotation = "org.opencontainers.image.ref.name"

    private func importLayout(root: String, importer: OCIImageImporter) throws(FetchError) -> ImageInfo {
        let source = DirectoryBlobSource(root: root)
        let index: OCIIndex
        do {
            index = try JSONDecoder().decode(OCIIndex.self, from: try FileSystem.read(root + "/index.json"))
        } catch {
            throw FetchError(.malformedResponse, "\(path): invalid index.json: \(error)")
        }
        let tags = index.manifests.compactMap { $0.annotations?[Self.refNameAnnotation] }
        var chosen: OCIDescriptor
        if let selector {
            guard let match = index.manifests.first(where: { $0.annotations?[Self.refNameAnnotation] == selector }) else {
                throw FetchError(.invalidArgument, "\(path): no image tagged \(selector) (it has: \(tags.joined(separator: ", ")))")
            }
            chosen = match
        } else if index.manifests.count == 1 {
            chosen = index.manifests[0]
        } else if let latest = index.manifests.first(where: { $0.annotations?[Self.refNameAnnotation] == "latest" }) {
            chosen = latest
        } else {
            chosen = try PlatformChoice.choose(from: index, what: path)
        }
        let refName = chosen.annotations?[Self.refNameAnnotation]
        // An index inside the layout (a multi-platform image): pick ours.
        var manifest: OCIManifest?
        var depth = 0
        while manifest == nil {
            depth += 1
            guard OCIDigest.isValid(chosen.digest), depth < 4 else {
                throw FetchError(.malformedResponse, "\(path): unsupported manifest reference \(quotedArg(chosen.digest))")
            }
            let data = try source.blobData(chosen, what: "\(path): manifest \(chosen.digest)")
            switch try ManifestDocument.decode(data, contentType: chosen.mediaType, what: "\(path): manifest \(chosen.digest)") {
            case .manifest(let found): manifest = found
            case .index(let nested): chosen = try PlatformChoice.choose(from: nested, what: path)
            }
        }
        var name = baseName
        var version = refName
        var annotations: [(String, String)] = [(DockerAnnotations.originalName, "oci:" + path + (selector.map { ":" + $0 } ?? ""))]
        // containerd writes full references ("docker.io/library/busybox:1.36") as ref names.
        if let refName, refName.contains("/"), let reference = try? DockerReference.parse(refName) {
            name = reference.appcName
            version = reference.tag
            annotations += [(DockerAnnotations.registry, reference.registry), (DockerAnnotations.repository, reference.repository)]
        }
        if let version { annotations.append((DockerAnnotations.tag, version)) }
        return try importer.importImage(manifest: manifest!, manifestDigest: chosen.digest, source: source,
                                        origin: ImageOrigin(name: name, version: version, annotations: annotations), latest: false)
    }

    private static func sha256(ofFile file: String, what: String) throws(FetchError) -> String {
        // verifyFile with a digest that cannot match reports the actual one; hash directly instead.
        var hasher = StreamingDigest(.sha256)
        let fd = open(file, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw FetchError(.io, "\(what): cannot open: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw FetchError(.io, "\(what): read: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            buffer.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
        }
        return "sha256:" + hasher.finalizeHex()
    }
}
