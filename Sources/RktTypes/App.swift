import Foundation

/// How to run an image's application (appc `types.App`).
public struct App: Sendable, Hashable, Codable {
    /// Program and arguments; the spec expects an absolute program path, but
    /// only `validateForRuntime()` checks that (the Go validator does not).
    public var exec: [String]
    public var eventHandlers: [EventHandler]
    /// User name, numeric uid or path; required.
    public var user: String
    /// Group name, numeric gid or path; required.
    public var group: String
    public var supplementaryGIDs: [Int]
    /// Absolute path, or empty for the default.
    public var workingDirectory: String
    public var environment: [EnvironmentVariable]
    public var isolators: [Isolator]
    public var mountPoints: [MountPoint]
    public var ports: [Port]
    public var userAnnotations: [String: String]
    public var userLabels: [String: String]

    public init(exec: [String], user: String, group: String, eventHandlers: [EventHandler] = [],
                supplementaryGIDs: [Int] = [], workingDirectory: String = "",
                environment: [EnvironmentVariable] = [], isolators: [Isolator] = [],
                mountPoints: [MountPoint] = [], ports: [Port] = [],
                userAnnotations: [String: String] = [:], userLabels: [String: String] = [:]) {
        self.exec = exec
        self.user = user
        self.group = group
        self.eventHandlers = eventHandlers
        self.supplementaryGIDs = supplementaryGIDs
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.isolators = isolators
        self.mountPoints = mountPoints
        self.ports = ports
        self.userAnnotations = userAnnotations
        self.userLabels = userLabels
    }

    /// The value of environment variable `name`, if set.
    public func environmentValue(of name: String) -> String? {
        environment.first { $0.name == name }?.value
    }

    /// Replaces or appends an environment variable.
    public mutating func setEnvironment(_ name: String, to value: String) {
        if let index = environment.firstIndex(where: { $0.name == name }) {
            environment[index].value = value
        } else {
            environment.append(EnvironmentVariable(name: name, value: value))
        }
    }

    public func validate() throws(AppcError) {
        if user.isEmpty { throw AppcError("user is required") }
        if group.isEmpty { throw AppcError("group is required") }
        if !workingDirectory.isEmpty && !workingDirectory.hasPrefix("/") {
            throw AppcError("workingDirectory must be an absolute path")
        }
        var handlerNames = Set<String>()
        for (index, handler) in eventHandlers.enumerated() {
            do throws(AppcError) {
                try handler.validate()
            } catch {
                throw error.located(at: "eventHandlers[\(index)]")
            }
            if !handlerNames.insert(handler.name).inserted {
                throw AppcError("Only one eventHandler of name \"\(handler.name)\" allowed")
            }
        }
        var environmentNames = Set<String>()
        for (index, variable) in environment.enumerated() {
            do throws(AppcError) {
                try variable.validate()
            } catch {
                throw error.located(at: "environment[\(index)]")
            }
            if !environmentNames.insert(variable.name).inserted {
                throw AppcError("duplicate environment variable of name \"\(variable.name)\"")
            }
        }
        do throws(AppcError) {
            try Isolator.validateSet(isolators)
        } catch {
            throw error.located(at: "isolators")
        }
        for (index, mountPoint) in mountPoints.enumerated() {
            do throws(AppcError) {
                try mountPoint.validate()
            } catch {
                throw error.located(at: "mountPoints[\(index)]")
            }
        }
        for (index, port) in ports.enumerated() {
            do throws(AppcError) {
                try port.validate()
            } catch {
                throw error.located(at: "ports[\(index)]")
            }
        }
    }

    /// Checks beyond the schema that rkt makes before starting the app: an
    /// absolute program path, `CAP_*` capability names, request ≤ limit.
    public func validateForRuntime() throws(AppcError) {
        try validate()
        guard let program = exec.first, !program.isEmpty else {
            throw AppcError("app exec must not be empty", field: "exec")
        }
        if !program.hasPrefix("/") {
            throw AppcError("app exec must be an absolute path", field: "exec")
        }
        for (index, isolator) in isolators.enumerated() {
            do throws(AppcError) {
                try isolator.value.validateForRuntime()
            } catch {
                throw error.located(at: "isolators[\(index)]")
            }
        }
    }

