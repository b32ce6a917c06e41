import Foundation
import Stage1Isolators
import Stage1Protocol
import Testing

private func capabilities(_ names: [String]) -> UInt64 {
    names.reduce(0) { $0 | (1 << UInt64(Capability.number($1)!)) }
}

private func resolve(_ isolators: [Isolator], insecure: [String] = [], uid: UInt32 = 0) throws(IsolationError) -> AppIsolation {
    try AppIsolation.resolve(isolators: isolators, insecureOptions: insecure, uid: uid)
}

/// The error resolving these isolators throws, or nil if it succeeds.
private func resolveError(_ isolators: [Isolator], insecure: [String] = [], uid: UInt32 = 0) -> IsolationError? {
    do throws(IsolationError) {
        _ = try resolve(isolators, insecure: insecure, uid: uid)
        return nil
    } catch {
        return error
    }
}

@Suite struct AppIsolationTests {
    @Test func defaultsAreRktDefaults() throws {
        let root = try resolve([])
        #expect(root.capabilities == capabilities(Capability.rktDefaultSet))
        #expect(root.capabilities.nonzeroBitCount == 14)
        #expect(root.seccomp == SeccompPolicy.rktDefault)
        #expect(root.seccomp?.mode == .retain)
        #expect(root.seccomp?.errno == nil)
        #expect(root.noNewPrivileges == false)
        #expect(root.protectsKernelPaths)
        #expect(root.memoryLimitBytes == nil && root.cpuQuotaMillicores == nil && root.cpuShares == nil && root.oomScoreAdj == nil)
    }

    @Test func nonRootAppsUnderSeccompGetNoNewPrivileges() throws {
        #expect(try resolve([], uid: 1000).noNewPrivileges)
        #expect(try resolve([], insecure: ["seccomp"], uid: 1000).noNewPrivileges == false)
        let retainAll = Isolator(name: "os/linux/seccomp-retain-set", value: ["set": ["@appc.io/all"]])
        #expect(try resolve([retainAll], uid: 1000).noNewPrivileges == false)
        let explicit = Isolator(name: "os/linux/no-new-privileges", value: true)
        #expect(try resolve([explicit], insecure: ["seccomp"], uid: 1000).noNewPrivileges)
    }

    @Test func retainSetIsExactlyTheList() throws {
        let isolation = try resolve([
            Isolator(name: "os/linux/capabilities-retain-set", value: ["set": ["CAP_NET_ADMIN", "CAP_SYS_TIME"]]),
        ])
        #expect(isolation.capabilities == capabilities(["CAP_NET_ADMIN", "CAP_SYS_TIME"]))
        #expect(Capability.names(in: isolation.capabilities) == ["CAP_NET_ADMIN", "CAP_SYS_TIME"])
    }

    @Test func removeSetIsTheDefaultMinusTheList() throws {
        let isolation = try resolve([
            Isolator(name: "os/linux/capabilities-remove-set", value: ["set": ["CAP_MKNOD", "CAP_NET_RAW", "CAP_SYS_ADMIN"]]),
        ])
        let expected = Capability.rktDefaultSet.filter { $0 != "CAP_MKNOD" && $0 != "CAP_NET_RAW" }
        #expect(isolation.capabilities == capabilities(expected))
    }

    @Test func retainAndRemoveTogetherIsAnError() {
        let error = resolveError([
                Isolator(name: "os/linux/capabilities-retain-set", value: ["set": ["CAP_CHOWN"]]),
                Isolator(name: "os/linux/capabilities-remove-set", value: ["set": ["CAP_KILL"]]),
            ])
        #expect(error?.description.contains("cannot have both") == true)
    }

    @Test func unknownOrMalformedCapabilitiesAreErrors() {
        let unknown = resolveError([Isolator(name: "os/linux/capabilities-retain-set", value: ["set": ["CAP_FLY"]])])
        #expect(unknown?.isolator == "os/linux/capabilities-retain-set")
        #expect(unknown?.message.contains("CAP_FLY") == true)
        let empty = resolveError([Isolator(name: "os/linux/capabilities-remove-set", value: ["set": []])])
        #expect(empty?.message == "set must be non-empty")
        let notObject = resolveError([Isolator(name: "os/linux/capabilities-remove-set", value: ["CAP_KILL"])])
        #expect(notObject != nil)
    }

