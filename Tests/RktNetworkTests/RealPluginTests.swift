import Foundation
import Testing
import Stage1Protocol
@testable import RktNetwork

/// Debian's containernetworking-plugins through PodNetwork, in real namespaces, as root. Each test
/// uses its own bridge, subnet, IPAM directory and pod UUID, and removes them even when it fails.
@Suite(.serialized) struct RealPluginTests {
    static let pluginDir = "/usr/lib/cni"

    func unavailable(_ function: String = #function) -> Bool {
        if !isRoot { return skip("needs root (network namespaces, bridges, iptables)", function) }
        if !FileManager.default.isExecutableFile(atPath: Self.pluginDir + "/bridge") {
            return skip("Debian's containernetworking-plugins are not installed (apt-get install containernetworking-plugins)", function)
        }
        return false
    }

    /// One pod's worth of scratch state, removed by `cleanUp`.
    final class Fixture {
        let dir: TemporaryDirectory
        let uuid = UUID().uuidString.lowercased()
        let bridge = "rkttb" + randomHex(6)
        let octet = Int.random(in: 10...250)
        var ipamDir: String { dir.path + "/ipam" }
        var podDir: String { dir.path + "/pod" }
        let network: PodNetwork

        init() throws {
            dir = try TemporaryDirectory()
            try FileManager.default.createDirectory(atPath: dir.path + "/pod", withIntermediateDirectories: true)
            let runtime = CNIRuntime(locator: PluginLocator(searchPath: [RealPluginTests.pluginDir]), logger: testLogger)
            network = PodNetwork(podUUID: uuid, podDirectory: dir.path + "/pod", runtime: runtime, logger: testLogger)
        }

        func config(_ name: String, _ text: String, list: Bool = false) throws -> NetworkConfiguration {
            try NetworkConfiguration.parse(Data(text.utf8), isList: list, source: name, orderKey: name)
        }

        func bridgeConfig(name: String = "brnet", masquerade: Bool = true) throws -> NetworkConfiguration {
            try config(name, """
                {"cniVersion":"1.0.0","name":"\(name)","type":"bridge","bridge":"\(bridge)","isGateway":true,"ipMasq":\(masquerade),
                 "ipam":{"type":"host-local","subnet":"10.251.\(octet).0/24","dataDir":"\(ipamDir)","routes":[{"dst":"0.0.0.0/0"}]}}
                """)
        }

        var ipamFiles: [String] {
            let root = ipamDir
            guard let enumerator = FileManager.default.enumerator(atPath: root) else { return [] }
            return enumerator.compactMap { $0 as? String }.filter { $0.contains("10.25") }
        }

        var natRulesForPod: [String] {
            shell("iptables -w -t nat -S").output.split(separator: "\n").map(String.init).filter { $0.contains(uuid) || $0.contains(String(uuid.replacingOccurrences(of: "-", with: "").prefix(8))) }
        }

        deinit {
            network.tearDown()
            shell("ip link del \(bridge) 2>/dev/null")
            try? NetworkNamespace.remove(at: network.netnsPath)
        }
    }

    @Test func bridgeWithHostLocalAddAndDel() throws {
        if unavailable() { return }
        let f = try Fixture()
        let setup = try f.network.setUp([(try f.bridgeConfig(), "IP=10.251.\(f.octet).77")])
        #expect(setup.netns == "/var/run/netns/rkt-\(f.uuid)")
        #expect(NetworkNamespace.isMounted(setup.netns))
        #expect(setup.attachments.map(\.interface) == ["eth0"])
        #expect(setup.attachments.first?.ips == ["10.251.\(f.octet).77/24"])
        let inside = shell("ip -n rkt-\(f.uuid) -4 -o addr show dev eth0").output
        #expect(inside.contains("10.251.\(f.octet).77/24"))
        #expect(shell("ip -n rkt-\(f.uuid) -o link show lo").output.contains("UP"))
        #expect(shell("ip -n rkt-\(f.uuid) route show default").output.contains("10.251.\(f.octet).1"))
        #expect(f.ipamFiles.contains { $0.hasSuffix("10.251.\(f.octet).77") })
        #expect(!f.natRulesForPod.isEmpty, "bridge's ipMasq rules name the container ID")
        let record = try #require(PodNetworkRecord.load(podDirectory: f.podDir))
        #expect(record.summaries == ["brnet:ip4=10.251.\(f.octet).77"])
        #expect(record.networks.first?.plugins == ["/usr/lib/cni/bridge"])

        #expect(f.network.tearDown().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: setup.netns))
        #expect(f.ipamFiles.filter { $0.hasSuffix("10.251.\(f.octet).77") }.isEmpty)
        #expect(f.natRulesForPod.isEmpty)
        #expect(PodNetworkRecord.load(podDirectory: f.podDir) == nil)
        // Idempotent: nothing left to undo is fine.
        #expect(f.network.tearDown().isEmpty)
    }