    private enum CodingKeys: String, CodingKey {
        case exec, eventHandlers, user, group, supplementaryGIDs, workingDirectory, environment
        case mountPoints, ports, isolators, userAnnotations, userLabels
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        exec = try container.decodeIfPresent([String].self, forKey: .exec) ?? []
        eventHandlers = try container.decodeIfPresent([EventHandler].self, forKey: .eventHandlers) ?? []
        user = try container.decodeIfPresent(String.self, forKey: .user) ?? ""
        group = try container.decodeIfPresent(String.self, forKey: .group) ?? ""
        supplementaryGIDs = try container.decodeIfPresent([Int].self, forKey: .supplementaryGIDs) ?? []
        workingDirectory = try container.decodeIfPresent(String.self, forKey: .workingDirectory) ?? ""
        environment = try container.decodeIfPresent([EnvironmentVariable].self, forKey: .environment) ?? []
        mountPoints = try container.decodeIfPresent([MountPoint].self, forKey: .mountPoints) ?? []
        ports = try container.decodeIfPresent([Port].self, forKey: .ports) ?? []
        isolators = try container.decodeIfPresent([Isolator].self, forKey: .isolators) ?? []
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
        try container.encode(exec, forKey: .exec)
        if !eventHandlers.isEmpty { try container.encode(eventHandlers, forKey: .eventHandlers) }
        try container.encode(user, forKey: .user)
        try container.encode(group, forKey: .group)
        if !supplementaryGIDs.isEmpty { try container.encode(supplementaryGIDs, forKey: .supplementaryGIDs) }
        if !workingDirectory.isEmpty { try container.encode(workingDirectory, forKey: .workingDirectory) }
        if !environment.isEmpty { try container.encode(environment, forKey: .environment) }
        if !mountPoints.isEmpty { try container.encode(mountPoints, forKey: .mountPoints) }
        if !ports.isEmpty { try container.encode(ports, forKey: .ports) }
        if !isolators.isEmpty { try container.encode(isolators, forKey: .isolators) }
        if !userAnnotations.isEmpty { try container.encode(userAnnotations, forKey: .userAnnotations) }
        if !userLabels.isEmpty { try container.encode(userLabels, forKey: .userLabels) }
    }
}

/// A command run around the app's lifetime: `pre-start` or `post-stop`.
public struct EventHandler: Sendable, Hashable, Codable {
    public var name: String
    public var exec: [String]

    public init(name: String, exec: [String]) {
        self.name = name
        self.exec = exec
    }

    public func validate() throws(AppcError) {
        switch name {
        case "pre-start", "post-stop": return
        case "": throw AppcError("eventHandler \"name\" cannot be empty")
        default: throw AppcError("bad eventHandler \"name\": \"\(name)\"")
        }
    }

    private enum CodingKeys: String, CodingKey { case name, exec }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        exec = try container.decodeIfPresent([String].self, forKey: .exec) ?? []
        do throws(AppcError) {
            try validate()
        } catch {
            throw error.located(at: decoder.codingPath)
        }
    }
}

/// One environment variable; names match `[A-Za-z_][A-Za-z_0-9.-]*`.
public struct EnvironmentVariable: Sendable, Hashable, Codable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    public func validate() throws(AppcError) {
        guard let first = name.unicodeScalars.first else {
            throw AppcError("environment variable name must not be empty")
        }
        let isLetterOrUnderscore = { (scalar: Unicode.Scalar) in
            ("A"..."Z").contains(scalar) || ("a"..."z").contains(scalar) || scalar == "_"
        }
        let isValidRest = { (scalar: Unicode.Scalar) in
            isLetterOrUnderscore(scalar) || ("0"..."9").contains(scalar) || scalar == "." || scalar == "-"
        }
        guard isLetterOrUnderscore(first), name.unicodeScalars.dropFirst().allSatisfy(isValidRest) else {
            throw AppcError("environment variable does not have valid identifier \"\(name)\"")
        }
    }

    private enum CodingKeys: String, CodingKey { case name, value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decodeIfPresent(String.self, forKey: .name) ?? ""
        value = try container.decodeIfPresent(String.self, forKey: .value) ?? ""
    }
}

/// A place in the app's filesystem where a volume is expected (appc `types.MountPoint`).
public struct MountPoint: Sendable, Hashable, Codable {
    public var name: ACName
    public var path: String
    public var readOnly: Bool

    public init(name: ACName, path: String, readOnly: Bool = false) {
        self.name = name
        self.path = path
        self.readOnly = readOnly
    }

    /// Parses `NAME,path=/x,readOnly=true` (Go `MountPointFromString`).
    public static func parse(_ text: String) throws(AppcError) -> MountPoint {
        var name: ACName?
        var path = ""
        var readOnly = false
        for (key, value) in try KeyValueParameters(parsing: text).pairs {
            switch key {
            case "name": name = try ACName(value)
            case "path": path = value
            case "readOnly": readOnly = try KeyValueParameters.parseBool(value)
            default: throw AppcError("unknown mountpoint parameter \"\(key)\"")
            }
        }
        guard let name else { throw AppcError("name must be set") }
        let mountPoint = MountPoint(name: name, path: path, readOnly: readOnly)
        try mountPoint.validate()
        return mountPoint
    }

    /// Deliberately stricter than the Go decoder, which never calls this
    /// check for JSON input: a mount point needs a path.
    public func validate() throws(AppcError) {
        if path.isEmpty { throw AppcError("path must be set") }
    }

