#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktOS

/// `--port` forwarding as rkt does it: a DNAT chain per pod in the nat table, jumped to from
/// PREROUTING (other hosts) and OUTPUT (this host, loopback included) for local destinations,
/// and a SNAT chain from POSTROUTING that masquerades loopback-sourced traffic, which the pod
/// could not answer otherwise. `route_localnet` on the host side of the network lets packets
/// from 127.0.0.1 leave loopback at all.
public struct PortForwarding: Sendable {
    public let podUUID: String
    let environment: [String: String]

    public init(podUUID: String, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.podUUID = podUUID
        self.environment = environment
    }

    var shortID: String { String(podUUID.replacingOccurrences(of: "-", with: "").prefix(8)) }
    public var dnatChain: String { "RKT-PFWD-DNAT-" + shortID }
    public var snatChain: String { "RKT-PFWD-SNAT-" + shortID }

    /// The jumps into our chains: (builtin chain, match arguments, our chain).
    var jumps: [(String, [String], String)] {
        [("PREROUTING", ["-m", "addrtype", "--dst-type", "LOCAL"], dnatChain),
         ("OUTPUT", ["-m", "addrtype", "--dst-type", "LOCAL"], dnatChain),
         ("POSTROUTING", [], snatChain)]
    }

    /// The iptables rules (arguments after `-t nat -A <chain>`), for tests and the record.
    static func rules(_ forward: PodNetworkRecord.PortForward) -> [(chain: String, arguments: [String])] {
        var dnat = ["-p", forward.protocol]
        if let hostIP = forward.hostIP { dnat += ["-d", hostIP] }
        dnat += ["--dport", String(forward.hostPort), "-j", "DNAT", "--to-destination", "\(forward.podIP):\(forward.podPort)"]
        let snat = ["-s", "127.0.0.1", "-d", forward.podIP, "-p", forward.protocol, "--dport", String(forward.podPort), "-j", "MASQUERADE"]
        return [("DNAT", dnat), ("SNAT", snat)]
    }

    /// Installs the chains and rules. On failure, what was installed is removed again.
    public func install(_ forwards: [PodNetworkRecord.PortForward], hostInterface: String?) throws(NetworkError) {
        guard !forwards.isEmpty else { return }
        do {
            for chain in [dnatChain, snatChain] { try iptables(["-t", "nat", "-N", chain]) }
            for forward in forwards {
                for rule in Self.rules(forward) {
                    try iptables(["-t", "nat", "-A", rule.chain == "DNAT" ? dnatChain : snatChain] + rule.arguments)
                }
            }
            for (builtin, match, target) in jumps { try iptables(["-t", "nat", "-A", builtin] + match + ["-j", target]) }
        } catch {
            remove()
            throw error
        }
        let sysctl = "/proc/sys/net/ipv4/conf/\(hostInterface ?? "all")/route_localnet"
        // A /proc/sys file is written in place (no temporary file can exist beside it).
        let fd = open(sysctl, O_WRONLY | O_CLOEXEC)
        if fd >= 0 {
            _ = write(fd, "1", 1)
            close(fd)
        }
    }

    /// Removes the jumps and the chains; anything already gone is fine.
    public func remove() {
        for (builtin, match, target) in jumps {
            // A jump added twice (never by us, but by hand) is removed as often as it is found.
            for _ in 0..<8 { if (try? iptables(["-t", "nat", "-D", builtin] + match + ["-j", target])) == nil { break } }
        }
        for chain in [dnatChain, snatChain] {
            _ = try? iptables(["-t", "nat", "-F", chain])
            _ = try? iptables(["-t", "nat", "-X", chain])
        }
    }

    /// Whether the pod's chains exist (for tests and status).
    public func chainsExist() -> Bool {
        (try? iptables(["-t", "nat", "-S", dnatChain])) != nil
    }

    static let searchDirectories = ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]

    func iptables(_ arguments: [String]) throws(NetworkError) {
        let dirs = (environment["PATH"] ?? "").split(separator: ":").map(String.init) + Self.searchDirectories
        guard let executable = dirs.map({ $0 + "/iptables" }).first(where: { FileSystem.isRegularFile($0) }) else {
            throw NetworkError(.firewall, step: "port forwarding", "iptables is not installed")
        }
        let result: Spawn.Result
        // -w: wait for the xtables lock rather than fail when another tool holds it.
        do { result = try Spawn.run(executable, arguments: ["-w"] + arguments, environment: environment, directory: nil) } catch {
            throw .system("iptables", error)
        }
        guard result.status == 0 else {
            throw NetworkError(.firewall, step: "iptables \(arguments.joined(separator: " "))", "exited with status \(result.status)")
        }
    }
}
