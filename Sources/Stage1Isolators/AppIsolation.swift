import Stage1Protocol
import struct RktTypes.Quantity
import struct RktTypes.AppcError

/// What the pod init applies to one app just before exec, and the planner writes into its cgroups,
/// resolved from the app's appc isolators, the pod's insecure options and the app's user.
public struct AppIsolation: Sendable, Equatable {
    /// The capability bounding set (bit n = capability n). For root apps also the effective,
    /// permitted and inheritable sets; other users get none of them effective (as rkt).
    public var capabilities: UInt64
    /// nil: no filter (`--insecure-options=seccomp`, or `@appc.io/all` in a retain set).
    public var seccomp: SeccompPolicy?
    public var noNewPrivileges: Bool
    /// `resource/memory` limit, bytes.
    public var memoryLimitBytes: Int64?
    /// `resource/cpu` limit in thousandths of a CPU (`500m` → 500, `2` → 2000).
    public var cpuQuotaMillicores: Int64?
    /// `os/linux/cpu-shares`, 2...262144 (cgroup v1 units; converted to a weight for v2).
    public var cpuShares: Int64?
    /// `os/linux/oom-score-adj`, -1000...1000: written to /proc/<pid>/oom_score_adj.
    public var oomScoreAdj: Int32?
    /// Whether rkt's read-only and inaccessible kernel paths apply (lifted by `--insecure-options=paths`).
    public var protectsKernelPaths: Bool

    public init(
        capabilities: UInt64 = Capability.rktDefaultMask, seccomp: SeccompPolicy? = .rktDefault,
        noNewPrivileges: Bool = false, memoryLimitBytes: Int64? = nil, cpuQuotaMillicores: Int64? = nil,
        cpuShares: Int64? = nil, oomScoreAdj: Int32? = nil, protectsKernelPaths: Bool = true
    ) {
        self.capabilities = capabilities
        self.seccomp = seccomp
        self.noNewPrivileges = noNewPrivileges
        self.memoryLimitBytes = memoryLimitBytes
        self.cpuQuotaMillicores = cpuQuotaMillicores
        self.cpuShares = cpuShares
        self.oomScoreAdj = oomScoreAdj
        self.protectsKernelPaths = protectsKernelPaths
    }

    /// The appc isolator names this type reads; others (sysctl, SELinux, bandwidth) are ignored, as
    /// rkt ignored them.
    public enum Name {
        public static let memory = "resource/memory"
        public static let cpu = "resource/cpu"
        public static let cpuShares = "os/linux/cpu-shares"
        public static let oomScoreAdj = "os/linux/oom-score-adj"
        public static let capabilitiesRetainSet = "os/linux/capabilities-retain-set"
        public static let capabilitiesRemoveSet = "os/linux/capabilities-remove-set"
        public static let seccompRetainSet = "os/linux/seccomp-retain-set"
        public static let seccompRemoveSet = "os/linux/seccomp-remove-set"
        public static let noNewPrivileges = "os/linux/no-new-privileges"
    }

    /// Resolves an app's isolation as rkt 1.30 did:
    /// - capabilities: rkt's default set; a retain set is exactly its list, a remove set is the
    ///   default minus its list, both is an error; `--insecure-options=capabilities` grants all.
    /// - seccomp: `@rkt/default-whitelist` (kill on violation) unless the app has a seccomp isolator;
    ///   `--insecure-options=seccomp` disables it; non-root apps with a filter get no_new_privs.
    /// - `insecureOptions`: the pod's list (`capabilities`, `paths`, `seccomp`, `all-run`, `all`;
    ///   others such as `image` are ignored here).
    public static func resolve(isolators: [Isolator], insecureOptions: [String], uid: UInt32) throws(IsolationError) -> AppIsolation {
        let insecure = Set(insecureOptions)
        let allRun = insecure.contains("all-run") || insecure.contains("all")
        var result = AppIsolation()
        var retainedCaps: [String] = []
        var removedCaps: [String] = []
        var seccompIsolators: [Isolator] = []

        for isolator in isolators {
            switch isolator.name {
            case Name.memory:
                if let limit = try resourceLimit(isolator) {
                    result.memoryLimitBytes = limit.value
                }
            case Name.cpu:
                if let limit = try resourceLimit(isolator) {
                    // rkt's bound: the limit in thousandths must fit an Int64.
                    guard limit.value <= Int64.max / 1000 else {
                        throw IsolationError(isolator: isolator.name, "cpu limit exceeds the maximum millivalue: \(limit)")
                    }
                    guard limit.milliValue > 0 else {
                        throw IsolationError(isolator: isolator.name, "cpu limit must be positive, got \(limit)")
                    }
                    result.cpuQuotaMillicores = limit.milliValue
                }
            case Name.cpuShares:
                let shares = try integer(isolator)
                guard (2...262_144).contains(shares) else {
                    throw IsolationError(isolator: isolator.name, "must be between 2 and 262144, got \(shares)")
                }
                result.cpuShares = shares
            case Name.oomScoreAdj:
                let score = try integer(isolator)
                guard (-1000...1000).contains(score) else {
                    throw IsolationError(isolator: isolator.name, "must be between -1000 and 1000, got \(score)")
                }
                result.oomScoreAdj = Int32(score)
            case Name.capabilitiesRetainSet:
                retainedCaps += try nameSet(isolator)
            case Name.capabilitiesRemoveSet:
                removedCaps += try nameSet(isolator)
            case Name.seccompRetainSet, Name.seccompRemoveSet:
                seccompIsolators.append(isolator)
            case Name.noNewPrivileges:
                guard case .bool(let flag) = isolator.value else {
                    throw IsolationError(isolator: isolator.name, "value must be true or false")
                }
                result.noNewPrivileges = result.noNewPrivileges || flag
            default:
                continue
            }
        }

        if !retainedCaps.isEmpty && !removedCaps.isEmpty {
            throw IsolationError(
                isolator: Name.capabilitiesRetainSet,
                "cannot have both \(Name.capabilitiesRetainSet) and \(Name.capabilitiesRemoveSet)")
        }
        if !retainedCaps.isEmpty {
            result.capabilities = try Capability.mask(retainedCaps, isolator: Name.capabilitiesRetainSet)
        } else if !removedCaps.isEmpty {
            result.capabilities = Capability.rktDefaultMask
                & ~(try Capability.mask(removedCaps, isolator: Name.capabilitiesRemoveSet))
        }
        if allRun || insecure.contains("capabilities") {
            result.capabilities = Capability.allMask
        }

        if seccompIsolators.count > 1 {
            throw IsolationError(isolator: seccompIsolators[1].name, "too many seccomp isolators specified")
        }
        if allRun || insecure.contains("seccomp") {
            result.seccomp = nil
        } else if let isolator = seccompIsolators.first {
            result.seccomp = try seccompPolicy(isolator)
        }
        // rkt: an unprivileged app under a filter must not regain privileges through setuid binaries.
        if result.seccomp != nil && uid != 0 {
            result.noNewPrivileges = true
        }
        result.protectsKernelPaths = !(allRun || insecure.contains("paths"))
        return result
    }

