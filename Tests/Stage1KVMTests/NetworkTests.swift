// Root test for stage1-kvm's networking (Plugins/stage1-kvm/Supervisor/Network.swift): two VMs on
// one cni-bridge network reach each other through their taps. Two boots, run at the same time.
// Inputs as Stage1KVMTests (KVMSetup), plus cni-bridge beside the rkt binary.
import Foundation
import RktTestSupport
import Testing

@Suite(.serialized) struct KVMNetworkTests {
    /// Output and status of a shell command (test set-up and checks only: `ip`).
    @discardableResult
    static func sh(_ command: String) -> (status: Int32, output: String) {
        guard let result = try? Subprocess.run(["/bin/sh", "-c", command + " 2>&1"], environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], timeout: 120)
        else { return (-1, "") }
        return (result.status, result.stdout)
    }

    /// The script each pod runs: ping the peer until it answers, say so in the shared volume, then
    /// wait until the peer has said the same (so neither VM powers off before the other reached
    /// it). Every loop is bounded; exit 1: the peer never answered, 2: it never reported.
    static func script(me: String, peer: String, peerIP: String) -> String {
        """
        i=0; until ping -c 1 -W 1 \(peerIP) >/dev/null 2>&1; do i=$((i+1)); [ $i -ge 150 ] && exit 1; done
        ping -c 2 \(peerIP) && touch /shared/\(me)-reached-\(peer)
        i=0; until [ -e /shared/\(peer)-reached-\(me) ]; do i=$((i+1)); [ $i -ge 180 ] && exit 2; sleep 1; done
        """
    }

    @Test func twoPodsOnOneCNIBridgeNetworkPingEachOther() throws {
        guard let setup = KVMSetup.make() else { return }
        let plugin = URL(fileURLWithPath: setup.binary).deletingLastPathComponent().appendingPathComponent("cni-bridge").path
        guard FileManager.default.isExecutableFile(atPath: plugin) else {
            print("skip twoPodsOnOneCNIBridgeNetworkPingEachOther: no cni-bridge beside \(setup.binary)")
            setup.cleanup()
            return
        }
        let bridge = "rktkvm" + String(UUID().uuidString.lowercased().prefix(6))
        let subnet = "10.253.\(Int.random(in: 10...250))."
        // Runs last: gc (CNI DEL, netns) before the bridge goes.
        defer { Self.sh("ip link del \(bridge) 2>/dev/null") }
        defer { setup.cleanup() }
        let shared = setup.root + "/shared"
        try FileManager.default.createDirectory(atPath: shared, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: setup.root + "/etc/net.d", withIntermediateDirectories: true)
        try """
            {"cniVersion":"1.0.0","name":"kvmnet","type":"cni-bridge","bridge":"\(bridge)","isGateway":true,
             "ipam":{"type":"host-local","subnet":"\(subnet)0/24","dataDir":"\(setup.root)/ipam","routes":[{"dst":"0.0.0.0/0"}]}}
            """.write(toFile: setup.root + "/etc/net.d/10-kvmnet.conf", atomically: true, encoding: .utf8)

        let pods = [("a", "b", subnet + "10", subnet + "11"), ("b", "a", subnet + "11", subnet + "10")]
        let results = Results()
        DispatchQueue.concurrentPerform(iterations: pods.count) { index in
            let (me, peer, ip, peerIP) = pods[index]
            let result = try? setup.rkt(
                ["run", "--net=kvmnet:IP=\(ip)", "--uuid-file-save=\(setup.root)/uuid-\(me)", "--stage1-path=\(setup.stage1)",
                 "--volume=shared,kind=host,source=\(shared)", setup.busybox, "--mount=volume=shared,target=/shared",
                 "--exec", "/bin/sh", "--", "-c", Self.script(me: me, peer: peer, peerIP: peerIP)],
                timeout: KVMSetup.bootTimeout + 120)
            results.set(me, result)
        }
        for me in ["a", "b"] {
            let result = results.get(me)
            #expect(result?.status == 0, "pod \(me): status \(String(describing: result?.status)), stdout: \(result?.stdout ?? ""), stderr: \(result?.stderr ?? "")")
            #expect(result?.stdout.contains("2 packets received") == true, "pod \(me): \(result?.stdout ?? "")")
        }
        #expect(FileManager.default.fileExists(atPath: shared + "/a-reached-b"))
        #expect(FileManager.default.fileExists(atPath: shared + "/b-reached-a"))

        // gc takes everything: the namespaces (and the taps and tc filters in them), the leases,
        // the QEMUs.
        let uuids = ["a", "b"].compactMap {
            (try? String(contentsOfFile: "\(setup.root)/uuid-\($0)", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
        }
        #expect(uuids.count == 2)
        _ = try setup.rkt(["gc", "--grace-period=0s"], timeout: 60)
        for uuid in uuids {
            #expect(!FileManager.default.fileExists(atPath: "/var/run/netns/rkt-\(uuid)"), "gc leaves the netns of \(uuid)")
            #expect(KVMSetup.qemuProcesses(naming: "rkt-" + uuid).isEmpty)
        }
        let leases = ((try? FileManager.default.contentsOfDirectory(atPath: setup.root + "/ipam/kvmnet")) ?? []).filter { $0.hasPrefix(subnet) }
        #expect(leases.isEmpty, "leases left: \(leases)")
        // Nothing but the bridge itself remains attached to the bridge (the pods' veths are gone).
        #expect(Self.sh("ip -o link show master \(bridge)").output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty)
    }

    /// What each concurrent `rkt run` returned.
    final class Results: @unchecked Sendable {
        private let lock = NSLock()
        private var byPod: [String: KVMSetup.Result] = [:]
        func set(_ pod: String, _ result: KVMSetup.Result?) { lock.withLock { byPod[pod] = result } }
        func get(_ pod: String) -> KVMSetup.Result? { lock.withLock { byPod[pod] } }
    }
}
