import Foundation

/// rkt's stage0 configuration: `*.json` files in `{system,local,user}/{auth.d,paths.d,stage1.d}`,
/// each `{"rktKind": ..., "rktVersion": "v1", ...}`; later directories override earlier ones
/// per field (paths, stage1) or per domain/registry (auth, dockerAuth).
public struct Configuration: Sendable, Equatable {
    public struct Paths: Sendable, Equatable {
        public var data: String?
        public var stage1Images: String?
    }
    public struct Stage1: Sendable, Equatable {
        public var name: String?
        public var version: String?
        public var location: String?
    }
    public struct Credentials: Sendable, Equatable, Codable {
        public var user: String?
        public var password: String?
        public var token: String?
        public var accessKeyID: String?
        public var secretAccessKey: String?
        public var awsRegion: String?
    }
    public struct Auth: Sendable, Equatable {
        public var type: String
        public var credentials: Credentials
    }

    public var paths = Paths()
    public var stage1 = Stage1()
    /// Keyed by domain.
    public var auth: [String: Auth] = [:]
    /// Keyed by registry.
    public var dockerAuth: [String: Credentials] = [:]

    public struct LoadError: Error, CustomStringConvertible {
        public let description: String
    }

    public static func load(systemDir: String, localDir: String, userDir: String?) throws -> Configuration {
        var config = Configuration()
        for dir in [systemDir, localDir, userDir].compactMap({ $0 }) {
            for kindDir in ["paths.d", "stage1.d", "auth.d"] {
                let path = dir + "/" + kindDir
                guard let names = try? FileManager.default.contentsOfDirectory(atPath: path) else { continue }
                for name in names.sorted() where name.hasSuffix(".json") {
                    let file = path + "/" + name
                    var isDir: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: file, isDirectory: &isDir), !isDir.boolValue else { continue }
                    try config.apply(file: file, expectedKinds: kindDir == "auth.d" ? ["auth", "dockerAuth"] : [String(kindDir.dropLast(2))])
                }
            }
        }
        return config
    }

    private mutating func apply(file: String, expectedKinds: [String]) throws {
        guard let data = FileManager.default.contents(atPath: file),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw LoadError(description: "invalid configuration file \(file): not a JSON object")
        }
        guard let kind = object["rktKind"] as? String, let version = object["rktVersion"] as? String else {
            throw LoadError(description: "invalid configuration file \(file): rktKind and rktVersion are required")
        }
        guard version == "v1" else { throw LoadError(description: "configuration file \(file): unsupported rktVersion \"\(version)\"") }
        guard expectedKinds.contains(kind) else {
            throw LoadError(description: "configuration file \(file): rktKind \"\(kind)\" does not belong in this directory")
        }
        func string(_ key: String) -> String? { object[key] as? String }
        switch kind {
        case "paths":
            if let v = string("data") { paths.data = v }
            if let v = string("stage1-images") { paths.stage1Images = v }
        case "stage1":
            let name = string("name"), version = string("version")
            if (name == nil) != (version == nil) {
                throw LoadError(description: "configuration file \(file): stage1 name and version must be given together")
            }
            if let name { stage1.name = name }
            if let version { stage1.version = version }
            if let v = string("location") { stage1.location = v }
        case "auth":
            guard let domains = object["domains"] as? [String], let type = string("type") else {
                throw LoadError(description: "configuration file \(file): auth needs domains and type")
            }
            let credentials = try decodeCredentials(object["credentials"], file: file)
            for domain in domains { auth[domain] = Auth(type: type, credentials: credentials) }
        case "dockerAuth":
            guard let registries = object["registries"] as? [String] else {
                throw LoadError(description: "configuration file \(file): dockerAuth needs registries")
            }
            let credentials = try decodeCredentials(object["credentials"], file: file)
            for registry in registries { dockerAuth[registry] = credentials }
        default:
            throw LoadError(description: "configuration file \(file): unknown rktKind \"\(kind)\"")
        }
    }

    private func decodeCredentials(_ value: Any?, file: String) throws -> Credentials {
        guard let value else { return Credentials() }
        guard let data = try? JSONSerialization.data(withJSONObject: value),
              let credentials = try? JSONDecoder().decode(Credentials.self, from: data) else {
            throw LoadError(description: "configuration file \(file): invalid credentials")
        }
        return credentials
    }

    /// The merged configuration as `rkt config` prints it.
    public func stage0JSON(dataDir: String) -> [String: Any] {
        var entries: [[String: Any]] = []
        for (domain, entry) in auth.sorted(by: { $0.key < $1.key }) {
            var object: [String: Any] = [:]
            object["rktVersion"] = "v1"
            object["rktKind"] = "auth"
            object["domains"] = [domain]
            object["type"] = entry.type
            object["credentials"] = credentialsJSON(entry.credentials)
            entries.append(object)
        }
        for (registry, credentials) in dockerAuth.sorted(by: { $0.key < $1.key }) {
            var object: [String: Any] = [:]
            object["rktVersion"] = "v1"
            object["rktKind"] = "dockerAuth"
            object["registries"] = [registry]
            object["credentials"] = credentialsJSON(credentials)
            entries.append(object)
        }
        var pathsObject: [String: Any] = [:]
        pathsObject["rktVersion"] = "v1"
        pathsObject["rktKind"] = "paths"
        pathsObject["data"] = dataDir
        pathsObject["stage1-images"] = paths.stage1Images ?? Configuration.defaultStage1ImagesDir
        entries.append(pathsObject)
        var stage1Object: [String: Any] = [:]
        stage1Object["rktVersion"] = "v1"
        stage1Object["rktKind"] = "stage1"
        stage1Object["name"] = stage1.name
        stage1Object["version"] = stage1.version
        stage1Object["location"] = stage1.location
        entries.append(stage1Object)
        return ["stage0": entries]
    }

    private func credentialsJSON(_ credentials: Credentials) -> [String: String] {
        var object: [String: String] = [:]
        object["user"] = credentials.user
        object["password"] = credentials.password
        object["token"] = credentials.token
        object["accessKeyID"] = credentials.accessKeyID
        object["secretAccessKey"] = credentials.secretAccessKey
        object["awsRegion"] = credentials.awsRegion
        return object
    }

    public static let defaultStage1ImagesDir = "/usr/lib/rkt/stage1-images"
}