    @Test func ptpAndBridgeGiveEth0AndEth1() throws {
        if unavailable() { return }
        let f = try Fixture()
        let ptp = try f.config("10-ptp.conf", """
            {"cniVersion":"0.4.0","name":"p2p","type":"ptp","ipMasq":false,
             "ipam":{"type":"host-local","subnet":"10.252.\(f.octet).0/24","dataDir":"\(f.ipamDir)"}}
            """)
        let setup = try f.network.setUp([(ptp, nil), (try f.bridgeConfig(name: "lan", masquerade: false), nil)])
        #expect(setup.attachments.map(\.interface) == ["eth0", "eth1"])
        #expect(setup.attachments.map(\.name) == ["p2p", "lan"])
        let addresses = shell("ip -n rkt-\(f.uuid) -4 -o addr").output
        #expect(addresses.contains("eth0") && addresses.contains("10.252.\(f.octet)."))
        #expect(addresses.contains("eth1") && addresses.contains("10.251.\(f.octet)."))
        #expect(f.network.tearDown().isEmpty)
        #expect(f.ipamFiles.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: setup.netns))
    }

    @Test func aFailingPluginLeavesNothingBehind() throws {
        if unavailable() { return }
        let f = try Fixture()
        let bin = f.dir.path + "/bin"
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        _ = try writeScript(bin, "refuse", """
            [ "$CNI_COMMAND" = VERSION ] && { echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}'; exit 0; }
            [ "$CNI_COMMAND" = ADD ] && { echo '{"cniVersion":"1.0.0","code":999,"msg":"refusing on purpose","details":"test"}'; exit 1; }
            exit 0
            """)
        let runtime = CNIRuntime(locator: PluginLocator(searchPath: [Self.pluginDir, bin]), logger: testLogger)
        let network = PodNetwork(podUUID: f.uuid, podDirectory: f.podDir, runtime: runtime, logger: testLogger)
        let chain = try f.config("20-chain.conflist", """
            {"cniVersion":"1.0.0","name":"chain","plugins":[
              {"type":"bridge","bridge":"\(f.bridge)","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.251.\(f.octet).0/24","dataDir":"\(f.ipamDir)"}},
              {"type":"refuse"}]}
            """, list: true)
        // The first network attaches, the second fails: both are undone.
        do {
            _ = try network.setUp([(try f.bridgeConfig(name: "first"), nil), (chain, nil)])
            Issue.record("set-up should fail")
        } catch {
            #expect("\(error)" == "ADD network chain (plugin refuse): refusing on purpose: test")
        }
        #expect(!FileManager.default.fileExists(atPath: network.netnsPath))
        #expect(f.ipamFiles.isEmpty)
        #expect(f.natRulesForPod.isEmpty)
        #expect(PodNetworkRecord.load(podDirectory: f.podDir) == nil)
    }

    @Test func delWorksAfterTheNamespaceWasRemovedByHand() throws {
        if unavailable() { return }
        let f = try Fixture()
        // Without ipMasq: Debian's bridge 1.1.1 finds its masquerade rules through the interface in
        // the namespace, so with the namespace gone it cannot remove them (a plugin limitation).
        let setup = try f.network.setUp([(try f.bridgeConfig(masquerade: false), nil)])
        #expect(!f.ipamFiles.isEmpty)
        #expect(shell("ip netns delete rkt-\(f.uuid)").status == 0)
        #expect(f.network.tearDown().isEmpty)
        #expect(f.ipamFiles.isEmpty)
        #expect(f.natRulesForPod.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: setup.netns))
    }

    @Test func gcAfterACrashInTheMiddleOfAdd() throws {
        if unavailable() { return }
        let f = try Fixture()
        _ = try f.network.setUp([(try f.bridgeConfig(), nil)])
        // What a crash between the plugin's ADD and rkt recording its result leaves: the network
        // is in the record without a result.
        var record = try #require(PodNetworkRecord.load(podDirectory: f.podDir))
        record.networks[0].result = nil
        record.networks[0].ips = []
        try record.save(podDirectory: f.podDir)
        #expect(!f.ipamFiles.isEmpty)
        #expect(f.network.tearDown().isEmpty)
        #expect(f.ipamFiles.isEmpty)
        #expect(f.natRulesForPod.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: f.network.netnsPath))
    }

    @Test func portForwardingChainsComeAndGo() throws {
        if unavailable() { return }
        let f = try Fixture()
        let setup = try f.network.setUp([(try f.bridgeConfig(), nil)], ports: [RequestedPort(name: "http", protocol: "tcp", hostIP: nil, hostPort: 40000 + f.octet, podPort: 80)])
        let forwarding = PortForwarding(podUUID: f.uuid)
        let dnat = shell("iptables -w -t nat -S \(forwarding.dnatChain)").output
        let podIP = try #require(setup.attachments.first?.ips.first?.split(separator: "/").first)
        #expect(dnat.contains("--dport \(40000 + f.octet) -j DNAT --to-destination \(podIP):80"))
        #expect(shell("iptables -w -t nat -S OUTPUT").output.contains("-j \(forwarding.dnatChain)"))
        #expect(shell("iptables -w -t nat -S PREROUTING").output.contains("-j \(forwarding.dnatChain)"))
        #expect(shell("iptables -w -t nat -S POSTROUTING").output.contains("-j \(forwarding.snatChain)"))
        #expect(f.network.tearDown().isEmpty)
        #expect(!forwarding.chainsExist())
        #expect(f.natRulesForPod.isEmpty)
    }

