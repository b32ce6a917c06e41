import Foundation

/// A request from stage0 to a stage1 entrypoint: the common members plus one command payload,
/// carried under a member named after the command (`"run": {…}`; `describe` has none).
public struct Stage1Request: Codable, Sendable, Equatable {
    /// The protocol version this request is written in.
    public var protocolVersion: String
    /// Where the pod is.
    public var pod: PodInfo
    /// Whether the user asked for debug output (`rkt --debug`): the plugin may log to stderr.
    public var debug: Bool
    /// Vendor additions, by reverse-DNS or domain-prefixed key. Receivers ignore keys they do not
    /// know; stage0 never puts anything here that changes the meaning of the standard members.
    public var extensions: [String: JSONValue]
    /// The command and its payload.
    public var payload: Payload

    public enum Payload: Sendable, Equatable {
        case run(RunPayload)
        case enter(EnterPayload)
        case gc(GCPayload)
        case stop(StopPayload)
        case describe

        public var command: Stage1Command {
            switch self {
            case .run: .run
            case .enter: .enter
            case .gc: .gc
            case .stop: .stop
            case .describe: .describe
            }
        }
    }

    public init(
        protocolVersion: String = Stage1Protocol.version, pod: PodInfo, debug: Bool = false,
        extensions: [String: JSONValue] = [:], payload: Payload
    ) {
        self.protocolVersion = protocolVersion
        self.pod = pod
        self.debug = debug
        self.extensions = extensions
        self.payload = payload
    }

    /// The request's `command` member.
    public var command: Stage1Command { payload.command }

    public var run: RunPayload? { if case .run(let payload) = payload { payload } else { nil } }
    public var enter: EnterPayload? { if case .enter(let payload) = payload { payload } else { nil } }
    public var gc: GCPayload? { if case .gc(let payload) = payload { payload } else { nil } }
    public var stop: StopPayload? { if case .stop(let payload) = payload { payload } else { nil } }

    enum CodingKeys: String, CodingKey {
        case protocolVersion, command, pod, debug, extensions, run, enter, gc, stop
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        protocolVersion = try container.decode(String.self, forKey: .protocolVersion)
        let name = try container.decode(String.self, forKey: .command)
        guard let command = Stage1Command(rawValue: name) else {
            throw DecodingError.dataCorruptedError(
                forKey: .command, in: container, debugDescription: "unknown command \"\(name)\"")
        }
        pod = try container.decode(PodInfo.self, forKey: .pod)
        debug = try container.decodeIfPresent(Bool.self, forKey: .debug) ?? false
        extensions = try container.decodeIfPresent([String: JSONValue].self, forKey: .extensions) ?? [:]
        switch command {
        case .run: payload = .run(try container.decode(RunPayload.self, forKey: .run))
        case .enter: payload = .enter(try container.decode(EnterPayload.self, forKey: .enter))
        case .gc: payload = .gc(try container.decode(GCPayload.self, forKey: .gc))
        case .stop: payload = .stop(try container.decode(StopPayload.self, forKey: .stop))
        case .describe: payload = .describe
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(protocolVersion, forKey: .protocolVersion)
        try container.encode(command, forKey: .command)
        try container.encode(pod, forKey: .pod)
        try container.encode(debug, forKey: .debug)
        try container.encode(extensions, forKey: .extensions)
        switch payload {
        case .run(let payload): try container.encode(payload, forKey: .run)
        case .enter(let payload): try container.encode(payload, forKey: .enter)
        case .gc(let payload): try container.encode(payload, forKey: .gc)
        case .stop(let payload): try container.encode(payload, forKey: .stop)
        case .describe: break
        }
    }

    // MARK: Wire form

    /// The request as stage0 writes it: compact JSON, object keys sorted, `/` not escaped, no
    /// trailing newline. Equal requests encode to equal bytes.
    public func encoded() -> Data { Stage1JSON.encode(self) }

    /// Parses a request, checking its version first so that a request in a version the receiver
    /// does not speak is answered with `.incompatibleVersion` even if the rest would not parse.
    ///
    /// - Throws: `Stage1Error`: `.invalidRequest` (not JSON, missing or mistyped member),
    ///   `.incompatibleVersion` (`protocolVersion` not in `supportedVersions`), `.unsupported`
    ///   (a command this library does not know).
    public static func decode(
        _ data: Data, supportedVersions: [String] = Stage1Protocol.supportedVersions
    ) throws(Stage1Error) -> Stage1Request {
        struct Header: Decodable {
            var protocolVersion: String?
            var command: String?
        }
        let header: Header
        do {
            header = try Stage1JSON.decoder().decode(Header.self, from: data)
        } catch {
            throw Stage1Error(code: .invalidRequest, msg: "the request is not a JSON object", details: Stage1JSON.describe(error))
        }
        guard let version = header.protocolVersion else {
            throw Stage1Error(code: .invalidRequest, msg: "the request has no protocolVersion")
        }
        guard supportedVersions.contains(version) else {
            throw Stage1Error(
                code: .incompatibleVersion,
                msg: "protocol version \(version) is not supported",
                details: "supported: \(supportedVersions.joined(separator: ", "))")
        }
        guard let name = header.command else {
            throw Stage1Error(code: .invalidRequest, msg: "the request has no command")
        }
        guard Stage1Command(rawValue: name) != nil else {
            throw Stage1Error(code: .unsupported, msg: "unknown command \"\(name)\"")
        }
        do {
            return try Stage1JSON.decoder().decode(Stage1Request.self, from: data)
        } catch {
            throw Stage1Error(code: .invalidRequest, msg: "invalid \(name) request", details: Stage1JSON.describe(error))
        }
    }

