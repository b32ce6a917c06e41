import Foundation
import Testing
import Stage1Protocol
@testable import RktNetwork

@Suite struct ConfigurationTests {
    @Test func parsesASinglePluginConf() throws {
        let data = Data(#"{"cniVersion":"0.4.0","name":"lan","type":"bridge","bridge":"br9","ipam":{"type":"host-local","subnet":"10.9.0.0/24"}}"#.utf8)
        let config = try NetworkConfiguration.parse(data, isList: false, source: "/x/10-lan.conf", orderKey: "10-lan.conf")
        #expect(config.name == "lan")
        #expect(config.cniVersion == .v040)
        #expect(config.types == ["bridge"])
        #expect(config.plugins[0]["bridge"] == "br9")
        #expect(!config.masquerades)
        let injected = config.pluginConfig(0, version: .v031)
        #expect(injected["cniVersion"] == "0.3.1")
        #expect(injected["name"] == "lan")
    }

    @Test func parsesAConflistChain() throws {
        let data = Data(#"{"cniVersion":"1.0.0","name":"chain","disableCheck":true,"plugins":[{"type":"bridge","ipMasq":true},{"type":"portmap","capabilities":{"portMappings":true}}]}"#.utf8)
        let config = try NetworkConfiguration.parse(data, isList: true, source: "c.conflist", orderKey: "c.conflist")
        #expect(config.types == ["bridge", "portmap"])
        #expect(config.disableCheck)
        #expect(config.masquerades)
    }

    @Test func cniVersionsListPicksTheHighestKnown() throws {
        let data = Data(#"{"cniVersion":"0.4.0","cniVersions":["0.4.0","1.1.0","9.9.9"],"name":"multi","plugins":[{"type":"bridge"}]}"#.utf8)
        #expect(try NetworkConfiguration.parse(data, isList: true, source: "m", orderKey: "m").cniVersion == .v110)
        let unknown = Data(#"{"cniVersion":"1.0.0","cniVersions":["7.0.0"],"name":"x","plugins":[{"type":"b"}]}"#.utf8)
        #expect(throws: NetworkError.self) { try NetworkConfiguration.parse(unknown, isList: true, source: "m", orderKey: "m") }
    }

    @Test func defaultsAMissingVersionTo010() throws {
        let config = try NetworkConfiguration.parse(Data(#"{"name":"old","type":"ptp"}"#.utf8), isList: false, source: "s", orderKey: "s")
        #expect(config.cniVersion == .v010)
    }

    @Test(arguments: [
        (#"{"type":"bridge"}"#, false, "no \"name\""),
        (#"{"name":"a b","type":"bridge"}"#, false, "may only contain"),
        (#"{"name":"x"}"#, false, "no \"type\""),
        (#"{"name":"x","type":"../evil"}"#, false, "not a plugin name"),
        (#"{"name":"x","cniVersion":"one","type":"b"}"#, false, "invalid cniVersion"),
        (#"{"name":"x","plugins":[]}"#, true, "non-empty \"plugins\""),
        (#"{"name":"x","plugins":[{"type":"a"},{}]}"#, true, "plugins[1] has no \"type\""),
        ("not json", false, "not JSON"),
    ])
    func rejectsBrokenConfigurations(text: String, isList: Bool, expected: String) {
        #expect {
            _ = try NetworkConfiguration.parse(Data(text.utf8), isList: isList, source: "bad", orderKey: "bad")
        } throws: { error in
            guard let error = error as? NetworkError else { return false }
            return error.kind == .invalidConfig && error.message.contains(expected)
        }
    }

    @Test func userFilesOverrideBuiltInsAndKeepFileOrder() throws {
        let dir = try TemporaryDirectory()
        let netd = dir.path + "/net.d"
        try FileManager.default.createDirectory(atPath: netd, withIntermediateDirectories: true)
        try Data(#"{"cniVersion":"0.3.1","name":"zeta","type":"ptp"}"#.utf8).write(to: URL(fileURLWithPath: netd + "/05-zeta.conf"))
        try Data(#"{"cniVersion":"0.3.1","name":"alpha","type":"bridge"}"#.utf8).write(to: URL(fileURLWithPath: netd + "/20-alpha.conf"))
        try Data(#"{"cniVersion":"1.0.0","name":"default","plugins":[{"type":"ptp"}]}"#.utf8).write(to: URL(fileURLWithPath: netd + "/30-mine.conflist"))
        // Same name again in a later file: ignored, as rkt does.
        try Data(#"{"cniVersion":"0.3.1","name":"alpha","type":"macvlan"}"#.utf8).write(to: URL(fileURLWithPath: netd + "/40-alpha-again.conf"))
        try Data("ignored".utf8).write(to: URL(fileURLWithPath: netd + "/README"))
        let all = try NetworkConfigurations.loadAll(localConfig: dir.path)
        #expect(all.map(\.name) == ["zeta", "alpha", "default", "default-restricted"])
        #expect(all.first { $0.name == "alpha" }?.types == ["bridge"])
        #expect(all.first { $0.name == "default" }?.types == ["ptp"])
        #expect(all.first { $0.name == "default-restricted" }?.source == "built-in")
    }

    @Test func builtInsMatchRkt() throws {
        let all = try NetworkConfigurations.loadAll(localConfig: "/nonexistent-rkt-config")
        let byName = Dictionary(uniqueKeysWithValues: all.map { ($0.name, $0) })
        let def = try #require(byName["default"])
        #expect(def.plugins[0]["ipam"]?["subnet"] == "172.16.28.0/24")
        #expect(def.plugins[0]["ipam"]?["routes"] == [["dst": "0.0.0.0/0"]])
        #expect(def.masquerades)
        let restricted = try #require(byName["default-restricted"])
        #expect(restricted.plugins[0]["ipam"]?["subnet"] == "172.31.0.0/16")
        #expect(restricted.plugins[0]["ipam"]?["routes"] == nil)
        #expect(restricted.plugins[0]["isGateway"] == true)
        #expect(!restricted.masquerades)
    }

    @Test func recordedConfigurationRoundTrips() throws {
        let config = NetworkConfigurations.builtIn[0]
        let back = try #require(NetworkConfiguration(recorded: config.recorded))
        #expect(back.name == config.name)
        #expect(back.plugins == config.plugins)
        #expect(back.cniVersion == config.cniVersion)
    }
}

@Suite struct SelectionTests {
    func named(_ pairs: [(String, String?)]) -> NetworkSelection {
        .networks(all: false, named: pairs.map { Network(name: $0.0, args: $0.1) })
    }

    @Test func parsesRktForms() throws {
        #expect(try NetworkSelection.parse(["host"]) == .host)
        #expect(try NetworkSelection.parse(["none"]) == .none)
        #expect(try NetworkSelection.parse(["default"]) == named([("default", nil)]))
        #expect(try NetworkSelection.parse(["all"]) == .networks(all: true, named: []))
        #expect(try NetworkSelection.parse(["a,b:IP=10.1.2.3;K=V"]) == named([("a", nil), ("b", "IP=10.1.2.3;K=V")]))
        #expect(try NetworkSelection.parse(["a", "b"]) == named([("a", nil), ("b", nil)]))
        #expect(NetworkSelection.defaultSelection(stage1HasNetworking: true) == named([("default", nil)]))
        #expect(NetworkSelection.defaultSelection(stage1HasNetworking: false) == .host)
    }

    @Test(arguments: [
        (["a,a"], "more than once"), (["a", "a:X=1"], "more than once"), (["host,default"], "cannot be combined"),
        (["none:X=1"], "takes no arguments"), ([""], "empty network name"), (["a,"], "empty network name"),
        (["a:"], "empty arguments"), (["a:novalue"], "is not K=V"), (["a b"], "not a network name"), (["all:X=1"], "takes no arguments"),
    ])
    func rejects(values: [String], expected: String) {
        #expect {
            _ = try NetworkSelection.parse(values)
        } throws: { error in
            (error as? NetworkError)?.message.contains(expected) == true
        }
    }

    @Test func protocolModes() throws {
        #expect(NetworkSelection.host.protocolMode.net == .host)
        #expect(try NetworkSelection.parse(["default"]).protocolMode.net == .default)
        #expect(try NetworkSelection.parse(["default"]).protocolMode.networks == [])
        #expect(try NetworkSelection.parse(["default:IP=172.16.28.9"]).protocolMode.networks == [Network(name: "default", args: "IP=172.16.28.9")])
        #expect(try NetworkSelection.parse(["a,default"]).protocolMode.net == .list)
    }

    @Test func resolvesInFileOrderAndNamesMissingNetworks() throws {
        let configs = [
            NetworkConfiguration(name: "b", cniVersion: .v100, plugins: [["type": "ptp"]], source: "/n/10-b.conf", orderKey: "10-b.conf"),
            NetworkConfiguration(name: "a", cniVersion: .v100, plugins: [["type": "ptp"]], source: "/n/20-a.conf", orderKey: "20-a.conf"),
        ] + NetworkConfigurations.builtIn
        let chosen = try NetworkSelection.parse(["a:K=V,b"]).resolve(configs)
        #expect(chosen.map(\.config.name) == ["b", "a"])
        #expect(chosen.map(\.args) == [nil, "K=V"])
        let all = try NetworkSelection.parse(["all"]).resolve(configs)
        #expect(all.map(\.config.name) == ["b", "a", "default"])
        #expect(throws: NetworkError.self) { try NetworkSelection.parse(["a,nope,nada"]).resolve(configs) }
        do {
            _ = try NetworkSelection.parse(["a,nope,nada"]).resolve(configs)
        } catch {
            #expect(error.message.contains("networks not found: nope, nada"))
        }
        #expect(try NetworkSelection.host.resolve(configs).isEmpty)
    }
}

@Suite struct VersionTests {
    @Test func parsesAndOrders() {
        #expect(CNIVersion("1.1.0") == .v110)
        #expect(CNIVersion("0.3") == .v030)
        #expect(CNIVersion("1.x") == nil)
        #expect(CNIVersion("") == nil)
        #expect(CNIVersion("1.0.0.0") == nil)
        #expect(CNIVersion.v031 < .v040)
        #expect(CNIVersion.v100 > .v040)
    }

    @Test func picksTheConfigVersionWhenEveryoneSpeaksIt() throws {
        let version = try CNIVersion.negotiate(config: .v040, plugins: [("bridge", [.v031, .v040, .v100]), ("portmap", [.v040, .v100])])
        #expect(version == .v040)
    }

    @Test func fallsBackToTheHighestCommonVersionBelowTheConfig() throws {
        // Debian's plugins (1.1.1) stop at 1.0.0; a 1.1.0 configuration runs at 1.0.0 with them.
        #expect(try CNIVersion.negotiate(config: .v110, plugins: [("bridge", [.v010, .v020, .v030, .v031, .v040, .v100])]) == .v100)
        #expect(try CNIVersion.negotiate(config: .v040, plugins: [("old", CNIVersion.legacyPluginVersions)]) == .v020)
        // Never above the configuration's own version.
        #expect(try CNIVersion.negotiate(config: .v031, plugins: [("new", [.v031, .v100, .v110])]) == .v031)
    }

    @Test func failsWithoutACommonVersion() {
        #expect {
            _ = try CNIVersion.negotiate(config: .v020, plugins: [("future", [.v100, .v110])])
        } throws: { error in
            guard let error = error as? NetworkError else { return false }
            return error.kind == .incompatibleVersion && error.message.contains("future speaks 1.0.0, 1.1.0")
        }
    }

    @Test func featuresByVersion() {
        #expect(CNIVersion.v020.hasLegacyResult && !CNIVersion.v030.hasLegacyResult)
        #expect(!CNIVersion.v031.supportsCheck && CNIVersion.v040.supportsCheck)
        #expect(!CNIVersion.v100.supportsGCAndStatus && CNIVersion.v110.supportsGCAndStatus)
    }
}

@Suite struct ResultTests {
    func parse(_ text: String) throws -> CNIResult {
        try CNIResult(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)))
    }

    @Test(arguments: ["0.1.0", "0.2.0"])
    func legacyResults(version: String) throws {
        let result = try parse(#"{"cniVersion":"\#(version)","ip4":{"ip":"172.16.28.2/24","gateway":"172.16.28.1","routes":[{"dst":"0.0.0.0/0"}]},"ip6":{"ip":"fd00::2/64"},"dns":{"nameservers":["10.0.0.53"],"search":["example.com"]}}"#)
        #expect(result.ips.map(\.address) == ["172.16.28.2/24", "fd00::2/64"])
        #expect(result.ips[0].gateway == "172.16.28.1")
        #expect(result.routes == [CNIResult.Route(destination: "0.0.0.0/0", gateway: nil)])
        #expect(result.dns.nameservers == ["10.0.0.53"])
        #expect(result.dns.search == ["example.com"])
        #expect(result.addresses(onInterface: "eth0") == ["172.16.28.2/24", "fd00::2/64"])
    }

    @Test(arguments: ["0.3.0", "0.3.1", "0.4.0"])
    func versionedIPResults(version: String) throws {
        let result = try parse(#"{"cniVersion":"\#(version)","interfaces":[{"name":"rkt0","mac":"aa:bb:cc:dd:ee:ff"},{"name":"veth1"},{"name":"eth0","sandbox":"/var/run/netns/x"}],"ips":[{"version":"4","address":"10.1.0.5/16","gateway":"10.1.0.1","interface":2}],"routes":[{"dst":"0.0.0.0/0","gw":"10.1.0.1"}],"dns":{}}"#)
        #expect(result.interfaces.map(\.name) == ["rkt0", "veth1", "eth0"])
        #expect(result.interfaces[2].sandbox == "/var/run/netns/x")
        #expect(result.addresses(onInterface: "eth0") == ["10.1.0.5/16"])
        #expect(result.addresses(onInterface: "eth1") == [])
        #expect(result.routes[0].gateway == "10.1.0.1")
        #expect(result.dns.isEmpty)
    }

    @Test(arguments: ["1.0.0", "1.1.0"])
    func currentResults(version: String) throws {
        let result = try parse(#"{"cniVersion":"\#(version)","interfaces":[{"name":"eth1","sandbox":"/n"}],"ips":[{"address":"fd00::5/64","interface":0},{"address":"10.2.0.5/24"}],"dns":{"nameservers":["1.1.1.1"],"domain":"pod.local","options":["ndots:3"]}}"#)
        #expect(result.addresses(onInterface: "eth1") == ["fd00::5/64", "10.2.0.5/24"])
        #expect(result.ips[0].isIPv6)
        #expect(result.dns.domain == "pod.local")
        #expect(result.dns.options == ["ndots:3"])
        #expect(result.raw["cniVersion"]?.stringValue == version)
    }

    @Test func errorObjects() throws {
        let value = try JSONDecoder().decode(JSONValue.self, from: Data(#"{"cniVersion":"1.0.0","code":7,"msg":"invalid network config","details":"bridge: missing name"}"#.utf8))
        let error = try #require(CNIErrorObject(value))
        #expect(error.code == 7)
        #expect(error.description == "invalid network config: bridge: missing name")
        #expect(CNIErrorObject(["msg": "no code"]) == nil)
        #expect(throws: NetworkError.self) { try CNIResult("a string") }
    }

    @Test func recordSummariesAsRktList() {
        var record = PodNetworkRecord(netns: "/var/run/netns/rkt-x")
        record.networks = [
            .init(name: "default", interface: "eth0", ips: ["172.16.28.2/24"], type: "cni-bridge", plugins: [], cniVersion: "1.1.0", config: nil, result: [:]),
            .init(name: "lan", interface: "eth1", ips: ["10.1.0.5/16", "fd00::5/64"], type: "bridge", plugins: [], cniVersion: "1.0.0", config: nil, result: [:]),
            .init(name: "pending", interface: "eth2", ips: [], type: "ptp", plugins: [], cniVersion: "1.0.0", config: nil, result: nil),
        ]
        #expect(record.summaries == ["default:ip4=172.16.28.2", "lan:ip4=10.1.0.5,ip6=fd00::5"])
    }

    @Test func portForwardRules() {
        let forward = PodNetworkRecord.PortForward(name: "http", protocol: "tcp", hostIP: "127.0.0.1", hostPort: 8080, podIP: "172.16.28.2", podPort: 80)
        let rules = PortForwarding.rules(forward)
        #expect(rules[0].arguments == ["-p", "tcp", "-d", "127.0.0.1", "--dport", "8080", "-j", "DNAT", "--to-destination", "172.16.28.2:80"])
        #expect(rules[1].arguments == ["-s", "127.0.0.1", "-d", "172.16.28.2", "-p", "tcp", "--dport", "80", "-j", "MASQUERADE"])
        let forwarding = PortForwarding(podUUID: "6f1a2c3e-8b7d-4e1f-9a2b-3c4d5e6f7a8b")
        #expect(forwarding.dnatChain == "RKT-PFWD-DNAT-6f1a2c3e")
        #expect(forwarding.snatChain.count <= 28)
    }

    @Test func searchPathOrder() {
        let path = PluginLocator.standardSearchPath(localConfig: "/etc/rkt", stage1Rootfs: "/pod/stage1/rootfs",
                                                    environment: ["CNI_PATH": "/a:/b::/usr/lib/cni"], binaryDirectory: "/usr/local/bin")
        #expect(path == ["/etc/rkt/net.d", "/usr/lib/rkt/plugins/net", "/pod/stage1/rootfs/usr/lib/rkt/plugins/net", "/a", "/b", "/usr/lib/cni", "/opt/cni/bin", "/usr/local/bin"])
    }
}

/// A directory under /tmp removed with everything in it when the value goes away.
final class TemporaryDirectory {
    let path: String
    init() throws {
        path = NSTemporaryDirectory() + "rkt-net-test-" + UUID().uuidString.lowercased()
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(atPath: path) }
}
