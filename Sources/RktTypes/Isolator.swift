import Foundation

/// `{"default": …, "request": …, "limit": …}`, the value of every `resource/*` isolator.
public struct ResourceRequirements: Sendable, Hashable, Codable {
    /// Only meaningful for the bandwidth/IOPS resources, where it must be true.
    public var isDefault: Bool
    public var request: Quantity?
    public var limit: Quantity?

    public init(request: Quantity? = nil, limit: Quantity? = nil, isDefault: Bool = false) {
        self.request = request
        self.limit = limit
        self.isDefault = isDefault
    }

    private enum CodingKeys: String, CodingKey {
        case isDefault = "default", request, limit
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        isDefault = try container.decodeIfPresent(Bool.self, forKey: .isDefault) ?? false
        request = try container.decodeIfPresent(Quantity.self, forKey: .request)
        limit = try container.decodeIfPresent(Quantity.self, forKey: .limit)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if isDefault { try container.encode(isDefault, forKey: .isDefault) }
        try container.encodeIfPresent(request, forKey: .request)
        try container.encodeIfPresent(limit, forKey: .limit)
    }
}

/// The value of the seccomp isolators: syscall names plus an optional errno
/// (e.g. `EPERM`) returned for filtered calls.
public struct SeccompSet: Sendable, Hashable, Codable {
    public var syscalls: [String]
    public var errno: String?

    public init(syscalls: [String], errno: String? = nil) {
        self.syscalls = syscalls
        self.errno = errno
    }

    private enum CodingKeys: String, CodingKey {
        case syscalls = "set", errno
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        syscalls = try container.decodeIfPresent([String].self, forKey: .syscalls) ?? []
        let errno = try container.decodeIfPresent(String.self, forKey: .errno) ?? ""
        self.errno = errno.isEmpty ? nil : errno
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(syscalls, forKey: .syscalls)
        try container.encodeIfPresent(errno, forKey: .errno)
    }
}

/// The value of `os/linux/selinux-context`.
public struct SELinuxContext: Sendable, Hashable, Codable {
    public var user: String
    public var role: String
    public var type: String
    public var level: String

    public init(user: String, role: String, type: String, level: String) {
        self.user = user
        self.role = role
        self.type = type
        self.level = level
    }

    private enum CodingKeys: String, CodingKey { case user, role, type, level }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        user = try container.decodeIfPresent(String.self, forKey: .user) ?? ""
        role = try container.decodeIfPresent(String.self, forKey: .role) ?? ""
        type = try container.decodeIfPresent(String.self, forKey: .type) ?? ""
        level = try container.decodeIfPresent(String.self, forKey: .level) ?? ""
    }
}

/// The typed value of an isolator; the case decides the isolator's name.
public enum IsolatorValue: Sendable, Hashable {
    case cpu(ResourceRequirements)
    case memory(ResourceRequirements)
    case blockBandwidth(ResourceRequirements)
    case blockIOPS(ResourceRequirements)
    case networkBandwidth(ResourceRequirements)
    /// Capability names such as `CAP_NET_ADMIN`.
    case capabilitiesRetainSet([String])
    case capabilitiesRemoveSet([String])
    case seccompRetainSet(SeccompSet)
    case seccompRemoveSet(SeccompSet)
    case noNewPrivileges(Bool)
    /// -1000...1000
    case oomScoreAdj(Int)
    /// 2...262144
    case cpuShares(Int)
    case selinuxContext(SELinuxContext)
    /// sysctl key → value, e.g. `net.ipv4.ip_forward` → `1`.
    case sysctl([String: String])
    /// An isolator this module does not know, kept verbatim.
    case unknown(JSONValue)