    @Test func portmapInAConflistGetsThePortsAsRuntimeConfig() throws {
        if unavailable() { return }
        let f = try Fixture()
        let hostPort = 43000 + f.octet
        let chain = try f.config("10-pm.conflist", """
            {"cniVersion":"1.0.0","name":"pm","plugins":[
              {"type":"bridge","bridge":"\(f.bridge)","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"10.251.\(f.octet).0/24","dataDir":"\(f.ipamDir)"}},
              {"type":"portmap","capabilities":{"portMappings":true}}]}
            """, list: true)
        let setup = try f.network.setUp([(chain, nil)], ports: [RequestedPort(name: "http", protocol: "tcp", hostIP: nil, hostPort: hostPort, podPort: 80)])
        let podIP = try #require(setup.attachments.first?.ips.first?.split(separator: "/").first)
        let nat = shell("iptables -w -t nat -S").output
        #expect(nat.contains("--dport \(hostPort)") && nat.contains("\(podIP):80"), "portmap's DNAT rule")
        #expect(!PortForwarding(podUUID: f.uuid).chainsExist(), "rkt adds no chains of its own then")
        let record = try #require(PodNetworkRecord.load(podDirectory: f.podDir))
        #expect(record.networks.first?.capabilityArgs?["portMappings"] != nil)
        #expect(f.network.tearDown().isEmpty)
        #expect(!shell("iptables -w -t nat -S").output.contains("--dport \(hostPort)"), "DEL with the same runtimeConfig removes portmap's rules")
        #expect(f.natRulesForPod.isEmpty)
        #expect(f.ipamFiles.isEmpty)
    }

    @Test func forwardedPortAnswersFromHostLoopback() throws {
        if unavailable() { return }
        guard FileManager.default.isExecutableFile(atPath: "/bin/busybox") else { _ = skip("busybox-static is not installed"); return }
        let f = try Fixture()
        let port = 41000 + f.octet
        _ = try f.network.setUp([(try f.bridgeConfig(), nil)], ports: [RequestedPort(name: "http", protocol: "tcp", hostIP: nil, hostPort: port, podPort: 8080)])
        // A one-shot server inside the pod's namespace; the client connects to 127.0.0.1 on the host.
        shell("ip netns exec rkt-\(f.uuid) /bin/busybox nc -l -p 8080 -e /bin/echo hello-from-pod >/dev/null 2>&1 & echo $! > \(f.dir.path)/server.pid")
        defer { shell("kill $(cat \(f.dir.path)/server.pid) 2>/dev/null") }
        var answer = ""
        for _ in 0..<100 where !answer.contains("hello-from-pod") {
            usleep(100_000)
            answer = shell("/bin/busybox nc -w 2 127.0.0.1 \(port) </dev/null").output
        }
        #expect(answer.contains("hello-from-pod"))

        // From "another host": a namespace of the test's own, wired to this host by a veth pair,
        // connecting to the host's address on that link (PREROUTING, not OUTPUT, sees it).
        let remote = "rkttr" + randomHex(6), hostEnd = "rkttv" + randomHex(6)
        let subnet = "10.248.\(f.octet)"
        defer {
            shell("ip link del \(hostEnd) 2>/dev/null; ip netns del \(remote) 2>/dev/null")
        }
        #expect(shell("""
            ip netns add \(remote) && ip link add \(hostEnd) type veth peer name eth0 netns \(remote) &&
            ip addr add \(subnet).1/30 dev \(hostEnd) && ip link set \(hostEnd) up &&
            ip -n \(remote) addr add \(subnet).2/30 dev eth0 && ip -n \(remote) link set eth0 up && ip -n \(remote) link set lo up
            """).status == 0)
        shell("ip netns exec rkt-\(f.uuid) /bin/busybox nc -l -p 8080 -e /bin/echo hello-remote >/dev/null 2>&1 & echo $! > \(f.dir.path)/server2.pid")
        defer { shell("kill $(cat \(f.dir.path)/server2.pid) 2>/dev/null") }
        var remoteAnswer = ""
        for _ in 0..<100 where !remoteAnswer.contains("hello-remote") {
            usleep(100_000)
            remoteAnswer = shell("ip netns exec \(remote) /bin/busybox nc -w 2 \(subnet).1 \(port) </dev/null").output
        }
        #expect(remoteAnswer.contains("hello-remote"), "a forwarded port answers other hosts")
        #expect(f.network.tearDown().isEmpty)
    }
}