    // MARK: - Isolator values

    /// `{"set": [...], "errno": "E…"}` of a seccomp isolator as a policy; nil for `@appc.io/all` in
    /// a retain set.
    private static func seccompPolicy(_ isolator: Isolator) throws(IsolationError) -> SeccompPolicy? {
        let mode: SeccompPolicy.Mode = isolator.name == Name.seccompRetainSet ? .retain : .remove
        let items = try nameSet(isolator)
        var errno: Int32?
        if case .object(let fields) = isolator.value, let raw = fields["errno"] {
            guard case .string(let name) = raw else {
                throw IsolationError(isolator: isolator.name, "errno must be a string such as \"EPERM\"")
            }
            if !name.isEmpty {
                guard let number = ErrnoName.number(name) else {
                    throw IsolationError(isolator: isolator.name, "unknown errno \"\(name)\"")
                }
                errno = number
            }
        }
        var syscalls: [String] = []
        for item in items {
            guard item.hasPrefix("@") else {
                syscalls.append(item)
                continue
            }
            switch (mode, item) {
            case (.retain, SeccompGroup.appcAll):
                return nil  // appc: retaining everything opts out of filtering
            case (.remove, SeccompGroup.appcEmpty):
                // rkt: "remove nothing" means the default whitelist, errno included.
                return SeccompPolicy(mode: .retain, syscalls: SeccompGroup.rktDefaultWhitelist, errno: errno)
            case (_, SeccompGroup.appcAll), (_, SeccompGroup.appcEmpty):
                continue  // rkt: retaining nothing / removing everything adds no names
            default:
                // rkt ignored unknown groups; we refuse them, since a mistyped group in a remove set
                // would silently weaken the filter.
                guard let members = SeccompGroup.syscalls(of: item) else {
                    let hint = item.hasPrefix("@systemd/") ? " (systemd groups need systemd in stage1)" : ""
                    throw IsolationError(
                        isolator: isolator.name,
                        "unknown syscall group \"\(item)\"\(hint); known groups: \(SeccompGroup.knownGroups.joined(separator: ", "))")
                }
                syscalls += members
            }
        }
        return SeccompPolicy(mode: mode, syscalls: syscalls, errno: errno)
    }

    /// The non-empty `set` of names of a capability or seccomp isolator.
    private static func nameSet(_ isolator: Isolator) throws(IsolationError) -> [String] {
        guard case .object(let fields) = isolator.value, case .array(let values)? = fields["set"] else {
            throw IsolationError(isolator: isolator.name, "value must be an object with a \"set\" array")
        }
        var names: [String] = []
        for value in values {
            guard case .string(let name) = value, !name.isEmpty else {
                throw IsolationError(isolator: isolator.name, "set members must be non-empty strings")
            }
            names.append(name)
        }
        guard !names.isEmpty else { throw IsolationError(isolator: isolator.name, "set must be non-empty") }
        return names
    }

    /// The `limit` of a `resource/*` isolator (`{"request": …, "limit": "16Mi"}`), nil if absent.
    private static func resourceLimit(_ isolator: Isolator) throws(IsolationError) -> Quantity? {
        guard case .object(let fields) = isolator.value else {
            throw IsolationError(isolator: isolator.name, "value must be an object with \"limit\" and/or \"request\"")
        }
        let limit: Quantity
        switch fields["limit"] {
        case nil, .null?:
            return nil
        case .string(let text)?:
            do throws(AppcError) {
                limit = try Quantity(text)
            } catch {
                throw IsolationError(isolator: isolator.name, "limit \"\(text)\": \(error.message)")
            }
        case .integer(let number)?:
            limit = Quantity(integer: number)
        default:
            throw IsolationError(isolator: isolator.name, "limit must be a quantity such as \"16Mi\" or \"500m\"")
        }
        guard limit >= Quantity(integer: 0) else {
            throw IsolationError(isolator: isolator.name, "limit must not be negative, got \(limit)")
        }
        return limit
    }

    private static func integer(_ isolator: Isolator) throws(IsolationError) -> Int64 {
        switch isolator.value {
        case .integer(let number): return number
        case .number(let number) where number.rounded() == number && abs(number) < 1e15: return Int64(number)
        default: throw IsolationError(isolator: isolator.name, "value must be an integer")
        }
    }
}