    @Test func insecureOptionsLiftRestrictions() throws {
        let all = try resolve([], insecure: ["capabilities"])
        #expect(all.capabilities == Capability.allMask)
        #expect(all.seccomp != nil)
        let allRun = try resolve(
            [Isolator(name: "os/linux/capabilities-retain-set", value: ["set": ["CAP_CHOWN"]])], insecure: ["all-run"])
        #expect(allRun.capabilities == Capability.allMask)
        #expect(allRun.seccomp == nil)
        #expect(allRun.protectsKernelPaths == false)
        #expect(try resolve([], insecure: ["paths"]).protectsKernelPaths == false)
        #expect(try resolve([], insecure: ["image", "tls"]) == (try resolve([])))
    }

    @Test func seccompGroupsExpandSortedAndDeduplicated() throws {
        let isolation = try resolve([
            Isolator(name: "os/linux/seccomp-remove-set",
                     value: ["set": ["reboot", "@rkt/default-blacklist", "@docker/default-blacklist", "acct"], "errno": "EPERM"]),
        ])
        let policy = try #require(isolation.seccomp)
        #expect(policy.mode == .remove)
        #expect(policy.errno == 1)
        #expect(policy.syscalls == SeccompGroup.dockerDefaultBlacklist.sorted())
        #expect(policy.syscalls.count == 50)
        #expect(policy.syscalls.first == "_sysctl" && policy.syscalls.contains("keyctl"))
    }

    @Test func appcWildcards() throws {
        let retainAll = try resolve([Isolator(name: "os/linux/seccomp-retain-set", value: ["set": ["@appc.io/all"]])])
        #expect(retainAll.seccomp == nil)
        let removeNothing = try resolve([
            Isolator(name: "os/linux/seccomp-remove-set", value: ["set": ["@appc.io/empty"], "errno": "ENOSYS"]),
        ])
        #expect(removeNothing.seccomp == SeccompPolicy(mode: .retain, syscalls: SeccompGroup.rktDefaultWhitelist, errno: 38))
        let retain = try resolve([
            Isolator(name: "os/linux/seccomp-retain-set", value: ["set": ["write", "@docker/default-whitelist", "read"]]),
        ])
        #expect(retain.seccomp?.syscalls == SeccompGroup.dockerDefaultWhitelist.sorted())
        #expect(retain.seccomp?.syscalls.count == 309)
    }

    @Test func seccompErrors() {
        let two = resolveError([
                Isolator(name: "os/linux/seccomp-retain-set", value: ["set": ["read"]]),
                Isolator(name: "os/linux/seccomp-remove-set", value: ["set": ["reboot"]]),
            ])
        #expect(two?.message == "too many seccomp isolators specified")
        let group = resolveError([Isolator(name: "os/linux/seccomp-remove-set", value: ["set": ["@rkt/default-blacklst"]])])
        #expect(group?.message.contains("unknown syscall group \"@rkt/default-blacklst\"") == true)
        let errno = resolveError([Isolator(name: "os/linux/seccomp-remove-set", value: ["set": ["reboot"], "errno": "EWHATEVER"])])
        #expect(errno?.isolator == "os/linux/seccomp-remove-set")
        #expect(errno?.message == "unknown errno \"EWHATEVER\"")
    }

    @Test func resourceQuantities() throws {
        func memory(_ limit: JSONValue) throws(IsolationError) -> Int64? {
            try resolve([Isolator(name: "resource/memory", value: ["limit": limit, "request": "1Mi"])]).memoryLimitBytes
        }
        func cpu(_ limit: JSONValue) throws(IsolationError) -> Int64? {
            try resolve([Isolator(name: "resource/cpu", value: ["limit": limit])]).cpuQuotaMillicores
        }
        #expect(try memory("16Mi") == 16 << 20)
        #expect(try memory("50M") == 50_000_000)
        #expect(try memory("1G") == 1_000_000_000)
        #expect(try memory("1Gi") == 1 << 30)
        #expect(try memory(4096) == 4096)
        #expect(try resolve([Isolator(name: "resource/memory", value: ["request": "1Mi"])]).memoryLimitBytes == nil)
        #expect(try cpu("500m") == 500)
        #expect(try cpu("2") == 2000)
        #expect(try cpu("1.5") == 1500)
        let bad = resolveError([Isolator(name: "resource/memory", value: ["limit": "16Mb"])])
        #expect(bad?.isolator == "resource/memory")
        #expect(bad?.message.hasPrefix("limit \"16Mb\"") == true)
        let huge = resolveError([Isolator(name: "resource/cpu", value: ["limit": "10E"])])
        #expect(huge?.message.contains("exceeds the maximum millivalue") == true)
        let negative = resolveError([Isolator(name: "resource/memory", value: ["limit": "-1"])])
        #expect(negative != nil)
    }