    /// The isolator names this module understands, by case.
    public enum Name {
        public static let cpu = "resource/cpu"
        public static let memory = "resource/memory"
        public static let blockBandwidth = "resource/block-bandwidth"
        public static let blockIOPS = "resource/block-iops"
        public static let networkBandwidth = "resource/network-bandwidth"
        public static let capabilitiesRetainSet = "os/linux/capabilities-retain-set"
        public static let capabilitiesRemoveSet = "os/linux/capabilities-remove-set"
        public static let seccompRetainSet = "os/linux/seccomp-retain-set"
        public static let seccompRemoveSet = "os/linux/seccomp-remove-set"
        public static let noNewPrivileges = "os/linux/no-new-privileges"
        public static let oomScoreAdj = "os/linux/oom-score-adj"
        public static let cpuShares = "os/linux/cpu-shares"
        public static let selinuxContext = "os/linux/selinux-context"
        public static let sysctl = "os/unix/sysctl"

        static let all: Set<String> = [
            cpu, memory, blockBandwidth, blockIOPS, networkBandwidth, capabilitiesRetainSet,
            capabilitiesRemoveSet, seccompRetainSet, seccompRemoveSet, noNewPrivileges, oomScoreAdj,
            cpuShares, selinuxContext, sysctl,
        ]
    }

    /// The isolator name for this value; nil for `.unknown`.
    public var knownName: String? {
        switch self {
        case .cpu: Name.cpu
        case .memory: Name.memory
        case .blockBandwidth: Name.blockBandwidth
        case .blockIOPS: Name.blockIOPS
        case .networkBandwidth: Name.networkBandwidth
        case .capabilitiesRetainSet: Name.capabilitiesRetainSet
        case .capabilitiesRemoveSet: Name.capabilitiesRemoveSet
        case .seccompRetainSet: Name.seccompRetainSet
        case .seccompRemoveSet: Name.seccompRemoveSet
        case .noNewPrivileges: Name.noNewPrivileges
        case .oomScoreAdj: Name.oomScoreAdj
        case .cpuShares: Name.cpuShares
        case .selinuxContext: Name.selinuxContext
        case .sysctl: Name.sysctl
        case .unknown: nil
        }
    }

    /// Whether an app may list several isolators of this type.
    var allowsMultiple: Bool {
        switch self {
        case .cpu, .memory, .blockBandwidth, .blockIOPS, .networkBandwidth,
             .capabilitiesRetainSet, .capabilitiesRemoveSet, .noNewPrivileges:
            true
        case .seccompRetainSet, .seccompRemoveSet, .oomScoreAdj, .cpuShares, .selinuxContext, .sysctl, .unknown:
            false
        }
    }

    /// Isolator names that may not appear in the same app as this one.
    var conflictingNames: [String] {
        switch self {
        case .seccompRetainSet: [Name.seccompRemoveSet]
        case .seccompRemoveSet: [Name.seccompRetainSet]
        default: []
        }
    }

    /// The spec's rules for this value (as the Go `AssertValid`).
    public func validate() throws(AppcError) {
        switch self {
        case .cpu(let resource), .memory(let resource):
            if resource.isDefault { throw AppcError("default must be false") }
        case .blockBandwidth(let resource), .blockIOPS(let resource), .networkBandwidth(let resource):
            if !resource.isDefault { throw AppcError("default must be true") }
            if resource.request != nil { throw AppcError("request not supported by this resource, must be empty") }
        case .capabilitiesRetainSet(let set), .capabilitiesRemoveSet(let set):
            if set.isEmpty { throw AppcError("set must be non-empty") }
        case .seccompRetainSet(let seccomp), .seccompRemoveSet(let seccomp):
            if seccomp.syscalls.isEmpty { throw AppcError("set must be non-empty") }
            if let errno = seccomp.errno {
                for (offset, character) in errno.enumerated() {
                    if offset == 0 && character != "E" {
                        throw AppcError("errno must start with an 'E' character, got \(errno)")
                    }
                    if !(character.isUppercase || character.isNumber) {
                        throw AppcError("errno can only contain upper case or numeric characters, got \(errno)")
                    }
                }
            }
        case .oomScoreAdj(let score):
            if !(-1000...1000).contains(score) {
                throw AppcError("\(Name.oomScoreAdj) must be between -1000 and 1000, got \(score)")
            }
        case .cpuShares(let shares):
            if !(2...262144).contains(shares) {
                throw AppcError("\(Name.cpuShares) must be between 2 and 262144, got \(shares)")
            }
        case .selinuxContext(let context):
            if context.user.isEmpty || context.user.contains(":") {
                throw AppcError("invalid user value \"\(context.user)\"")
            }
            if context.role.isEmpty || context.role.contains(":") {
                throw AppcError("invalid role value \"\(context.role)\"")
            }
            if context.type.isEmpty || context.type.contains(":") {
                throw AppcError("invalid type value \"\(context.type)\"")
            }
            if context.level.isEmpty {
                throw AppcError("invalid level value \"\(context.level)\"")
            }
        case .noNewPrivileges, .sysctl, .unknown:
            break
        }
    }

