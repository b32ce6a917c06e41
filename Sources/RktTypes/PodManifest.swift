import Foundation

/// The image an app in a pod runs (appc `schema.RuntimeImage`).
///
/// `id` is optional because pod *templates* (like the spec's
/// `pod_template.json`) name images by name and labels only; a pod ready to
/// run always has one.
public struct RuntimeImage: Sendable, Hashable, Codable {
    public var name: ACIdentifier?
    public var id: Hash?
    public var labels: Labels

    public init(name: ACIdentifier? = nil, id: Hash?, labels: Labels = []) {
        self.name = name
        self.id = id
        self.labels = labels
    }

    private enum CodingKeys: String, CodingKey { case name, id, labels }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(ACIdentifier.self, forKey: .name)
        id = try container.decodeIfPresent(Hash.self, forKey: .id)
        labels = try container.decodeIfPresent(Labels.self, forKey: .labels) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encodeIfPresent(name, forKey: .name)
        try container.encodeIfPresent(id, forKey: .id)
        if !labels.isEmpty { try container.encode(labels, forKey: .labels) }
    }
}

/// Which volume appears where in an app (appc `schema.Mount`); `appVolume`
/// overrides the pod-level volume of the same name for this app only.
public struct Mount: Sendable, Hashable, Codable {
    public var volume: ACName
    public var path: String
    public var appVolume: Volume?

    public init(volume: ACName, path: String, appVolume: Volume? = nil) {
        self.volume = volume
        self.path = path
        self.appVolume = appVolume
    }

    /// Deliberately stricter than the Go decoder, which defines but never
    /// calls this check for JSON input: a mount needs a path.
    public func validate() throws(AppcError) {
        if path.isEmpty { throw AppcError("path must be set") }
        if let appVolume {
            try ManifestCoding.at("appVolume") { () throws(AppcError) in try appVolume.validate() }
        }
    }

    private enum CodingKeys: String, CodingKey { case volume, path, appVolume }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        volume = try container.decode(ACName.self, forKey: .volume)
        path = try container.decodeIfPresent(String.self, forKey: .path) ?? ""
        appVolume = try container.decodeIfPresent(Volume.self, forKey: .appVolume)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(volume, forKey: .volume)
        try container.encode(path, forKey: .path)
        try container.encodeIfPresent(appVolume, forKey: .appVolume)
    }
}

/// One app of a pod (appc `schema.RuntimeApp`).
public struct RuntimeApp: Sendable, Hashable, Codable {
    public var name: ACName
    public var image: RuntimeImage
    /// Overrides the image's own app section when set.
    public var app: App?
    public var readOnlyRootFS: Bool
    public var mounts: [Mount]
    public var annotations: Annotations

    public init(name: ACName, image: RuntimeImage, app: App? = nil, readOnlyRootFS: Bool = false,
                mounts: [Mount] = [], annotations: Annotations = []) {
        self.name = name
        self.image = image
        self.app = app
        self.readOnlyRootFS = readOnlyRootFS
        self.mounts = mounts
        self.annotations = annotations
    }

    public func validate() throws(AppcError) {
        try ManifestCoding.at("image.labels") { () throws(AppcError) in try image.labels.validate() }
        if let app {
            try ManifestCoding.at("app") { () throws(AppcError) in try app.validate() }
        }
        for (index, mount) in mounts.enumerated() {
            try ManifestCoding.at("mounts[\(index)]") { () throws(AppcError) in try mount.validate() }
        }
        try ManifestCoding.at("annotations") { () throws(AppcError) in try annotations.validate() }
    }

    private enum CodingKeys: String, CodingKey { case name, image, app, readOnlyRootFS, mounts, annotations }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(ACName.self, forKey: .name)
        image = try container.decodeIfPresent(RuntimeImage.self, forKey: .image) ?? RuntimeImage(id: nil)
        app = try container.decodeIfPresent(App.self, forKey: .app)
        readOnlyRootFS = try container.decodeIfPresent(Bool.self, forKey: .readOnlyRootFS) ?? false
        mounts = try container.decodeIfPresent([Mount].self, forKey: .mounts) ?? []
        annotations = try container.decodeIfPresent(Annotations.self, forKey: .annotations) ?? []
        do throws(AppcError) {
            try validate()
        } catch {
            throw error.located(at: decoder.codingPath)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(image, forKey: .image)
        try container.encodeIfPresent(app, forKey: .app)
        if readOnlyRootFS { try container.encode(readOnlyRootFS, forKey: .readOnlyRootFS) }
        if !mounts.isEmpty { try container.encode(mounts, forKey: .mounts) }
        if !annotations.isEmpty { try container.encode(annotations, forKey: .annotations) }
    }
}

/// A pod: apps run together with shared volumes and ports (appc `schema.PodManifest`).
public struct PodManifest: Sendable, Hashable, Codable {
    public static let kind = "PodManifest"