    @Test func sharesAndOOMScore() throws {
        let isolation = try resolve([
            Isolator(name: "os/linux/cpu-shares", value: 512),
            Isolator(name: "os/linux/oom-score-adj", value: -500),
            Isolator(name: "os/unix/sysctl", value: ["net.ipv4.ip_forward": "1"]),
        ])
        #expect(isolation.cpuShares == 512)
        #expect(isolation.oomScoreAdj == -500)
        #expect(resolveError([Isolator(name: "os/linux/cpu-shares", value: 1)]) != nil)
        #expect(resolveError([Isolator(name: "os/linux/oom-score-adj", value: 1001)]) != nil)
        #expect(resolveError([Isolator(name: "os/linux/oom-score-adj", value: "5")]) != nil)
        #expect(resolveError([Isolator(name: "os/linux/no-new-privileges", value: "yes")]) != nil)
    }
}

@Suite struct CapabilityTests {
    @Test func namesAndNumbers() {
        #expect(Capability.number("CAP_NET_ADMIN") == 12)
        #expect(Capability.number("NET_ADMIN") == 12)
        #expect(Capability.number("cap_net_admin") == 12)
        #expect(Capability.number("CAP_CHOWN") == 0)
        #expect(Capability.number("CAP_SYS_ADMIN") == 21)
        #expect(Capability.number("CAP_FLY") == nil)
        #expect(Capability.number("12") == nil)
        #expect(Capability.number("CAP_") == nil)
        #expect(Capability.name(12) == "CAP_NET_ADMIN")
        #expect(Capability.names(in: 0b101) == ["CAP_CHOWN", "CAP_DAC_READ_SEARCH"])
    }

    @Test func allMaskMatchesTheKernel() throws {
        // /proc/sys/kernel/cap_last_cap is the kernel's highest capability number.
        let text = try String(contentsOfFile: "/proc/sys/kernel/cap_last_cap", encoding: .utf8)
        let last = try #require(Int(text.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(Capability.allMask == (UInt64(1) << UInt64(last + 1)) - 1)
    }
}

@Suite struct CgroupLimitsTests {
    let isolation = AppIsolation(memoryLimitBytes: 16 << 20, cpuQuotaMillicores: 500, cpuShares: 1024)

    @Test func version1() {
        #expect(CgroupLimits.files(for: isolation, version: .v1) == [
            CgroupSetting(controller: "memory", file: "memory.limit_in_bytes", value: "16777216"),
            CgroupSetting(controller: "cpu", file: "cpu.cfs_period_us", value: "100000"),
            CgroupSetting(controller: "cpu", file: "cpu.cfs_quota_us", value: "50000"),
            CgroupSetting(controller: "cpu", file: "cpu.shares", value: "1024"),
        ])
    }

    @Test func version2() {
        #expect(CgroupLimits.files(for: isolation, version: .v2) == [
            CgroupSetting(controller: "memory", file: "memory.max", value: "16777216"),
            CgroupSetting(controller: "cpu", file: "cpu.max", value: "50000 100000"),
            CgroupSetting(controller: "cpu", file: "cpu.weight", value: "39"),
        ])
    }

    @Test func edges() {
        #expect(CgroupLimits.files(for: AppIsolation(), version: .v1).isEmpty)
        // 1m of a CPU would be 100 µs per period; the kernel's minimum is 1000.
        #expect(CgroupLimits.files(for: AppIsolation(cpuQuotaMillicores: 1), version: .v2)
            == [CgroupSetting(controller: "cpu", file: "cpu.max", value: "1000 100000")])
        #expect(CgroupLimits.files(for: AppIsolation(cpuQuotaMillicores: 2500), version: .v1).last?.value == "250000")
        #expect(CgroupLimits.cpuWeight(shares: 2) == 1)
        #expect(CgroupLimits.cpuWeight(shares: 262_144) == 10000)
        #expect(CgroupLimits.cpuWeight(shares: 100) == 4)
    }
}