    /// Checks rkt needs before running an app but the appc validator (and so
    /// `actool`) does not make: capability names look like `CAP_*`, and a
    /// resource request does not exceed its limit.
    public func validateForRuntime() throws(AppcError) {
        switch self {
        case .capabilitiesRetainSet(let set), .capabilitiesRemoveSet(let set):
            if let bad = set.first(where: { !$0.hasPrefix("CAP_") || $0.count == 4 }) {
                throw AppcError("unknown capability \"\(bad)\" (capability names look like CAP_NET_ADMIN)")
            }
        case .cpu(let resource), .memory(let resource):
            if let request = resource.request, let limit = resource.limit, limit < request {
                throw AppcError("limit \(limit) is smaller than request \(request)")
            }
        default:
            break
        }
    }
}

/// An isolator: a named resource or security restriction on an app or pod.
public struct Isolator: Sendable, Hashable, Codable {
    public let name: ACIdentifier
    public let value: IsolatorValue

    /// A known isolator; the name is derived from the value, which is validated.
    public init(_ value: IsolatorValue) throws(AppcError) {
        guard let knownName = value.knownName else {
            throw AppcError("an unknown isolator needs an explicit name")
        }
        try self.init(name: ACIdentifier(knownName), value: value)
    }

    /// Any isolator; for known names the value must be the matching case.
    public init(name: ACIdentifier, value: IsolatorValue) throws(AppcError) {
        self.name = name
        self.value = value
        try validate()
    }

    /// `resource/memory` with the given limit (and request), e.g. from `--memory 16Mi`.
    public static func memory(limit: Quantity?, request: Quantity? = nil) throws(AppcError) -> Isolator {
        try Isolator(.memory(ResourceRequirements(request: request, limit: limit)))
    }

    /// `resource/cpu` with the given limit (and request), e.g. from `--cpu 500m`.
    public static func cpu(limit: Quantity?, request: Quantity? = nil) throws(AppcError) -> Isolator {
        try Isolator(.cpu(ResourceRequirements(request: request, limit: limit)))
    }

    public func validate() throws(AppcError) {
        if let knownName = value.knownName {
            guard knownName == name.rawValue else {
                throw AppcError("isolator value does not match its name \"\(name.rawValue)\"")
            }
        } else if IsolatorValue.Name.all.contains(name.rawValue) {
            throw AppcError("isolator \"\(name.rawValue)\" needs a typed value")
        }
        try value.validate()
    }

    /// Checks an app's isolator list: each value valid, no repeated
    /// single-instance types, no conflicting pairs and, as in the Go
    /// `Isolators.assertValid`, no isolators of unknown type.
    public static func validateSet(_ isolators: [Isolator]) throws(AppcError) {
        var seenNames = Set<String>()
        for (index, isolator) in isolators.enumerated() {
            do throws(AppcError) {
                if case .unknown = isolator.value {
                    throw AppcError("invalid isolator")
                }
                try isolator.validate()
                if seenNames.contains(isolator.name.rawValue) && !isolator.value.allowsMultiple {
                    throw AppcError("isolators set contains too many instances of type \(isolator.name.rawValue)")
                }
                if isolator.value.conflictingNames.contains(where: seenNames.contains) {
                    throw AppcError("isolators set contains incompatible types")
                }
            } catch {
                throw error.located(at: "[\(index)]")
            }
            seenNames.insert(isolator.name.rawValue)
        }
    }

