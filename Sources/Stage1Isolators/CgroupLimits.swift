/// The cgroup layout a limit is written for.
public enum CgroupVersion: Sendable, Equatable {
    /// One hierarchy per controller (`/sys/fs/cgroup/memory/…`, `/sys/fs/cgroup/cpu,cpuacct/…`).
    case v1
    /// The unified hierarchy (`/sys/fs/cgroup/…` or `/sys/fs/cgroup/unified/…`).
    case v2
}

/// One cgroup knob: write `value` to `file` in the app's cgroup of `controller`. For v2 the controller
/// says which controller must be enabled in the parent's `cgroup.subtree_control`.
public struct CgroupSetting: Sendable, Equatable, CustomStringConvertible {
    public var controller: String
    public var file: String
    public var value: String

    public init(controller: String, file: String, value: String) {
        self.controller = controller
        self.file = file
        self.value = value
    }

    public var description: String { "\(controller):\(file)=\(value)" }
}

/// The cgroup files that carry an app's resource isolators.
public enum CgroupLimits {
    /// The CFS period the quota is expressed against, as systemd's CPUQuota= uses: 100 ms.
    public static let cpuPeriodMicroseconds: Int64 = 100_000
    /// The smallest quota the kernel accepts.
    public static let minimumCPUQuotaMicroseconds: Int64 = 1000

    /// The files to write, in order (v1 writes the period before the quota, which the kernel checks
    /// against it). oom_score_adj is not a cgroup knob: it goes to /proc/<pid>/oom_score_adj.
    public static func files(for isolation: AppIsolation, version: CgroupVersion) -> [CgroupSetting] {
        var settings: [CgroupSetting] = []
        let quota = isolation.cpuQuotaMillicores.map {
            max(minimumCPUQuotaMicroseconds, $0.multipliedReportingOverflow(by: cpuPeriodMicroseconds / 1000).overflow
                ? Int64.max : $0 * (cpuPeriodMicroseconds / 1000))
        }
        switch version {
        case .v1:
            if let bytes = isolation.memoryLimitBytes {
                settings.append(CgroupSetting(controller: "memory", file: "memory.limit_in_bytes", value: "\(bytes)"))
            }
            if let quota {
                settings.append(CgroupSetting(controller: "cpu", file: "cpu.cfs_period_us", value: "\(cpuPeriodMicroseconds)"))
                settings.append(CgroupSetting(controller: "cpu", file: "cpu.cfs_quota_us", value: "\(quota)"))
            }
            if let shares = isolation.cpuShares {
                settings.append(CgroupSetting(controller: "cpu", file: "cpu.shares", value: "\(shares)"))
            }
        case .v2:
            if let bytes = isolation.memoryLimitBytes {
                settings.append(CgroupSetting(controller: "memory", file: "memory.max", value: "\(bytes)"))
            }
            if let quota {
                settings.append(CgroupSetting(controller: "cpu", file: "cpu.max", value: "\(quota) \(cpuPeriodMicroseconds)"))
            }
            if let shares = isolation.cpuShares {
                settings.append(CgroupSetting(controller: "cpu", file: "cpu.weight", value: "\(cpuWeight(shares: shares))"))
            }
        }
        return settings
    }

    /// v1 shares (2...262144) to a v2 weight (1...10000) by the OCI runtimes' linear map (runc,
    /// crun): 2 → 1, 1024 → 39, 262144 → 10000.
    public static func cpuWeight(shares: Int64) -> Int64 {
        let clamped = min(max(shares, 2), 262_144)
        return 1 + ((clamped - 2) * 9999) / 262_142
    }
}
