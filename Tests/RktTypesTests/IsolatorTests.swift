import Foundation
import Testing
@testable import RktTypes

private func decodeIsolator(_ json: String) throws -> Isolator {
    try JSONDecoder().decode(Isolator.self, from: Data(json.utf8))
}

@Suite("Isolators")
struct IsolatorTests {
    @Test func resourceIsolators() throws {
        let memory = try decodeIsolator(#"{"name": "resource/memory", "value": {"request": "64Mi", "limit": "128Mi"}}"#)
        guard case .memory(let requirements) = memory.value else {
            Issue.record("expected a memory isolator, got \(memory.value)")
            return
        }
        #expect(requirements.request?.value == 64 << 20)
        #expect(requirements.limit?.value == 128 << 20)

        let cpu = try Isolator.cpu(limit: try Quantity("500m"))
        #expect(cpu.name.rawValue == "resource/cpu")
        #expect(throws: AppcError("default must be false")) {
            try Isolator(.cpu(ResourceRequirements(limit: try Quantity("1"), isDefault: true)))
        }
        #expect(throws: AppcError("default must be true")) {
            try Isolator(.networkBandwidth(ResourceRequirements(limit: try Quantity("1G"))))
        }
        #expect(throws: AppcError("request not supported by this resource, must be empty")) {
            try Isolator(.blockIOPS(ResourceRequirements(request: try Quantity("1"), isDefault: true)))
        }
    }

    @Test func linuxIsolators() throws {
        #expect(throws: AppcError("set must be non-empty")) { try Isolator(.capabilitiesRetainSet([])) }
        _ = try Isolator(.capabilitiesRemoveSet(["CAP_SYS_ADMIN"]))
        _ = try Isolator(.seccompRemoveSet(SeccompSet(syscalls: ["reboot"], errno: "EPERM")))
        #expect(throws: AppcError("errno must start with an 'E' character, got PERM")) {
            try Isolator(.seccompRemoveSet(SeccompSet(syscalls: ["reboot"], errno: "PERM")))
        }
        #expect(throws: AppcError("errno can only contain upper case or numeric characters, got EPERm")) {
            try Isolator(.seccompRetainSet(SeccompSet(syscalls: ["read"], errno: "EPERm")))
        }
        #expect(throws: AppcError("os/linux/oom-score-adj must be between -1000 and 1000, got -1001")) {
            try Isolator(.oomScoreAdj(-1001))
        }
        _ = try Isolator(.oomScoreAdj(1000))
        #expect(throws: AppcError("os/linux/cpu-shares must be between 2 and 262144, got 262145")) {
            try Isolator(.cpuShares(262_145))
        }
        _ = try Isolator(.cpuShares(2))
        #expect(throws: AppcError(#"invalid role value "a:b""#)) {
            try Isolator(.selinuxContext(SELinuxContext(user: "u", role: "a:b", type: "t", level: "s0")))
        }
    }

    @Test func nameMustMatchValue() throws {
        #expect(throws: AppcError.self) { try Isolator(name: try ACIdentifier("resource/cpu"), value: .oomScoreAdj(1)) }
        #expect(throws: AppcError.self) { try Isolator(name: try ACIdentifier("resource/cpu"), value: .unknown(.null)) }
        #expect(throws: AppcError.self) { try Isolator(.unknown(.null)) }
        let custom = try Isolator(name: try ACIdentifier("example.com/custom"), value: .unknown(.integer(3)))
        #expect(custom.value == .unknown(.integer(3)))
    }

    @Test func appLevelSetRules() throws {
        let oom1 = try Isolator(.oomScoreAdj(1))
        let oom2 = try Isolator(.oomScoreAdj(2))
        #expect(throws: AppcError("isolators set contains too many instances of type os/linux/oom-score-adj",
                                  field: "[1]")) {
            try Isolator.validateSet([oom1, oom2])
        }
        let retain = try Isolator(.seccompRetainSet(SeccompSet(syscalls: ["read"])))
        let remove = try Isolator(.seccompRemoveSet(SeccompSet(syscalls: ["reboot"])))
        #expect(throws: AppcError("isolators set contains incompatible types", field: "[1]")) {
            try Isolator.validateSet([retain, remove])
        }
        // Capabilities and resources may repeat.
        try Isolator.validateSet([
            try Isolator(.capabilitiesRetainSet(["CAP_CHOWN"])), try Isolator(.capabilitiesRetainSet(["CAP_KILL"])),
            try Isolator.memory(limit: try Quantity("1G")), try Isolator.memory(limit: try Quantity("2G")),
        ])
        let custom = try Isolator(name: try ACIdentifier("example.com/custom"), value: .unknown(.bool(true)))
        #expect(throws: AppcError("invalid isolator", field: "[0]")) { try Isolator.validateSet([custom]) }
    }

    @Test func runtimeChecksBeyondTheSpec() throws {
        #expect(throws: AppcError.self) { try IsolatorValue.capabilitiesRetainSet(["NET_ADMIN"]).validateForRuntime() }
        try IsolatorValue.capabilitiesRetainSet(["CAP_NET_ADMIN"]).validateForRuntime()
        let inverted = ResourceRequirements(request: try Quantity("2"), limit: try Quantity("1"))
        #expect(throws: AppcError("limit 1 is smaller than request 2")) {
            try IsolatorValue.cpu(inverted).validateForRuntime()
        }
    }

    @Test func unknownIsolatorsRoundTrip() throws {
        let json = #"{"name":"example.com/custom","value":{"list":[1,2.5,"x",null,true],"nested":{"k":"v"}}}"#
        let isolator = try decodeIsolator(json)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let reencoded = try encoder.encode(isolator)
        #expect(String(decoding: reencoded, as: UTF8.self) == json)
        #expect(try decodeIsolator(String(decoding: reencoded, as: UTF8.self)) == isolator)
    }

    @Test(arguments: [
        #"{"name": "resource/cpu", "value": {"limit": "1"}}"#,
        #"{"name": "resource/memory", "value": {"request": "1Gi", "limit": "2Gi"}}"#,
        #"{"name": "resource/block-bandwidth", "value": {"default": true, "limit": "10M"}}"#,
        #"{"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_KILL"]}}"#,
        #"{"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"], "errno": "ENOSYS"}}"#,
        #"{"name": "os/linux/seccomp-retain-set", "value": {"set": ["read"]}}"#,
        #"{"name": "os/linux/no-new-privileges", "value": false}"#,
        #"{"name": "os/linux/oom-score-adj", "value": -17}"#,
        #"{"name": "os/linux/cpu-shares", "value": 512}"#,
        #"{"name": "os/linux/selinux-context", "value": {"user": "u", "role": "r", "type": "t", "level": "s0"}}"#,
        #"{"name": "os/unix/sysctl", "value": {"kernel.shm_rmid_forced": "1"}}"#,
    ])
    func knownIsolatorsRoundTrip(_ json: String) throws {
        let isolator = try decodeIsolator(json)
        #expect(isolator.value.knownName == isolator.name.rawValue)
        let again = try JSONDecoder().decode(Isolator.self, from: try JSONEncoder().encode(isolator))
        #expect(again == isolator)
    }

    @Test func decodingErrorsCarryTheField() throws {
        do {
            _ = try decodeIsolator(#"{"name": "resource/memory", "value": {"limit": "1K"}}"#)
            Issue.record("expected an error")
        } catch let error as AppcError {
            #expect(error.message == "unable to parse quantity's suffix")
            #expect(error.field == "value.limit")
        }
        #expect(throws: AppcError("isolator value must be set", field: "value")) {
            try decodeIsolator(#"{"name": "os/linux/cpu-shares"}"#)
        }
    }
}