    private enum CodingKeys: String, CodingKey { case name, value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(ACIdentifier.self, forKey: .name)
        // A known isolator without a value makes the Go decoder crash, so it is
        // never valid; unknown ones keep whatever was there (null if absent).
        let isKnown = IsolatorValue.Name.all.contains(name.rawValue)
        if isKnown, (try? container.decodeNil(forKey: .value)) ?? true {
            throw AppcError("isolator value must be set", field: AppcError.render(container.codingPath + [CodingKeys.value]))
        }
        switch name.rawValue {
        case IsolatorValue.Name.cpu: value = .cpu(try container.decode(ResourceRequirements.self, forKey: .value))
        case IsolatorValue.Name.memory: value = .memory(try container.decode(ResourceRequirements.self, forKey: .value))
        case IsolatorValue.Name.blockBandwidth:
            value = .blockBandwidth(try container.decode(ResourceRequirements.self, forKey: .value))
        case IsolatorValue.Name.blockIOPS: value = .blockIOPS(try container.decode(ResourceRequirements.self, forKey: .value))
        case IsolatorValue.Name.networkBandwidth:
            value = .networkBandwidth(try container.decode(ResourceRequirements.self, forKey: .value))
        case IsolatorValue.Name.capabilitiesRetainSet:
            value = .capabilitiesRetainSet(try container.decode(CapabilitySet.self, forKey: .value).set)
        case IsolatorValue.Name.capabilitiesRemoveSet:
            value = .capabilitiesRemoveSet(try container.decode(CapabilitySet.self, forKey: .value).set)
        case IsolatorValue.Name.seccompRetainSet: value = .seccompRetainSet(try container.decode(SeccompSet.self, forKey: .value))
        case IsolatorValue.Name.seccompRemoveSet: value = .seccompRemoveSet(try container.decode(SeccompSet.self, forKey: .value))
        case IsolatorValue.Name.noNewPrivileges: value = .noNewPrivileges(try container.decode(Bool.self, forKey: .value))
        case IsolatorValue.Name.oomScoreAdj: value = .oomScoreAdj(try container.decode(Int.self, forKey: .value))
        case IsolatorValue.Name.cpuShares: value = .cpuShares(try container.decode(Int.self, forKey: .value))
        case IsolatorValue.Name.selinuxContext: value = .selinuxContext(try container.decode(SELinuxContext.self, forKey: .value))
        case IsolatorValue.Name.sysctl: value = .sysctl(try container.decode([String: String].self, forKey: .value))
        default: value = .unknown(try container.decodeIfPresent(JSONValue.self, forKey: .value) ?? .null)
        }
        do throws(AppcError) {
            try value.validate()
        } catch {
            throw error.located(at: container.codingPath + [CodingKeys.value])
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(name, forKey: .name)
        switch value {
        case .cpu(let resource), .memory(let resource), .blockBandwidth(let resource),
             .blockIOPS(let resource), .networkBandwidth(let resource):
            try container.encode(resource, forKey: .value)
        case .capabilitiesRetainSet(let set), .capabilitiesRemoveSet(let set):
            try container.encode(CapabilitySet(set: set), forKey: .value)
        case .seccompRetainSet(let seccomp), .seccompRemoveSet(let seccomp):
            try container.encode(seccomp, forKey: .value)
        case .noNewPrivileges(let flag):
            try container.encode(flag, forKey: .value)
        case .oomScoreAdj(let number), .cpuShares(let number):
            try container.encode(number, forKey: .value)
        case .selinuxContext(let context):
            try container.encode(context, forKey: .value)
        case .sysctl(let settings):
            try container.encode(settings, forKey: .value)
        case .unknown(let raw):
            try container.encode(raw, forKey: .value)
        }
    }
}

/// `{"set": [...]}`, the JSON shape of the capability isolators.
private struct CapabilitySet: Codable {
    var set: [String]

    init(set: [String]) { self.set = set }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        set = try container.decodeIfPresent([String].self, forKey: .set) ?? []
    }
}
