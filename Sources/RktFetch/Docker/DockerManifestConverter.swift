import Foundation
import RktStore
import RktTypes

/// Annotation names the converter writes on image manifests. `appc.io/docker/*` follows
/// docker2aci; the layer ones are ours.
public enum DockerAnnotations {
    public static let registry = "appc.io/docker/registryurl"
    public static let repository = "appc.io/docker/repository"
    public static let tag = "appc.io/docker/tag"
    /// The manifest digest: what `docker://NAME@DIGEST` pins.
    public static let manifestDigest = "appc.io/docker/manifestdigest"
    /// The config digest, which Docker shows as the image ID.
    public static let imageID = "appc.io/docker/imageid"
    /// What the user typed, e.g. `docker://127.0.0.1:5000/busybox:latest`.
    public static let originalName = "appc.io/docker/originalname"
    public static let entrypoint = "appc.io/docker/entrypoint"
    public static let cmd = "appc.io/docker/cmd"
    /// "true" when the app's mount points come from Docker `VOLUME`s: a stage1 should copy the
    /// image's content at the mount point into an empty volume before the app starts, as Docker does.
    public static let volumeCopyUp = "appc.io/docker/volume-copy-up"
    /// On layer images: the digest of the registry blob the layer was converted from, and its media type.
    public static let layerDigest = ImageStore.layerDigestAnnotation
    public static let layerMediaType = "appc.io/oci/layer-mediatype"
}

/// Naming of stored layers: derived from the blob digest only, so every image that has the
/// layer finds the same stored copy.
public enum LayerNaming {
    public static let prefix = "oci-layer/"

    /// `oci-layer/sha256-<64 hex>` for `sha256:<64 hex>`.
    public static func imageName(forDigest digest: String) -> String {
        prefix + digest.replacingOccurrences(of: ":", with: "-")
    }

    public static func isLayerName(_ name: String) -> Bool { name.hasPrefix(prefix) }
}

/// Where a converted image came from, for its name, labels and annotations.
public struct ImageOrigin: Sendable {
    public var name: String
    public var version: String?
    public var annotations: [(String, String)]

    public init(name: String, version: String?, annotations: [(String, String)]) {
        self.name = name
        self.version = version
        self.annotations = annotations
    }
}

