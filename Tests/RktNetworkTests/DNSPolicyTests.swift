import Testing
import Stage1Protocol
@testable import RktNetwork

@Suite struct DNSPolicyTests {
    let cni = CNIResult.DNS(nameservers: ["10.0.0.53"], domain: "pod.local", search: ["svc.local"], options: ["ndots:5"])

    @Test func flagsWinOverNetworkResults() throws {
        let config = try DNSPolicy.resolvConf(servers: ["192.0.2.53", "2001:db8::53"], search: ["example.com"], options: ["ndots:2"], domain: "ex",
                                              fromNetworks: cni)
        #expect(config == DNSConfig(mode: .stage0, servers: ["192.0.2.53", "2001:db8::53"], search: ["example.com"], options: ["ndots:2"], domain: "ex"))
        // --dns-search alone still generates the file (without servers).
        #expect(try DNSPolicy.resolvConf(servers: [], search: ["a"], options: [], domain: nil, fromNetworks: cni).servers == [])
    }

    @Test func networkDNSWhenNoFlags() throws {
        let config = try DNSPolicy.resolvConf(servers: [], search: [], options: [], domain: nil, fromNetworks: cni)
        #expect(config == DNSConfig(mode: .stage0, servers: ["10.0.0.53"], search: ["svc.local"], options: ["ndots:5"], domain: "pod.local"))
        #expect(try DNSPolicy.resolvConf(servers: [], search: [], options: [], domain: nil, fromNetworks: CNIResult.DNS()) == DNSConfig())
        #expect(try DNSPolicy.resolvConf(servers: [], search: [], options: [], domain: nil, fromNetworks: nil) == DNSConfig())
    }

    @Test func hostAndNoneStandAlone() throws {
        #expect(try DNSPolicy.resolvConf(servers: ["host"], search: [], options: [], domain: nil, fromNetworks: cni).mode == .host)
        #expect(try DNSPolicy.resolvConf(servers: ["none"], search: [], options: [], domain: nil, fromNetworks: cni).mode == .none)
        #expect(throws: NetworkError.self) { try DNSPolicy.resolvConf(servers: ["host", "1.1.1.1"], search: [], options: [], domain: nil, fromNetworks: nil) }
        #expect(throws: NetworkError.self) { try DNSPolicy.resolvConf(servers: ["none"], search: ["x"], options: [], domain: nil, fromNetworks: nil) }
        #expect(throws: NetworkError.self) { try DNSPolicy.resolvConf(servers: ["dns.example"], search: [], options: [], domain: nil, fromNetworks: nil) }
    }

    @Test func hostsEntriesMergeByIP() throws {
        let (mode, entries) = try DNSPolicy.hosts(["198.51.100.0=host1,198.51.100.9=host2", "198.51.100.0=host3", "198.51.100.0=host1", "fd00::1=six"])
        #expect(mode == .stage0)
        #expect(entries == [HostsEntry(ip: "198.51.100.0", hostnames: ["host1", "host3"]), HostsEntry(ip: "198.51.100.9", hostnames: ["host2"]),
                            HostsEntry(ip: "fd00::1", hostnames: ["six"])])
        #expect(try DNSPolicy.hosts(["host"]).mode == .host)
        #expect(try DNSPolicy.hosts([]).mode == .default)
        for bad in [["host", "1.2.3.4=a"], ["1.2.3.4"], ["x=a"], ["1.2.3.4="], ["1.2.3.4=a b"], ["1.2.3.4=a,"]] {
            #expect(throws: NetworkError.self) { try DNSPolicy.hosts(bad) }
        }
    }
}
