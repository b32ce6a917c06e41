import Foundation

/// An image this image is layered on (appc `types.Dependency`).
public struct Dependency: Sendable, Hashable, Codable {
    public var imageName: ACIdentifier
    public var imageID: Hash?
    public var labels: Labels
    /// Size in bytes when known; 0 means unknown.
    public var size: UInt

    public init(imageName: ACIdentifier, imageID: Hash? = nil, labels: Labels = [], size: UInt = 0) {
        self.imageName = imageName
        self.imageID = imageID
        self.labels = labels
        self.size = size
    }

    public func validate() throws(AppcError) {
        do throws(AppcError) {
            try labels.validate()
        } catch {
            throw error.located(at: "labels")
        }
    }

    private enum CodingKeys: String, CodingKey { case imageName, imageID, labels, size }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard container.contains(.imageName), !((try? container.decodeNil(forKey: .imageName)) ?? false) else {
            throw AppcError("imageName cannot be empty", field: AppcError.render(decoder.codingPath))
        }
        imageName = try container.decode(ACIdentifier.self, forKey: .imageName)
        imageID = try container.decodeIfPresent(Hash.self, forKey: .imageID)
        labels = try container.decodeIfPresent(Labels.self, forKey: .labels) ?? []
        size = try container.decodeIfPresent(UInt.self, forKey: .size) ?? 0
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(imageName, forKey: .imageName)
        try container.encodeIfPresent(imageID, forKey: .imageID)
        if !labels.isEmpty { try container.encode(labels, forKey: .labels) }
        if size != 0 { try container.encode(size, forKey: .size) }
    }
}

/// The manifest inside an ACI (appc `schema.ImageManifest`).
public struct ImageManifest: Sendable, Hashable, Codable {
    public static let kind = "ImageManifest"

    public var acVersion: SemVer
    public var name: ACIdentifier
    public var labels: Labels
    public var app: App?
    public var annotations: Annotations
    public var dependencies: [Dependency]
    /// Paths kept from the dependencies' filesystems; empty keeps everything.
    public var pathWhitelist: [String]

    public init(name: ACIdentifier, acVersion: SemVer = SemVer.appcSpecVersion, labels: Labels = [], app: App? = nil,
                annotations: Annotations = [], dependencies: [Dependency] = [], pathWhitelist: [String] = []) {
        self.acVersion = acVersion
        self.name = name
        self.labels = labels
        self.app = app
        self.annotations = annotations
        self.dependencies = dependencies
        self.pathWhitelist = pathWhitelist
    }

    /// Parses and fully validates an image manifest, as `actool validate` would.
    public static func decode(_ data: Data) throws(AppcError) -> ImageManifest {
        let header = try ManifestCoding.header(of: data)
        guard header.acKind == kind else {
            throw AppcError("missing or bad ACKind (must be \"\(kind)\")", field: "acKind")
        }
        return try ManifestCoding.decode(ImageManifest.self, from: data)
    }

    /// JSON with appc field names, empty optional fields left out. Validates first.
    public func encoded(pretty: Bool = false) throws(AppcError) -> Data {
        try validate()
        return try ManifestCoding.encode(self, pretty: pretty)
    }

    public func validate() throws(AppcError) {
        try ManifestCoding.at("labels") { () throws(AppcError) in try labels.validate() }
        if let app {
            try ManifestCoding.at("app") { () throws(AppcError) in try app.validate() }
        }
        try ManifestCoding.at("annotations") { () throws(AppcError) in try annotations.validate() }
        for (index, dependency) in dependencies.enumerated() {
            try ManifestCoding.at("dependencies[\(index)]") { () throws(AppcError) in try dependency.validate() }
        }
    }

    private enum CodingKeys: String, CodingKey {
        case acKind, acVersion, name, labels, app, annotations, dependencies, pathWhitelist
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        guard try container.decodeIfPresent(String.self, forKey: .acKind) == Self.kind else {
            throw AppcError("missing or bad ACKind (must be \"\(Self.kind)\")", field: "acKind")
        }
        guard let acVersion = try container.decodeIfPresent(SemVer.self, forKey: .acVersion) else {
            throw AppcError("acVersion must be set")
        }
        self.acVersion = acVersion
        guard let name = try container.decodeIfPresent(ACIdentifier.self, forKey: .name) else {
            throw AppcError("name must be set")
        }
        self.name = name
        labels = try container.decodeIfPresent(Labels.self, forKey: .labels) ?? []
        app = try container.decodeIfPresent(App.self, forKey: .app)
        annotations = try container.decodeIfPresent(Annotations.self, forKey: .annotations) ?? []
        dependencies = try container.decodeIfPresent([Dependency].self, forKey: .dependencies) ?? []
        pathWhitelist = try container.decodeIfPresent([String].self, forKey: .pathWhitelist) ?? []
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(Self.kind, forKey: .acKind)
        try container.encode(acVersion, forKey: .acVersion)
        try container.encode(name, forKey: .name)
        if !labels.isEmpty { try container.encode(labels, forKey: .labels) }
        try container.encodeIfPresent(app, forKey: .app)
        if !annotations.isEmpty { try container.encode(annotations, forKey: .annotations) }
        if !dependencies.isEmpty { try container.encode(dependencies, forKey: .dependencies) }
        if !pathWhitelist.isEmpty { try container.encode(pathWhitelist, forKey: .pathWhitelist) }
    }
}
