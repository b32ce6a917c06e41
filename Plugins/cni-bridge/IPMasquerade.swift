import Netlink

/// Masquerading for a container's addresses, laid out as the reference plugins do: a chain
/// `CNI-<24 hex of sha512(network + containerID)>` in the nat table that ACCEPTs the container's
/// own network and MASQUERADEs the rest (not multicast), a POSTROUTING jump from the container's
/// address, all commented `name: "<network>" id: "<containerID>"`. Each family is one
/// `iptables-restore --noflush` call (one exec, one kernel transaction) instead of one per rule.
enum IPMasquerade {
    static func chainName(network: String, containerID: String) -> String {
        "CNI-" + SHA512.hex(SHA512.hash(Array((network + containerID).utf8))).prefix(24)
    }

    static func comment(network: String, containerID: String) -> String {
        "name: \(goQuoted(network)) id: \(goQuoted(containerID))"
    }

    static func setUp(addresses: [IPPrefix], network: String, containerID: String, environment: [String: String]) throws(PluginError) {
        let chain = chainName(network: network, containerID: containerID)
        let quotedComment = restoreQuoted(comment(network: network, containerID: containerID))
        for isIPv4 in [true, false] {
            let family = addresses.filter { $0.address.isIPv4 == isIPv4 }
            guard !family.isEmpty else { continue }
            var script = "*nat\n:\(chain) - [0:0]\n"  // declares the chain, or flushes it if it exists
            for prefix in family {
                script += "-A \(chain) -d \(prefix.canonical) -j ACCEPT -m comment --comment \(quotedComment)\n"
            }
            script += "-A \(chain) ! -d \(isIPv4 ? "224.0.0.0/4" : "ff00::/8") -j MASQUERADE -m comment --comment \(quotedComment)\n"
            for prefix in family {
                script += "-A POSTROUTING -s \(prefix.address)/\(prefix.address.bitCount) -j \(chain) -m comment --comment \(quotedComment)\n"
            }
            script += "COMMIT\n"
            try restore(script, isIPv4: isIPv4, environment: environment)
        }
    }

    /// Removes every POSTROUTING jump to the container's chain and the chain itself, in both
    /// families. Needs no addresses, so it works after the namespace is gone; a missing chain is fine.
    static func tearDown(network: String, containerID: String, environment: [String: String]) throws(PluginError) {
        let chain = chainName(network: network, containerID: containerID)
        try removeChains(environment: environment) { _ in [chain] }
    }

    /// GC: removes the chains of this network whose container ID is not in `keep`. Chains are
    /// recognised by their comment and confirmed by recomputing their name, so chains of other
    /// networks or plugins (portmap's CNI-HOSTPORT-*, say) are never touched.
    static func collectGarbage(network: String, keep: Set<String>, environment: [String: String]) throws(PluginError) {
        // `-S` prints the comment as --comment "name: \"<network>\" id: \"<id>\"".
        let marker = "--comment \"" + restoreEscaped("name: \(goQuoted(network)) id: ")
        try removeChains(environment: environment) { listing in
            var stale: Set<String> = []
            for line in listing where line.hasPrefix("-A CNI-") {
                guard let range = line.firstRange(of: marker) else { continue }
                // The rest is: \"<id>\"" ... ; take the ID between the escaped quotes.
                let rest = line[range.upperBound...]
                guard rest.hasPrefix("\\\""), let end = rest.dropFirst(2).firstRange(of: "\\\"") else { continue }
                let containerID = String(rest.dropFirst(2)[..<end.lowerBound])
                let chain = String(line.dropFirst(3).prefix { $0 != " " })
                if !keep.contains(containerID) && chain == chainName(network: network, containerID: containerID) { stale.insert(chain) }
            }
            return stale
        }
    }

    /// Lists the nat table of each family, asks `select` which chains to remove, and removes them
    /// with their POSTROUTING jumps in one iptables-restore per family.
    private static func removeChains(environment: [String: String], select: ([Substring]) -> Set<String>) throws(PluginError) {
        for isIPv4 in [true, false] {
            guard let tool = findTool(isIPv4 ? "iptables" : "ip6tables", environment) else { continue }
            let listing = try ChildProcess.run(tool, arguments: ["-w", "-t", "nat", "-S"], environment: environment)
            guard listing.status == 0 else { continue }  // no nat table (module absent): nothing of ours there
            let lines = String(decoding: listing.stdout, as: UTF8.self).split(separator: "\n")
            let chains = select(lines)
            guard !chains.isEmpty else { continue }
            var script = "*nat\n"
            var existing: [String] = []
            for line in lines {
                if line.hasPrefix("-N "), chains.contains(String(line.dropFirst(3))) { existing.append(String(line.dropFirst(3))) }
                if line.hasPrefix("-A POSTROUTING "), let target = line.split(separator: " ").last, chains.contains(String(target)), line.hasSuffix(" -j \(target)") {
                    script += "-D" + line.dropFirst(2) + "\n"
                }
            }
            for chain in existing { script += "-F \(chain)\n-X \(chain)\n" }
            guard script != "*nat\n" else { continue }
            try restore(script + "COMMIT\n", isIPv4: isIPv4, environment: environment)
        }
    }

    private static func restore(_ script: String, isIPv4: Bool, environment: [String: String]) throws(PluginError) {
        let name = isIPv4 ? "iptables-restore" : "ip6tables-restore"
        guard let tool = findTool(name, environment) else { throw PluginError(PluginError.internalFailure, "ipMasq: \(name) not found") }
        let output = try ChildProcess.run(tool, arguments: ["-w", "--noflush"], environment: environment, input: Array(script.utf8))
        guard output.status == 0 else {
            throw PluginError(PluginError.internalFailure, "ipMasq: \(name) failed with status \(output.status)", details: script)
        }
    }

    private static func findTool(_ name: String, _ environment: [String: String]) -> String? {
        ChildProcess.find(name, in: (environment["PATH"] ?? "") + ":/usr/sbin:/sbin:/usr/bin:/bin")
    }

    /// Go's %q for the plain strings network names and container IDs are.
    static func goQuoted(_ text: String) -> String {
        "\"" + text.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"") + "\""
    }

    /// A double-quoted iptables-restore argument.
    static func restoreQuoted(_ text: String) -> String {
        "\"" + restoreEscaped(text) + "\""
    }

    static func restoreEscaped(_ text: String) -> String {
        text.replacingAll("\\", with: "\\\\").replacingAll("\"", with: "\\\"")
    }
}

extension String {
    func replacingAll(_ target: Character, with replacement: String) -> String {
        var result = ""
        for character in self {
            if character == target { result += replacement } else { result.append(character) }
        }
        return result
    }
}