/// Turns an OCI/Docker image configuration plus its stored layers into an appc image manifest.
public enum DockerManifestConverter {
    /// - Parameter layers: the stored layer images, bottom layer first (appc applies the first
    ///   listed dependency first, so the order carries over unchanged).
    public static func imageManifest(
        origin: ImageOrigin, config: OCIImageConfig, layers: [(name: String, imageID: String)]
    ) throws(FetchError) -> Data {
        var manifest: [String: Any] = [
            "acKind": "ImageManifest",
            "acVersion": SemVer.appcSpecVersion.description,
            "name": origin.name,
        ]
        var labels: [[String: String]] = []
        if let version = origin.version { labels.append(["name": "version", "value": version]) }
        let os = config.os ?? "linux"
        labels.append(["name": "os", "value": os])
        if let arch = appcArch(config.architecture, variant: config.variant) { labels.append(["name": "arch", "value": arch]) }
        manifest["labels"] = labels
        manifest["dependencies"] = layers.map { ["imageName": $0.name, "imageID": $0.imageID] }

        var annotations = origin.annotations
        if let container = config.config {
            let app = try self.app(container)
            if let app { manifest["app"] = app }
            if let entrypoint = container.Entrypoint, !entrypoint.isEmpty { annotations.append((DockerAnnotations.entrypoint, jsonString(entrypoint))) }
            if let cmd = container.Cmd, !cmd.isEmpty { annotations.append((DockerAnnotations.cmd, jsonString(cmd))) }
            if app != nil, !(container.Volumes ?? [:]).isEmpty { annotations.append((DockerAnnotations.volumeCopyUp, "true")) }
        }
        manifest["annotations"] = annotations.map { ["name": $0.0, "value": $0.1] }

        let data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: manifest, options: [.sortedKeys, .withoutEscapingSlashes])
        } catch {
            throw FetchError(.malformedResponse, "converting image config: \(error)", underlying: error)
        }
        do throws(AppcError) {
            _ = try ImageManifest.decode(data)
        } catch {
            throw FetchError(.malformedResponse, "the converted image manifest is invalid: \(error)", underlying: error)
        }
        return data
    }

    /// The appc app: Entrypoint+Cmd → exec, Env, WorkingDir, User[:group], ExposedPorts, Volumes.
    /// No app when the image has nothing to run (a base image), as docker2aci did.
    static func app(_ container: OCIImageConfig.Container) throws(FetchError) -> [String: Any]? {
        let exec = (container.Entrypoint ?? []) + (container.Cmd ?? [])
        if exec.isEmpty { return nil }
        let (user, group) = userAndGroup(container.User)
        var app: [String: Any] = ["exec": exec, "user": user, "group": group]
        if let dir = container.WorkingDir, !dir.isEmpty { app["workingDirectory"] = dir }
        var environment: [[String: String]] = []
        var seen = Set<String>()
        for entry in container.Env ?? [] {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = String(parts[0])
            guard !name.isEmpty else { continue }
            let value = parts.count > 1 ? String(parts[1]) : ""
            // Docker lets a later entry win; appc refuses duplicates.
            if seen.contains(name) { environment.removeAll { $0["name"] == name } }
            seen.insert(name)
            environment.append(["name": name, "value": value])
        }
        if !environment.isEmpty { app["environment"] = environment }
        let ports = try self.ports(container.ExposedPorts)
        if !ports.isEmpty { app["ports"] = ports }
        let mountPoints = try self.mountPoints(container.Volumes)
        if !mountPoints.isEmpty { app["mountPoints"] = mountPoints }
        return app
    }

    /// Docker's `USER`: `user`, `uid`, `user:group` or `uid:gid`. Without a group Docker uses the
    /// user's primary group; like docker2aci we take root's (0), and root/root when unset.
    static func userAndGroup(_ user: String?) -> (String, String) {
        guard let user, !user.isEmpty else { return ("0", "0") }
        let parts = user.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).map(String.init)
        let name = parts[0].isEmpty ? "0" : parts[0]
        if parts.count < 2 || parts[1].isEmpty { return (name, "0") }
        return (name, parts[1])
    }

    /// `80/tcp` → `{"name": "80-tcp", "protocol": "tcp", "port": 80}`, sorted by name.
    static func ports(_ exposed: [String: IgnoredJSON]?) throws(FetchError) -> [[String: Any]] {
        var ports: [[String: Any]] = []
        for key in (exposed ?? [:]).keys.sorted() {
            let parts = key.lowercased().split(separator: "/", maxSplits: 1).map(String.init)
            let proto = parts.count > 1 ? parts[1] : "tcp"
            guard let first = parts.first, let port = UInt16(first), port > 0, ["tcp", "udp", "sctp"].contains(proto) else {
                throw FetchError(.malformedResponse, "image config: invalid exposed port \(quotedArg(key))")
            }
            ports.append(["name": "\(port)-\(proto)", "protocol": proto, "port": Int(port)])
        }
        return ports
    }

    /// `/var/lib/data` → mount point `volume-var-lib-data` (docker2aci's name: the sanitized
    /// `volume/<path>`), with a numeric suffix if two paths sanitize alike.
    static func mountPoints(_ volumes: [String: IgnoredJSON]?) throws(FetchError) -> [[String: Any]] {
        var result: [[String: Any]] = []
        var used: [String: Int] = [:]
        for path in (volumes ?? [:]).keys.sorted() {
            guard path.hasPrefix("/") else { throw FetchError(.malformedResponse, "image config: volume \(quotedArg(path)) is not an absolute path") }
            var name: String
            do { name = try ACName.sanitize("volume" + path) } catch {
                throw FetchError(.malformedResponse, "image config: volume \(quotedArg(path)): \(error)")
            }
            if let count = used[name] {
                used[name] = count + 1
                name += "-\(count)"
            } else {
                used[name] = 1
            }
            result.append(["name": name, "path": path, "readOnly": false])
        }
        return result
    }

    /// OCI architecture names → appc's `arch` label values; nil for ones appc does not know.
    static func appcArch(_ architecture: String?, variant: String?) -> String? {
        switch architecture {
        case "amd64": "amd64"
        case "386": "i386"
        case "arm64": "aarch64"
        case "ppc64le": "ppc64le"
        case "s390x": "s390x"
        case "arm": variant == "v6" ? "armv6l" : "armv7l"
        default: nil
        }
    }

    static func jsonString(_ strings: [String]) -> String {
        guard let data = try? JSONSerialization.data(withJSONObject: strings, options: [.withoutEscapingSlashes]) else { return "[]" }
        return String(decoding: data, as: UTF8.self)
    }
}
