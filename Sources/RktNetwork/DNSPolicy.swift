#if canImport(Glibc)
import Glibc
#endif
import Stage1Protocol

/// rkt's rules for the apps' `/etc/resolv.conf` and `/etc/hosts` (`run.dns`, `run.hostsMode`,
/// `run.hostsEntries` of the stage1 request).
public enum DNSPolicy {
    /// `--dns=host` or `--dns=none`, each alone; any of `--dns IP`, `--dns-search`, `--dns-opt`,
    /// `--dns-domain` → a generated resolv.conf (mode `stage0`); else the first CNI result with DNS
    /// (`fromNetworks`); else the stage1's default.
    public static func resolvConf(servers: [String], search: [String], options: [String], domain: String?,
                                  fromNetworks cni: CNIResult.DNS?) throws(NetworkError) -> DNSConfig {
        let others = !search.isEmpty || !options.isEmpty || domain != nil
        for special in ["host", "none"] where servers.contains(special) {
            guard servers.count == 1, !others else {
                throw NetworkError(.invalidArgument, step: "--dns", "--dns=\(special) cannot be combined with other DNS flags")
            }
            return DNSConfig(mode: special == "host" ? .host : .none)
        }
        for server in servers where !isIPAddress(server) {
            throw NetworkError(.invalidArgument, step: "--dns", "--dns \(server) is not an IP address (nor host or none)")
        }
        if !servers.isEmpty || others {
            return DNSConfig(mode: .stage0, servers: servers, search: search, options: options, domain: domain)
        }
        if let cni, !cni.isEmpty {
            return DNSConfig(mode: .stage0, servers: cni.nameservers, search: cni.search, options: cni.options, domain: cni.domain)
        }
        return DNSConfig()
    }

    /// `--hosts-entry=host` alone, or `IP=HOST[,IP=HOST…]` (repeatable) merged by IP in first-seen
    /// order, as rkt writes them (`198.51.100.1 a b`).
    public static func hosts(_ values: [String]) throws(NetworkError) -> (mode: HostsMode, entries: [HostsEntry]) {
        if values.isEmpty { return (.default, []) }
        if values.contains("host") {
            guard values.count == 1 else { throw NetworkError(.invalidArgument, step: "--hosts-entry", "host cannot be combined with other entries") }
            return (.host, [])
        }
        var entries: [HostsEntry] = []
        for value in values {
            for item in value.split(separator: ",", omittingEmptySubsequences: false) {
                let pair = item.split(separator: "=", maxSplits: 1).map(String.init)
                guard pair.count == 2, isIPAddress(pair[0]), !pair[1].isEmpty, !pair[1].contains(where: { $0.isWhitespace || $0 == "#" }) else {
                    throw NetworkError(.invalidArgument, step: "--hosts-entry", "\"\(item)\" is not IP=HOSTNAME")
                }
                if let index = entries.firstIndex(where: { $0.ip == pair[0] }) {
                    if !entries[index].hostnames.contains(pair[1]) { entries[index].hostnames.append(pair[1]) }
                } else {
                    entries.append(HostsEntry(ip: pair[0], hostnames: [pair[1]]))
                }
            }
        }
        return (.stage0, entries)
    }

    public static func isIPAddress(_ text: String) -> Bool {
        var v4 = in_addr(), v6 = in6_addr()
        return inet_pton(AF_INET, text, &v4) == 1 || inet_pton(AF_INET6, text, &v6) == 1
    }
}
