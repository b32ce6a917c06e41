#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Netlink
import Synchronization
import Testing

/// Drives the built cni-bridge binary as root in real network namespaces. Each test uses its
/// own bridge (rktt<random>), namespaces, data directory and 10.213.<n>.0/24 subnet.
@Suite struct CNIBridgeTests {
    @Test func versionListsEverySupportedVersion() throws {
        guard let plugin = Harness.pluginPath else {
            print("skipped: no built cni-bridge found")
            return
        }
        let output = try Harness.call(plugin, "VERSION", config: ["cniVersion": "1.1.0"])
        #expect(output.status == 0)
        #expect(output.json["cniVersion"] as? String == "1.1.0")
        #expect(output.json["supportedVersions"] as? [String] == ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    }

    @Test func errorsAreCNIErrorJSON() throws {
        guard let plugin = Harness.pluginPath else {
            print("skipped: no built cni-bridge found")
            return
        }
        let badVersion = try Harness.call(plugin, "ADD", config: ["cniVersion": "9.9.9", "name": "x", "type": "cni-bridge"], containerID: "c", netns: "/proc/self/ns/net")
        #expect(badVersion.status != 0)
        #expect(badVersion.json["code"] as? Int == 1)
        let noName = try Harness.call(plugin, "ADD", config: ["cniVersion": "1.0.0", "type": "cni-bridge"], containerID: "c", netns: "/proc/self/ns/net")
        #expect(noName.json["code"] as? Int == 7)
        let missingEnvironment = try Harness.call(plugin, "ADD", config: ["cniVersion": "1.0.0", "name": "x", "type": "cni-bridge"], containerID: "", netns: "")
        #expect(missingEnvironment.status != 0)
        #expect(missingEnvironment.json["code"] as? Int == 4)
        #expect((missingEnvironment.json["msg"] as? String)?.contains("CNI_CONTAINERID") == true)
        let unknownCommand = try Harness.call(plugin, "FROB", config: ["cniVersion": "1.0.0", "name": "x"])
        #expect(unknownCommand.json["code"] as? Int == 4)
        let missingNamespace = try Harness.call(
            plugin, "ADD", config: ["cniVersion": "1.0.0", "name": "x", "type": "cni-bridge", "bridge": "rkttnever"], containerID: "c", netns: "/var/run/netns/rktt-does-not-exist")
        #expect(missingNamespace.status != 0)
        #expect(missingNamespace.json["code"] as? Int == 3)
    }

    /// Two containers on one bridge reach each other and the gateway over IPv4 and IPv6; the
    /// reservations are host-local's files; DEL removes them and the veths, and a second DEL is fine.
    @Test func addPingAndDeleteDualStack() throws {
        if let reason = Harness.skipReason {
            print("skipped: \(reason)")
            return
        }
        let scratch = Scratch()
        defer { scratch.cleanUp() }
        let ipam: [String: Any] = [
            "type": "host-local", "dataDir": scratch.dataDir,
            "ranges": [[["subnet": "10.213.11.0/24"]], [["subnet": "fd00:213:11::/64"]]],
        ]
        let config = scratch.config(octet: 11, extra: ["isDefaultGateway": true], ipam: ipam)
        let networkName = config["name"] as! String
        let first = try scratch.namespace()
        let second = try scratch.namespace()

        let added1 = try Harness.bridge("ADD", config: config, containerID: "c1", netns: first)
        #expect(added1.status == 0, "\(added1.stdout)")
        let added2 = try Harness.bridge("ADD", config: config, containerID: "c2", netns: second)
        #expect(added2.status == 0, "\(added2.stdout)")
        let ips1 = (added1.json["ips"] as? [[String: Any]] ?? []).compactMap { $0["address"] as? String }
        let ips2 = (added2.json["ips"] as? [[String: Any]] ?? []).compactMap { $0["address"] as? String }
        #expect(ips1 == ["10.213.11.2/24", "fd00:213:11::2/64"])
        #expect(ips2 == ["10.213.11.3/24", "fd00:213:11::3/64"])
        let interfaces = added1.json["interfaces"] as? [[String: Any]] ?? []
        #expect(interfaces.count == 3)
        #expect(interfaces.first?["name"] as? String == scratch.bridge)
        #expect(interfaces.last?["sandbox"] as? String == first)
        #expect((added1.json["routes"] as? [[String: Any]] ?? []).contains { $0["dst"] as? String == "0.0.0.0/0" && $0["gw"] as? String == "10.213.11.1" })

        let namespace1 = scratch.namespaces[0]
        #expect(try Harness.ping(from: namespace1, "10.213.11.3"))
        #expect(try Harness.ping(from: namespace1, "10.213.11.1"))
        #expect(try Harness.ping(from: namespace1, "fd00:213:11::3"))
        #expect(try Harness.ping(from: namespace1, "fd00:213:11::1"))
        // The default route the plugin installed is the one the kernel uses.
        let routes = try NetlinkSocket(namespacePath: first).routes(family: AddressFamily.inet)
        #expect(routes.contains { $0.destination == nil && $0.gateway == IPAddress("10.213.11.1") })

        let directory = scratch.dataDir + "/" + networkName
        #expect(try String(contentsOfFile: directory + "/10.213.11.2", encoding: .utf8) == "c1\r\neth0")
        #expect(try String(contentsOfFile: directory + "/fd00:213:11::3", encoding: .utf8) == "c2\r\neth0")
        #expect(try String(contentsOfFile: directory + "/last_reserved_ip.0", encoding: .utf8) == "10.213.11.3")

        let hostVeth = try #require(interfaces[1]["name"] as? String)
        #expect(try NetlinkSocket().link(named: hostVeth)?.masterIndex == NetlinkSocket().link(named: scratch.bridge)?.index)

        #expect(try Harness.bridge("DEL", config: config, containerID: "c1", netns: first).status == 0)
        #expect(!FileManager.default.fileExists(atPath: directory + "/10.213.11.2"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/fd00:213:11::2"))
        #expect(FileManager.default.fileExists(atPath: directory + "/10.213.11.3"))
        #expect(try NetlinkSocket().link(named: hostVeth) == nil)
        #expect(try NetlinkSocket(namespacePath: first).link(named: "eth0") == nil)
        let again = try Harness.bridge("DEL", config: config, containerID: "c1", netns: first)
        #expect(again.status == 0, "\(again.stdout)")
        #expect(try Harness.bridge("DEL", config: config, containerID: "c2", netns: second).status == 0)
        #expect(!FileManager.default.fileExists(atPath: directory + "/10.213.11.3"))
    }

    @Test func deleteToleratesAMissingNamespace() throws {
        if let reason = Harness.skipReason {
            print("skipped: \(reason)")
            return
        }
        let scratch = Scratch()
        defer { scratch.cleanUp() }
        let config = scratch.config(octet: 12)
        let path = try scratch.namespace()
        #expect(try Harness.bridge("ADD", config: config, containerID: "gone", netns: path).status == 0)
        try Harness.run("/usr/sbin/ip", ["netns", "del", scratch.namespaces[0]])
        let deleted = try Harness.bridge("DEL", config: config, containerID: "gone", netns: path)
        #expect(deleted.status == 0, "\(deleted.stdout)")
        #expect(!FileManager.default.fileExists(atPath: scratch.dataDir + "/\(config["name"]!)/10.213.12.2"))
        // No namespace at all, and nothing ever added.
        #expect(try Harness.bridge("DEL", config: config, containerID: "never", netns: "").status == 0)
    }

    @Test func checkDetectsAMissingAddress() throws {
        if let reason = Harness.skipReason {
            print("skipped: \(reason)")
            return
        }
        let scratch = Scratch()
        defer { scratch.cleanUp() }
        var config = scratch.config(version: "0.4.0", octet: 13)
        let path = try scratch.namespace()
        let added = try Harness.bridge("ADD", config: config, containerID: "chk", netns: path)
        #expect(added.status == 0)
        defer { _ = try? Harness.bridge("DEL", config: config, containerID: "chk", netns: path) }
        config["prevResult"] = added.json
        let healthy = try Harness.bridge("CHECK", config: config, containerID: "chk", netns: path)
        #expect(healthy.status == 0, "\(healthy.stdout)")

        let container = try NetlinkSocket(namespacePath: path)
        let eth0 = try #require(try container.link(named: "eth0"))
        try container.deleteAddress(index: eth0.index, IPPrefix("10.213.13.2/24")!)
        let broken = try Harness.bridge("CHECK", config: config, containerID: "chk", netns: path)
        #expect(broken.status != 0)
        #expect((broken.json["msg"] as? String)?.contains("10.213.13.2/24") == true)

        // CHECK does not exist before 0.4.0.
        var old = config
        old["cniVersion"] = "0.3.1"
        #expect(try Harness.bridge("CHECK", config: old, containerID: "chk", netns: path).json["code"] as? Int == 1)
    }

    /// The result's shape follows the config's cniVersion.
    @Test(arguments: ["0.2.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"])
    func resultFormatPerVersion(version: String) throws {
        if let reason = Harness.skipReason {
            print("skipped: \(reason)")
            return
        }
        let scratch = Scratch()
        defer { scratch.cleanUp() }
        let octet = ["0.2.0": 20, "0.3.1": 21, "0.4.0": 22, "1.0.0": 23, "1.1.0": 24][version]!
        let config = scratch.config(version: version, octet: octet, extra: ["mtu": 1400])
        let path = try scratch.namespace()
        let added = try Harness.bridge("ADD", config: config, containerID: "fmt", netns: path)
        defer { _ = try? Harness.bridge("DEL", config: config, containerID: "fmt", netns: path) }
        #expect(added.status == 0, "\(added.stdout)")
        let json = added.json
        #expect(json["cniVersion"] as? String == version)
        if version == "0.2.0" {
            let ip4 = json["ip4"] as? [String: Any]
            #expect(ip4?["ip"] as? String == "10.213.\(octet).2/24")
            #expect(ip4?["gateway"] as? String == "10.213.\(octet).1")
            #expect(json["ips"] == nil && json["interfaces"] == nil)
        } else {
            let ip = (json["ips"] as? [[String: Any]])?.first
            #expect(ip?["address"] as? String == "10.213.\(octet).2/24")
            #expect(ip?["interface"] as? Int == 2)
            #expect((ip?["version"] as? String) == (version.hasPrefix("0.") ? "4" : nil))
            let interfaces = json["interfaces"] as? [[String: Any]] ?? []
            #expect(interfaces.count == 3)
            #expect((interfaces.last?["mtu"] as? Int) == (version == "1.1.0" ? 1400 : nil))
            #expect(json["ip4"] == nil)
        }
        #expect(try NetlinkSocket(namespacePath: path).link(named: "eth0")?.mtu == 1400)
    }

    @Test func ipMasqRulesAreAddedAndRemoved() throws {
        if let reason = Harness.skipReason {
            print("skipped: \(reason)")
            return
        }
        let scratch = Scratch()
        defer { scratch.cleanUp() }
        let ipam: [String: Any] = [
            "type": "host-local", "dataDir": scratch.dataDir, "ranges": [[["subnet": "10.213.14.0/24"]], [["subnet": "fd00:213:14::/64"]]],
        ]
        let config = scratch.config(octet: 14, extra: ["ipMasq": true], ipam: ipam)
        let path = try scratch.namespace()
        let containerID = "masq" + Harness.randomSuffix()
        defer { _ = try? Harness.bridge("DEL", config: config, containerID: containerID, netns: path) }
        #expect(try Harness.bridge("ADD", config: config, containerID: containerID, netns: path).status == 0)
        let rules = try Harness.natRules()
        let chain = try #require(rules.split(separator: "\n").first { $0.hasPrefix("-A POSTROUTING -s 10.213.14.2/32") && $0.contains("id: \\\"\(containerID)\\\"") })
        let chainName = String(try #require(chain.split(separator: " ").last))
        #expect(chainName.hasPrefix("CNI-") && chainName.count == 28)
        #expect(rules.contains("-A \(chainName) -d 10.213.14.0/24"))
        #expect(rules.contains("-A \(chainName) ! -d 224.0.0.0/4"))
        let rules6 = try Harness.natRules(ipv6: true)
        #expect(rules6.contains("-A POSTROUTING -s fd00:213:14::2/128"))
        #expect(rules6.contains("-A \(chainName) -d fd00:213:14::/64"))
        #expect(rules6.contains("-A \(chainName) ! -d ff00::/8"))
        #expect(try Harness.bridge("DEL", config: config, containerID: containerID, netns: path).status == 0)
        #expect(!(try Harness.natRules()).contains(chainName))
        #expect(!(try Harness.natRules(ipv6: true)).contains(chainName))
    }

    @Test func hairpinPromiscuousAndRequestedAddress() throws {
        if let reason = Harness.skipReason {
            print("skipped: \(reason)")
            return
        }
        let scratch = Scratch()
        defer { scratch.cleanUp() }
        let config = scratch.config(octet: 19, extra: ["hairpinMode": true, "promiscMode": true])
        let path = try scratch.namespace()
        let added = try Harness.bridge("ADD", config: config, containerID: "hp", netns: path, args: "IgnoreUnknown=1;IP=10.213.19.77")
        defer { _ = try? Harness.bridge("DEL", config: config, containerID: "hp", netns: path) }
        #expect(added.status == 0, "\(added.stdout)")
        #expect((added.json["ips"] as? [[String: Any]])?.first?["address"] as? String == "10.213.19.77/24")
        let hostVeth = try #require((added.json["interfaces"] as? [[String: Any]])?[1]["name"] as? String)
        let hairpin = try String(contentsOfFile: "/sys/class/net/\(hostVeth)/brport/hairpin_mode", encoding: .utf8)
        #expect(hairpin.hasPrefix("1"))
        #expect(try NetlinkSocket().link(named: scratch.bridge)?.isPromiscuous == true)
        // The same address for another container is refused, and that ADD leaves nothing behind.
        let other = try scratch.namespace()
        let refused = try Harness.bridge("ADD", config: config, containerID: "hp2", netns: other, args: "IP=10.213.19.77")
        #expect(refused.status != 0)
        #expect((refused.json["msg"] as? String)?.contains("10.213.19.77") == true)
        #expect(try NetlinkSocket(namespacePath: other).link(named: "eth0") == nil)
    }

    /// A chain as a runtime runs it: cni-bridge, then Debian's portmap with prevResult; DEL reversed.
    @Test func chainWithDebianPortmap() throws {
        if let reason = Harness.skipReason {
            print("skipped: \(reason)")
            return
        }
        guard FileManager.default.isExecutableFile(atPath: Harness.debianPlugins + "/portmap") else {
            print("skipped: /usr/lib/cni/portmap not installed (containernetworking-plugins)")
            return
        }
        let scratch = Scratch()
        defer { scratch.cleanUp() }
        let bridgeConfig = scratch.config(version: "1.0.0", octet: 15)
        let name = bridgeConfig["name"] as! String
        let path = try scratch.namespace()
        let containerID = "pm" + Harness.randomSuffix()
        let hostPort = Int.random(in: 20000..<30000)
        var portmapConfig: [String: Any] = [
            "cniVersion": "1.0.0", "name": name, "type": "portmap", "capabilities": ["portMappings": true],
            "runtimeConfig": ["portMappings": [["hostPort": hostPort, "containerPort": 80, "protocol": "tcp"]]],
        ]
        let bridgeResult = try Harness.bridge("ADD", config: bridgeConfig, containerID: containerID, netns: path)
        #expect(bridgeResult.status == 0, "\(bridgeResult.stdout)")
        var bridgeDelete = bridgeConfig
        bridgeDelete["prevResult"] = bridgeResult.json
        defer { _ = try? Harness.bridge("DEL", config: bridgeDelete, containerID: containerID, netns: path) }

        portmapConfig["prevResult"] = bridgeResult.json
        let portmapResult = try Harness.call(Harness.debianPlugins + "/portmap", "ADD", config: portmapConfig, containerID: containerID, netns: path)
        defer { _ = try? Harness.call(Harness.debianPlugins + "/portmap", "DEL", config: portmapConfig, containerID: containerID, netns: path) }
        #expect(portmapResult.status == 0, "\(portmapResult.stdout)")
        // portmap passes our result through unchanged.
        #expect((portmapResult.json["ips"] as? [[String: Any]])?.first?["address"] as? String == "10.213.15.2/24")
        #expect(try Harness.natRules().contains("--dport \(hostPort)"))

        #expect(try Harness.call(Harness.debianPlugins + "/portmap", "DEL", config: portmapConfig, containerID: containerID, netns: path).status == 0)
        #expect(!(try Harness.natRules()).contains("--dport \(hostPort)"))
        let deleted = try Harness.bridge("DEL", config: bridgeDelete, containerID: containerID, netns: path)
        #expect(deleted.status == 0, "\(deleted.stdout)")
    }

    /// Delegation: an IPAM type we do not build in is exec'd from CNI_PATH. Debian's host-local
    /// under another name stands in for a third-party IPAM plugin.
    @Test func delegatesToDebianHostLocal() throws {
        if let reason = Harness.skipReason {
            print("skipped: \(reason)")
            return
        }
        guard FileManager.default.isExecutableFile(atPath: Harness.debianPlugins + "/host-local") else {
            print("skipped: /usr/lib/cni/host-local not installed (containernetworking-plugins)")
            return
        }
        let scratch = Scratch()
        defer { scratch.cleanUp() }
        let pluginDirectory = scratch.dataDir + "-plugins"
        try FileManager.default.createDirectory(atPath: pluginDirectory, withIntermediateDirectories: true)
        scratch.onCleanUp { try? FileManager.default.removeItem(atPath: pluginDirectory) }
        try FileManager.default.createSymbolicLink(atPath: pluginDirectory + "/debian-host-local", withDestinationPath: Harness.debianPlugins + "/host-local")
        let config = scratch.config(
            version: "1.0.0", octet: 16,
            ipam: ["type": "debian-host-local", "subnet": "10.213.16.0/24", "rangeStart": "10.213.16.50", "dataDir": scratch.dataDir])
        let path = try scratch.namespace()
        let added = try Harness.bridge("ADD", config: config, containerID: "deleg", netns: path, cniPath: pluginDirectory)
        #expect(added.status == 0, "\(added.stdout)")
        #expect((added.json["ips"] as? [[String: Any]])?.first?["address"] as? String == "10.213.16.50/24")
        let file = scratch.dataDir + "/\(config["name"]!)/10.213.16.50"
        #expect(FileManager.default.fileExists(atPath: file))
        #expect(try NetlinkSocket(namespacePath: path).addresses().contains { $0.prefix == IPPrefix("10.213.16.50/24") })
        #expect(try Harness.bridge("DEL", config: config, containerID: "deleg", netns: path, cniPath: pluginDirectory).status == 0)
        #expect(!FileManager.default.fileExists(atPath: file))

        // A missing IPAM plugin is an error naming it, and leaves no veth behind.
        var missing = config
        missing["ipam"] = ["type": "no-such-ipam"]
        let failed = try Harness.bridge("ADD", config: missing, containerID: "deleg2", netns: path, cniPath: pluginDirectory)
        #expect(failed.status != 0)
        #expect((failed.json["msg"] as? String)?.contains("no-such-ipam") == true)
        #expect(try NetlinkSocket(namespacePath: path).link(named: "eth0") == nil)
    }

    /// Our built-in IPAM writes host-local's layout: Debian's host-local releases our lease.
    @Test func builtInLeasesAreReleasedByDebianHostLocal() throws {
        if let reason = Harness.skipReason {
            print("skipped: \(reason)")
            return
        }
        let scratch = Scratch()
        defer { scratch.cleanUp() }
        let config = scratch.config(version: "1.0.0", octet: 17)
        let path = try scratch.namespace()
        #expect(try Harness.bridge("ADD", config: config, containerID: "interop", netns: path).status == 0)
        let file = scratch.dataDir + "/\(config["name"]!)/10.213.17.2"
        #expect(FileManager.default.fileExists(atPath: file))
        let released = try Harness.call(Harness.debianPlugins + "/host-local", "DEL", config: config, containerID: "interop", netns: path)
        #expect(released.status == 0, "\(released.stdout)")
        #expect(!FileManager.default.fileExists(atPath: file))
        #expect(try Harness.bridge("DEL", config: config, containerID: "interop", netns: path).status == 0)
    }

    /// In a chain, a previous plugin's interfaces and addresses come first and ours index after them.
    @Test func prevResultIsPassedThrough() throws {
        if let reason = Harness.skipReason {
            print("skipped: \(reason)")
            return
        }
        let scratch = Scratch()
        defer { scratch.cleanUp() }
        var config = scratch.config(version: "1.0.0", octet: 25)
        config["prevResult"] = [
            "cniVersion": "1.0.0", "interfaces": [["name": "lo", "sandbox": "/x"]], "ips": [["address": "192.0.2.9/32", "interface": 0]],
            "routes": [["dst": "198.51.100.0/24"]],
        ]
        let path = try scratch.namespace()
        let added = try Harness.bridge("ADD", config: config, containerID: "prev", netns: path)
        defer { _ = try? Harness.bridge("DEL", config: config, containerID: "prev", netns: path) }
        #expect(added.status == 0, "\(added.stdout)")
        let interfaces = (added.json["interfaces"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(interfaces.count == 4)
        #expect(interfaces.first == "lo")
        let ips = added.json["ips"] as? [[String: Any]] ?? []
        #expect(ips.map { $0["address"] as? String } == ["192.0.2.9/32", "10.213.25.2/24"])
        #expect(ips.map { $0["interface"] as? Int } == [0, 3])
        #expect((added.json["routes"] as? [[String: Any]])?.first?["dst"] as? String == "198.51.100.0/24")
    }

    /// Concurrent ADDs on a bridge that does not exist yet: one creates it, the others use it,
    /// and the IPAM lock hands out distinct addresses.
    @Test func concurrentAddsShareTheBridgeAndTheLock() throws {
        if let reason = Harness.skipReason {
            print("skipped: \(reason)")
            return
        }
        let scratch = Scratch()
        defer { scratch.cleanUp() }
        let config = scratch.config(version: "1.0.0", octet: 26)
        let paths = try (0..<4).map { _ in try scratch.namespace() }
        let results = Mutex<[Int: Harness.Output]>([:])
        // Only read by the workers.
        nonisolated(unsafe) let sharedConfig = config
        DispatchQueue.concurrentPerform(iterations: paths.count) { index in
            if let output = try? Harness.bridge("ADD", config: sharedConfig, containerID: "con\(index)", netns: paths[index]) {
                results.withLock { $0[index] = output }
            }
        }
        defer {
            for (index, path) in paths.enumerated() { _ = try? Harness.bridge("DEL", config: config, containerID: "con\(index)", netns: path) }
        }
        let outputs = results.withLock { $0 }
        #expect(outputs.count == paths.count)
        #expect(outputs.values.allSatisfy { $0.status == 0 }, "\(outputs.values.map(\.stdout))")
        let addresses = Set(outputs.values.compactMap { ($0.json["ips"] as? [[String: Any]])?.first?["address"] as? String })
        #expect(addresses == ["10.213.26.2/24", "10.213.26.3/24", "10.213.26.4/24", "10.213.26.5/24"])
    }

    @Test func garbageCollectionAndStatus() throws {
        if let reason = Harness.skipReason {
            print("skipped: \(reason)")
            return
        }
        let scratch = Scratch()
        defer { scratch.cleanUp() }
        var config = scratch.config(version: "1.1.0", octet: 18, extra: ["ipMasq": true])
        let network = config["name"] as! String
        let keep = try scratch.namespace()
        let stale = try scratch.namespace()
        #expect(try Harness.bridge("ADD", config: config, containerID: "keep", netns: keep).status == 0)
        #expect(try Harness.bridge("ADD", config: config, containerID: "stale", netns: stale).status == 0)
        defer { _ = try? Harness.bridge("DEL", config: config, containerID: "keep", netns: keep) }
        defer { _ = try? Harness.bridge("DEL", config: config, containerID: "stale", netns: stale) }
        #expect(try Harness.bridge("STATUS", config: config).status == 0)
        config["cni.dev/valid-attachments"] = [["containerID": "keep", "ifname": "eth0"]]
        let collected = try Harness.bridge("GC", config: config)
        #expect(collected.status == 0, "\(collected.stdout)")
        let directory = scratch.dataDir + "/\(config["name"]!)"
        #expect(FileManager.default.fileExists(atPath: directory + "/10.213.18.2"))
        #expect(!FileManager.default.fileExists(atPath: directory + "/10.213.18.3"))
        // The stale container's masquerading chain went too; the live one's stayed.
        let rules = try Harness.natRules()
        #expect(rules.contains("name: \\\"\(network)\\\" id: \\\"keep\\\""))
        #expect(!rules.contains("name: \\\"\(network)\\\" id: \\\"stale\\\""))
        #expect(rules.contains("-A POSTROUTING -s 10.213.18.2/32"))
        #expect(!rules.contains("-A POSTROUTING -s 10.213.18.3/32"))
    }
}
