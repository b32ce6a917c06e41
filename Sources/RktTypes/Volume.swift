import Foundation

/// A pod volume (appc `types.Volume`): a host directory (`kind: host`) or a
/// fresh empty directory (`kind: empty`).
public struct Volume: Sendable, Hashable, Codable, CustomStringConvertible {
    public enum Kind: String, Sendable, Hashable, Codable {
        case host, empty
    }

    /// Defaults the spec gives an `empty` volume.
    public static let emptyVolumeDefaultMode = "0755"
    public static let emptyVolumeDefaultUID = 0
    public static let emptyVolumeDefaultGID = 0

    public var name: ACName
    /// Kept as text so that an unknown kind can be reported like the Go validator does.
    public var kind: String
    /// Absolute host path; `host` volumes only.
    public var source: String
    public var readOnly: Bool?
    public var recursive: Bool?
    /// Octal permission string; `empty` volumes only.
    public var mode: String?
    public var uid: Int?
    public var gid: Int?

    /// A volume; `empty` volumes get the default mode, uid and gid when not given.
    public init(name: ACName, kind: Kind, source: String = "", readOnly: Bool? = nil, recursive: Bool? = nil,
                mode: String? = nil, uid: Int? = nil, gid: Int? = nil) {
        self.name = name
        self.kind = kind.rawValue
        self.source = source
        self.readOnly = readOnly
        self.recursive = recursive
        self.mode = mode
        self.uid = uid
        self.gid = gid
        applyDefaults()
    }

    /// The kind as an enum, nil when the text is not a known kind.
    public var knownKind: Kind? { Kind(rawValue: kind) }

    private mutating func applyDefaults() {
        guard kind == Kind.empty.rawValue else { return }
        if mode == nil { mode = Self.emptyVolumeDefaultMode }
        if uid == nil { uid = Self.emptyVolumeDefaultUID }
        if gid == nil { gid = Self.emptyVolumeDefaultGID }
    }

    public func validate() throws(AppcError) {
        switch knownKind {
        case .empty:
            if !source.isEmpty { throw AppcError("source for empty volume must be empty") }
            if mode == nil { throw AppcError("mode for empty volume must be set") }
            if uid == nil { throw AppcError("uid for empty volume must be set") }
            if gid == nil { throw AppcError("gid for empty volume must be set") }
        case .host:
            if source.isEmpty { throw AppcError("source for host volume cannot be empty") }
            if mode != nil { throw AppcError("mode for host volume cannot be set") }
            if uid != nil { throw AppcError("uid for host volume cannot be set") }
            if gid != nil { throw AppcError("gid for host volume cannot be set") }
            if !source.hasPrefix("/") { throw AppcError("source for host volume must be absolute path") }
        case nil:
            throw AppcError("unrecognized volume kind: should be one of \"empty\", \"host\"")
        }
    }

    /// Parses rkt's command-line form, e.g. `data,kind=host,source=/srv,readOnly=true`
    /// or `scratch,kind=empty,mode=0700,uid=1000` (Go `VolumeFromString`).
    public static func parse(_ text: String) throws(AppcError) -> Volume {
        var name: ACName?
        var kind = ""
        var source = ""
        var readOnly: Bool?
        var recursive: Bool?
        var mode: String?
        var uid: Int?
        var gid: Int?
        for (key, value) in try KeyValueParameters(parsing: text).pairs {
            switch key {
            case "name": name = try ACName(value)
            case "kind": kind = value
            case "source": source = value
            case "readOnly": readOnly = try KeyValueParameters.parseBool(value)
            case "recursive": recursive = try KeyValueParameters.parseBool(value)
            case "mode": mode = value
            case "uid": uid = try KeyValueParameters.parseInt(value)
            case "gid": gid = try KeyValueParameters.parseInt(value)
            default: throw AppcError("unknown volume parameter \"\(key)\"")
            }
        }
        guard let name else { throw AppcError("name must be set") }
        var volume = Volume(name: name, kindText: kind, source: source, readOnly: readOnly, recursive: recursive,
                            mode: mode, uid: uid, gid: gid)
        volume.applyDefaults()
        try volume.validate()
        return volume
    }

    private init(name: ACName, kindText: String, source: String, readOnly: Bool?, recursive: Bool?,
                 mode: String?, uid: Int?, gid: Int?) {
        self.name = name
        kind = kindText
        self.source = source
        self.readOnly = readOnly
        self.recursive = recursive
        self.mode = mode
        self.uid = uid
        self.gid = gid
    }

    /// The command-line form `parse` reads, leaving out `empty` defaults.
    public var description: String {
        var text = "\(name.rawValue),kind=\(kind)"
        if !source.isEmpty { text += ",source=\(source)" }
        if let readOnly { text += ",readOnly=\(readOnly)" }
        if let recursive { text += ",recursive=\(recursive)" }
        if knownKind == .empty {
            if let mode, mode != Self.emptyVolumeDefaultMode { text += ",mode=\(mode)" }
            if let uid, uid != Self.emptyVolumeDefaultUID { text += ",uid=\(uid)" }
            if let gid, gid != Self.emptyVolumeDefaultGID { text += ",gid=\(gid)" }
        }
        return text
    }

    private enum CodingKeys: String, CodingKey { case name, kind, source, readOnly, recursive, mode, uid, gid }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        // A missing name is reported by `validate` in Go ("name must be set").
        guard container.contains(.name), !((try? container.decodeNil(forKey: .name)) ?? false) else {
            throw AppcError("name must be set", field: AppcError.render(decoder.codingPath))
        }
        name = try container.decode(ACName.self, forKey: .name)
        kind = try container.decodeIfPresent(String.self, forKey: .kind) ?? ""
        source = try container.decodeIfPresent(String.self, forKey: .source) ?? ""
        readOnly = try container.decodeIfPresent(Bool.self, forKey: .readOnly)
        recursive = try container.decodeIfPresent(Bool.self, forKey: .recursive)
        mode = try container.decodeIfPresent(String.self, forKey: .mode)
        uid = try container.decodeIfPresent(Int.self, forKey: .uid)
        gid = try container.decodeIfPresent(Int.self, forKey: .gid)
        applyDefaults()
        do throws(AppcError) {
            try validate()
        } catch {
            throw error.located(at: decoder.codingPath)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(kind, forKey: .kind)
        if !source.isEmpty { try container.encode(source, forKey: .source) }
        try container.encodeIfPresent(readOnly, forKey: .readOnly)
        try container.encodeIfPresent(recursive, forKey: .recursive)
        try container.encodeIfPresent(mode, forKey: .mode)
        try container.encodeIfPresent(uid, forKey: .uid)
        try container.encodeIfPresent(gid, forKey: .gid)
    }
}