    public var acVersion: SemVer
    public var apps: [RuntimeApp]
    public var volumes: [Volume]
    /// Pod-level isolators; unlike an app's, unknown types are allowed here.
    public var isolators: [Isolator]
    public var annotations: Annotations
    public var ports: [ExposedPort]
    public var userAnnotations: [String: String]
    public var userLabels: [String: String]

    public init(apps: [RuntimeApp] = [], acVersion: SemVer = SemVer.appcSpecVersion, volumes: [Volume] = [],
                isolators: [Isolator] = [], annotations: Annotations = [], ports: [ExposedPort] = [],
                userAnnotations: [String: String] = [:], userLabels: [String: String] = [:]) {
        self.acVersion = acVersion
        self.apps = apps
        self.volumes = volumes
        self.isolators = isolators
        self.annotations = annotations
        self.ports = ports
        self.userAnnotations = userAnnotations
        self.userLabels = userLabels
    }

    /// The app called `name`, if any.
    public func app(named name: ACName) -> RuntimeApp? {
        apps.first { $0.name == name }
    }

    /// Parses and fully validates a pod manifest, as `actool validate` would
    /// (except that a missing `acVersion` is rejected here).
    public static func decode(_ data: Data) throws(AppcError) -> PodManifest {
        let header = try ManifestCoding.header(of: data)
        guard header.acKind == kind else {
            throw AppcError("missing or bad ACKind (must be \"\(kind)\")", field: "acKind")
        }
        return try ManifestCoding.decode(PodManifest.self, from: data)
    }

    /// JSON with appc field names, empty optional fields left out. Validates first.
    public func encoded(pretty: Bool = false) throws(AppcError) -> Data {
        try validate()
        return try ManifestCoding.encode(self, pretty: pretty)
    }

    public func validate() throws(AppcError) {
        var appNames = Set<ACName>()
        for (index, app) in apps.enumerated() {
            try ManifestCoding.at("apps[\(index)]") { () throws(AppcError) in try app.validate() }
            guard appNames.insert(app.name).inserted else {
                throw AppcError("duplicate apps of name \"\(app.name.rawValue)\"", field: "apps")
            }
        }
        var volumeNames = Set<ACName>()
        for (index, volume) in volumes.enumerated() {
            try ManifestCoding.at("volumes[\(index)]") { () throws(AppcError) in try volume.validate() }
            guard volumeNames.insert(volume.name).inserted else {
                throw AppcError("duplicate volume name \"\(volume.name.rawValue)\"", field: "volumes")
            }
        }
        for (index, isolator) in isolators.enumerated() {
            try ManifestCoding.at("isolators[\(index)]") { () throws(AppcError) in try isolator.validate() }
        }
        try ManifestCoding.at("annotations") { () throws(AppcError) in try annotations.validate() }
        for (index, port) in ports.enumerated() {
            try ManifestCoding.at("ports[\(index)]") { () throws(AppcError) in try port.validate() }
        }
    }

    private enum CodingKeys: String, CodingKey {
        case acVersion, acKind, apps, volumes, isolators, annotations, ports, userAnnotations, userLabels
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard try container.decodeIfPresent(String.self, forKey: .acKind) == Self.kind else {
            throw AppcError("missing or bad ACKind (must be \"\(Self.kind)\")", field: "acKind")
        }
        // Deliberately stricter than actool, which accepts a pod manifest without acVersion.
        guard let acVersion = try container.decodeIfPresent(SemVer.self, forKey: .acVersion) else {
            throw AppcError("acVersion must be set")
        }
        self.acVersion = acVersion
        apps = try container.decodeIfPresent([RuntimeApp].self, forKey: .apps) ?? []
        volumes = try container.decodeIfPresent([Volume].self, forKey: .volumes) ?? []
        isolators = try container.decodeIfPresent([Isolator].self, forKey: .isolators) ?? []
        annotations = try container.decodeIfPresent(Annotations.self, forKey: .annotations) ?? []
        ports = try container.decodeIfPresent([ExposedPort].self, forKey: .ports) ?? []
        userAnnotations = try container.decodeIfPresent([String: String].self, forKey: .userAnnotations) ?? [:]
        userLabels = try container.decodeIfPresent([String: String].self, forKey: .userLabels) ?? [:]
        do throws(AppcError) {
            try validate()
        } catch {
            throw error.located(at: decoder.codingPath)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(acVersion, forKey: .acVersion)
        try container.encode(Self.kind, forKey: .acKind)
        // The Go encoder always writes these lists; empty ones become [].
        try container.encode(apps, forKey: .apps)
        try container.encode(volumes, forKey: .volumes)
        try container.encode(isolators, forKey: .isolators)
        try container.encode(annotations, forKey: .annotations)
        try container.encode(ports, forKey: .ports)
        if !userAnnotations.isEmpty { try container.encode(userAnnotations, forKey: .userAnnotations) }
        if !userLabels.isEmpty { try container.encode(userLabels, forKey: .userLabels) }
    }
}