    // MARK: Required features

    /// The features a plugin must list to receive this request, each with the field that needs it.
    /// Stage0 adds what only it knows (e.g. `volumes` when the pod manifest declares volumes).
    public var requiredFeatures: [FeatureRequirement] {
        var out: [FeatureRequirement] = []
        if let feature = command.feature { out.append(FeatureRequirement(feature, reason: "command \(command.rawValue)")) }
        guard let run else { return out }
        if run.apps.count > 1 { out.append(FeatureRequirement(.multipleApps, reason: "\(run.apps.count) apps")) }
        if run.interactive { out.append(FeatureRequirement(.interactive, reason: "run.interactive")) }
        if run.net != .host && run.net != .none {
            out.append(FeatureRequirement(.networks, reason: "run.net is \"\(run.net.rawValue)\""))
        }
        if run.privateUsers != nil { out.append(FeatureRequirement(.privateUsers, reason: "run.privateUsers")) }
        if run.ipc != .auto { out.append(FeatureRequirement(.ipcModes, reason: "run.ipc is \"\(run.ipc.rawValue)\"")) }
        if run.hostname != nil { out.append(FeatureRequirement(.hostname, reason: "run.hostname")) }
        if run.dns.mode != .default && run.dns.mode != .none {
            out.append(FeatureRequirement(.dns, reason: "run.dns.mode is \"\(run.dns.mode.rawValue)\""))
        }
        if run.hostsMode != .default {
            out.append(FeatureRequirement(.hosts, reason: "run.hostsMode is \"\(run.hostsMode.rawValue)\""))
        }
        if run.mdsToken != nil { out.append(FeatureRequirement(.metadataService, reason: "run.mdsToken")) }
        for app in run.apps {
            if let isolators = app.appManifest?.isolators, !isolators.isEmpty {
                out.append(FeatureRequirement(.isolators, reason: "app \(app.name) has isolators"))
            }
            if let mountPoints = app.appManifest?.mountPoints, !mountPoints.isEmpty {
                out.append(FeatureRequirement(.volumes, reason: "app \(app.name) has mount points"))
            }
        }
        return out
    }
}

/// Where the pod lives. All paths are absolute host paths.
public struct PodInfo: Codable, Sendable, Equatable {
    /// The pod UUID, lower case with dashes.
    public var uuid: String
    /// The pod directory (`…/pods/run/<uuid>`); also the entrypoint's working directory.
    public var path: String
    /// The pod manifest (`<path>/pod`).
    public var manifestPath: String
    /// The stage1 rootfs (`<path>/stage1/rootfs`).
    public var stage1Rootfs: String

    public init(uuid: String, path: String, manifestPath: String, stage1Rootfs: String) {
        self.uuid = uuid
        self.path = path
        self.manifestPath = manifestPath
        self.stage1Rootfs = stage1Rootfs
    }

    /// The standard layout: manifest at `<path>/pod`, stage1 rootfs at `<path>/stage1/rootfs`.
    public init(uuid: String, path: String) {
        self.init(uuid: uuid, path: path, manifestPath: path + "/pod", stage1Rootfs: path + "/stage1/rootfs")
    }
}

/// `enter`: run a command inside a running app.
public struct EnterPayload: Codable, Sendable, Equatable {
    /// The app to enter (stage0 resolves it when the pod has one app).
    public var appName: String
    /// The command and its arguments; never empty.
    public var command: [String]
    /// The pid stage0 read from the pod's `pid` file (or the single child of the `ppid` process).
    public var pid: Int32
    /// Whether stdin is connected (`rkt enter` always passes the user's terminal).
    public var interactive: Bool
    /// Whether stdin is a terminal.
    public var tty: Bool

    public init(appName: String, command: [String], pid: Int32, interactive: Bool = true, tty: Bool = false) {
        self.appName = appName
        self.command = command
        self.pid = pid
        self.interactive = interactive
        self.tty = tty
    }

    enum CodingKeys: String, CodingKey { case appName, command, pid, interactive, tty }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        appName = try container.decode(String.self, forKey: .appName)
        command = try container.decode([String].self, forKey: .command)
        pid = try container.decode(Int32.self, forKey: .pid)
        interactive = try container.decodeIfPresent(Bool.self, forKey: .interactive) ?? false
        tty = try container.decodeIfPresent(Bool.self, forKey: .tty) ?? false
    }
}

/// `stop`: stop a running pod.
public struct StopPayload: Codable, Sendable, Equatable {
    /// Kill at once (SIGKILL) instead of asking the apps to stop (SIGTERM).
    public var force: Bool

    public init(force: Bool = false) { self.force = force }

    enum CodingKeys: String, CodingKey { case force }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        force = try container.decodeIfPresent(Bool.self, forKey: .force) ?? false
    }
}

/// `gc`: release what an exited pod holds outside its directory.
public struct GCPayload: Codable, Sendable, Equatable {
    /// The local configuration directory (`--local-config`, default `/etc/rkt`).
    public var localConfig: String

    public init(localConfig: String = "/etc/rkt") { self.localConfig = localConfig }

    enum CodingKeys: String, CodingKey { case localConfig }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        localConfig = try container.decodeIfPresent(String.self, forKey: .localConfig) ?? "/etc/rkt"
    }
}