    private enum CodingKeys: String, CodingKey { case name, path, readOnly }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(ACName.self, forKey: .name)
        path = try container.decodeIfPresent(String.self, forKey: .path) ?? ""
        readOnly = try container.decodeIfPresent(Bool.self, forKey: .readOnly) ?? false
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        try container.encode(path, forKey: .path)
        if readOnly { try container.encode(readOnly, forKey: .readOnly) }
    }
}

/// A port the app listens on (appc `types.Port`); `count` consecutive ports from `port`.
public struct Port: Sendable, Hashable, Codable {
    public var name: ACName
    public var `protocol`: String
    public var port: UInt
    public var count: UInt
    public var socketActivated: Bool

    public init(name: ACName, protocol: String, port: UInt, count: UInt = 1, socketActivated: Bool = false) {
        self.name = name
        self.protocol = `protocol`
        self.port = port
        self.count = count
        self.socketActivated = socketActivated
    }

    /// Parses `NAME,protocol=tcp,port=80,count=1,socketActivated=false` (Go `PortFromString`).
    public static func parse(_ text: String) throws(AppcError) -> Port {
        var name: ACName?
        var portProtocol = ""
        var number: UInt = 0
        var count: UInt = 0
        var socketActivated = false
        for (key, value) in try KeyValueParameters(parsing: text).pairs {
            switch key {
            case "name": name = try ACName(value)
            case "protocol": portProtocol = value
            case "port": number = try KeyValueParameters.parseUInt16(value)
            case "count": count = try KeyValueParameters.parseUInt16(value)
            case "socketActivated": socketActivated = try KeyValueParameters.parseBool(value)
            default: throw AppcError("unknown port parameter \"\(key)\"")
            }
        }
        guard let name else { throw AppcError("name must be set") }
        var port = Port(name: name, protocol: portProtocol, port: number, count: count,
                        socketActivated: socketActivated)
        try port.validate()
        // As when decoding JSON, an unset count means a single port.
        if port.count == 0 { port.count = 1 }
        return port
    }

    public func validate() throws(AppcError) {
        // Most transport protocols use 16-bit ports.
        if port < 1 || port > 65535 { throw AppcError("port must be in 1-65535 range") }
        if port + count > 65536 { throw AppcError("end of port range must be in 1-65535 range") }
    }

    private enum CodingKeys: String, CodingKey { case name, `protocol`, port, count, socketActivated }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(ACName.self, forKey: .name)
        self.protocol = try container.decodeIfPresent(String.self, forKey: .protocol) ?? ""
        port = try container.decodeIfPresent(UInt.self, forKey: .port) ?? 0
        count = try container.decodeIfPresent(UInt.self, forKey: .count) ?? 0
        socketActivated = try container.decodeIfPresent(Bool.self, forKey: .socketActivated) ?? false
        do throws(AppcError) {
            try validate()
        } catch {
            throw error.located(at: decoder.codingPath)
        }
        if count == 0 { count = 1 }
    }
}

/// A pod port published on the host (appc `types.ExposedPort`).
public struct ExposedPort: Sendable, Hashable, Codable {
    public var name: ACName
    public var hostPort: UInt
    /// An IPv4 or IPv6 address to bind, if restricted.
    public var hostIP: String?
    /// The pod port, when it is not one of the apps' ports of the same name.
    public var podPort: Port?

    public init(name: ACName, hostPort: UInt, hostIP: String? = nil, podPort: Port? = nil) {
        self.name = name
        self.hostPort = hostPort
        self.hostIP = hostIP
        self.podPort = podPort
    }

    public func validate() throws(AppcError) {
        if let hostIP, !IPAddress.isValid(hostIP) {
            throw AppcError("invalid IP address: \(hostIP)", field: "hostIP")
        }
        if let podPort {
            do throws(AppcError) {
                try podPort.validate()
            } catch {
                throw error.located(at: "podPort")
            }
        }
    }

    private enum CodingKeys: String, CodingKey { case name, hostPort, hostIP, podPort }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(ACName.self, forKey: .name)
        hostPort = try container.decodeIfPresent(UInt.self, forKey: .hostPort) ?? 0
        let ip = try container.decodeIfPresent(String.self, forKey: .hostIP) ?? ""
        hostIP = ip.isEmpty ? nil : ip
        podPort = try container.decodeIfPresent(Port.self, forKey: .podPort)
        do throws(AppcError) {
            try validate()
        } catch {
            throw error.located(at: decoder.codingPath)
        }
    }
}

/// IP address syntax as Go's `net.ParseIP` accepts it (no zones, no leading
/// zeros in IPv4 parts), checked with the C library parser.
enum IPAddress {
    static func isValid(_ text: String) -> Bool {
        var ipv4 = in_addr()
        var ipv6 = in6_addr()
        return inet_pton(AF_INET, text, &ipv4) == 1 || inet_pton(AF_INET6, text, &ipv6) == 1
    }
}
