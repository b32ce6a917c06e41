#if canImport(Glibc)
import Glibc
#endif
import Netlink

/// The verbs. Each runs synchronously on the main thread: the plugin enters the container's
/// network namespace only to open a netlink socket there, and configures both sides through
/// two sockets, so the process never runs in the wrong namespace.
struct BridgePlugin {
    let environment: CallEnvironment
    let stdin: [UInt8]

    static func netlinkFailure(_ error: NetlinkError) -> PluginError {
        PluginError(PluginError.internalFailure, error.description)
    }

    /// Runs netlink calls, reporting their failure as a CNI error.
    func netlink<T>(_ body: () throws(NetlinkError) -> T) throws(PluginError) -> T {
        do throws(NetlinkError) { return try body() } catch { throw Self.netlinkFailure(error) }
    }

    // MARK: ADD

    func add(_ config: BridgeConfig) throws(PluginError) -> JSONValue {
        try environment.require(["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"])
        let namespaceFD = open(environment.netns, O_RDONLY | O_CLOEXEC)
        guard namespaceFD >= 0 else {
            throw PluginError(PluginError.unknownContainer, "failed to open netns \"\(environment.netns)\": \(String(cString: strerror(errno)))")
        }
        defer { close(namespaceFD) }
        let host = try netlink { () throws(NetlinkError) in try NetlinkSocket() }
        let bridge = try netlink { () throws(NetlinkError) in try ensureBridge(host, config) }
        let hostVeth = try netlink { () throws(NetlinkError) in try createVeth(host, config, bridge: bridge, namespaceFD: namespaceFD) }
        var ipamResult: CNIResult
        do throws(PluginError) {
            if config.hairpinMode { try netlink { () throws(NetlinkError) in try host.setHairpin(index: hostVeth.index, true) } }
            ipamResult = try allocateAddresses(config)
        } catch {
            try? host.deleteLink(index: hostVeth.index)
            throw error
        }
        do throws(PluginError) {
            return try configure(config, host: host, bridge: bridge, hostVeth: hostVeth, namespaceFD: namespaceFD, ipam: &ipamResult)
        } catch {
            // Leave nothing behind: the runtime may not call DEL after a failed ADD.
            try? host.deleteLink(index: hostVeth.index)
            try? releaseAddresses(config)
            throw error
        }
    }

    /// The bridge, created (up, with the configured MTU) if missing, brought up if down.
    private func ensureBridge(_ host: NetlinkSocket, _ config: BridgeConfig) throws(NetlinkError) -> Link {
        var bridge = try host.link(named: config.bridge)
        if bridge == nil {
            do throws(NetlinkError) {
                try host.createBridge(name: config.bridge, mtu: config.mtu, up: true)
            } catch {
                if error.errno != EEXIST { throw error }  // created concurrently by another ADD: use it
            }
            bridge = try host.link(named: config.bridge)
        }
        guard let bridge else { throw NetlinkError("get bridge \(config.bridge)", errno: ENODEV) }
        guard bridge.kind == "bridge" else { throw NetlinkError("use \(config.bridge)", errno: 0, detail: "it exists and is not a bridge (\(bridge.kind ?? "no kind"))") }
        if !bridge.isUp { try host.setUp(index: bridge.index) }
        if config.promiscMode && !bridge.isPromiscuous { try host.setPromiscuous(index: bridge.index, true) }
        return bridge
    }

    /// One netlink message creates both ends: the host end enslaved to the bridge and up, the
    /// container end named CNI_IFNAME directly in the container's namespace (brought up later:
    /// the kernel opens a veth peer before pairing it, so "up" on the peer fails with ENOTCONN).
    private func createVeth(_ host: NetlinkSocket, _ config: BridgeConfig, bridge: Link, namespaceFD: Int32) throws(NetlinkError) -> Link {
        for _ in 0..<4 {
            let name = Link.randomName(prefix: "veth")
            do throws(NetlinkError) {
                try host.createVeth(name: name, peer: VethPeer(name: environment.ifname, namespaceFD: namespaceFD), mtu: config.mtu, masterIndex: bridge.index, up: true)
            } catch {
                guard error.errno == EEXIST else { throw error }
                if try host.link(named: name) != nil { continue }  // our random host name clashed: try another
                throw NetlinkError("create veth in the container", errno: EEXIST, detail: "container veth name provided (\(environment.ifname)) already exists")
            }
            guard let link = try host.link(named: name) else { throw NetlinkError("get veth \(name)", errno: ENODEV) }
            return link
        }
        throw NetlinkError("create veth", errno: EEXIST, detail: "no free host-side veth name")
    }

    private func configure(_ config: BridgeConfig, host: NetlinkSocket, bridge: Link, hostVeth: Link, namespaceFD: Int32, ipam: inout CNIResult) throws(PluginError) -> JSONValue {
        var previous = CNIResult()
        if let prevResult = config.prevResult { previous = try CNIResult.parse(prevResult) }
        // Gateways: IPAM's, or the subnet's first address (as the reference computes it).
        for index in ipam.ips.indices where ipam.ips[index].gateway == nil && config.isGateway {
            ipam.ips[index].gateway = ipam.ips[index].address.canonical.network.next()
        }
        var routes = ipam.routes
        if config.isDefaultGateway {
            for ip in ipam.ips {
                guard let gateway = ip.gateway else { continue }
                let defaultRoute = IPPrefix(address: IPAddress(bytes: [UInt8](repeating: 0, count: gateway.bytes.count))!, length: 0)!
                if !routes.contains(where: { $0.destination == defaultRoute }) {
                    routes.append(CNIResult.RouteConfig(destination: defaultRoute, gateway: gateway))
                }
            }
        }
        let ips = ipam.ips
        let ipamDNS = ipam.dns
        let output = try netlink { () throws(NetlinkError) -> JSONValue in
            let container = try NetlinkSocket(namespaceFD: namespaceFD)
            guard let containerLink = try container.link(named: environment.ifname) else {
                throw NetlinkError("get \(environment.ifname) in the container", errno: ENODEV)
            }
            try container.setUp(index: containerLink.index)
            for ip in ips {
                try container.addAddress(index: containerLink.index, ip.address, skipDAD: true)
            }
            for route in routes {
                let isIPv4 = route.destination.address.isIPv4
                let gateway = route.gateway ?? ips.first { $0.address.address.isIPv4 == isIPv4 }?.gateway
                try container.addRoute(Route(destination: route.destination, gateway: gateway, index: containerLink.index))
            }
            if config.isGateway {
                try configureGateway(host, bridge: bridge, ips: ips)
            }
            let bridgeNow = try host.link(index: bridge.index) ?? bridge  // its MAC may change when the first port joins

            var result = CNIResult()
            let base = previous.interfaces.count
            result.interfaces = previous.interfaces + [
                CNIResult.Interface(name: bridgeNow.name, mac: bridgeNow.hardwareAddressText, mtu: Int(bridgeNow.mtu), sandbox: nil),
                CNIResult.Interface(name: hostVeth.name, mac: hostVeth.hardwareAddressText, mtu: Int(hostVeth.mtu), sandbox: nil),
                CNIResult.Interface(name: containerLink.name, mac: containerLink.hardwareAddressText, mtu: Int(containerLink.mtu), sandbox: environment.netns),
            ]
            result.ips = previous.ips + ips.map { CNIResult.IPConfig(address: $0.address, gateway: $0.gateway, interface: base + 2) }
            result.routes = previous.routes + routes
            result.dns = config.raw["dns"] ?? ipamDNS ?? previous.dns
            return result.json(cniVersion: config.cniVersion)
        }
        if config.ipMasq {
            try IPMasquerade.setUp(addresses: ips.map(\.address), network: config.name, containerID: environment.containerID, environment: environment.all)
        }
        return output
    }

    /// Puts each gateway address on the bridge (once) and turns on forwarding.
    private func configureGateway(_ host: NetlinkSocket, bridge: Link, ips: [CNIResult.IPConfig]) throws(NetlinkError) {
        let existing = try host.addresses(index: bridge.index)
        for ip in ips {
            guard let gateway = ip.gateway, let prefix = IPPrefix(address: gateway, length: ip.address.length) else { continue }
            if existing.contains(where: { $0.prefix.address == gateway }) { continue }
            do throws(NetlinkError) {
                try host.addAddress(index: bridge.index, prefix, skipDAD: true)
            } catch {
                if error.errno != EEXIST { throw error }  // added concurrently
            }
        }
        if ips.contains(where: { $0.address.address.isIPv4 }) { enableForwarding("/proc/sys/net/ipv4/ip_forward") }
        if ips.contains(where: { !$0.address.address.isIPv4 }) { enableForwarding("/proc/sys/net/ipv6/conf/all/forwarding") }
    }

    private func enableForwarding(_ path: String) {
        if let current = try? Files.read(path), current.first == UInt8(ascii: "1") { return }
        try? Files.write(path, contents: "1")
    }

    // MARK: DEL

    func delete(_ config: BridgeConfig) throws(PluginError) {
        try environment.require(["CNI_CONTAINERID", "CNI_IFNAME"])
        try releaseAddresses(config)
        if !environment.netns.isEmpty {
            let namespaceFD = open(environment.netns, O_RDONLY | O_CLOEXEC)
            if namespaceFD >= 0 {
                defer { close(namespaceFD) }
                do throws(NetlinkError) {
                    let container = try NetlinkSocket(namespaceFD: namespaceFD)
                    // Deleting one end of a veth deletes the other, on the bridge.
                    if let link = try container.link(named: environment.ifname) {
                        do throws(NetlinkError) { try container.deleteLink(index: link.index) } catch {
                            if error.errno != ENODEV { throw error }
                        }
                    }
                } catch {
                    throw Self.netlinkFailure(error)
                }
            }
            // A namespace that is already gone took its interface with it: nothing to do there.
        }
        if config.ipMasq {
            try IPMasquerade.tearDown(network: config.name, containerID: environment.containerID, environment: environment.all)
        }
    }

    // MARK: CHECK

    func check(_ config: BridgeConfig) throws(PluginError) {
        try environment.require(["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"])
        guard !["0.1.0", "0.2.0", "0.3.0", "0.3.1"].contains(config.cniVersion) else {
            throw PluginError(PluginError.incompatibleVersion, "config version \(config.cniVersion) does not allow CHECK")
        }
        guard let prevResultJSON = config.prevResult else { throw PluginError(PluginError.invalidConfig, "required prevResult missing") }
        let previous = try CNIResult.parse(prevResultJSON)
        try checkAddresses(config)
        let host = try netlink { () throws(NetlinkError) in try NetlinkSocket() }
        do {
            guard let bridge = try netlink({ () throws(NetlinkError) in try host.link(named: config.bridge) }), bridge.kind == "bridge" else {
                throw PluginError(PluginError.internalFailure, "bridge \(config.bridge) not found")
            }
            guard let containerIndex = previous.interfaces.firstIndex(where: { $0.name == environment.ifname && $0.sandbox == environment.netns }) else {
                throw PluginError(PluginError.internalFailure, "prevResult has no interface \(environment.ifname) in \(environment.netns)")
            }
            for interface in previous.interfaces where interface.sandbox == nil && interface.name != config.bridge {
                guard let hostVeth = try netlink({ () throws(NetlinkError) in try host.link(named: interface.name) }) else {
                    throw PluginError(PluginError.internalFailure, "host interface \(interface.name) not found")
                }
                guard hostVeth.masterIndex == bridge.index else {
                    throw PluginError(PluginError.internalFailure, "host interface \(interface.name) is not attached to bridge \(config.bridge)")
                }
            }
            let namespaceFD = open(environment.netns, O_RDONLY | O_CLOEXEC)
            guard namespaceFD >= 0 else { throw PluginError(PluginError.unknownContainer, "failed to open netns \"\(environment.netns)\"") }
            defer { close(namespaceFD) }
            let container = try netlink { () throws(NetlinkError) in try NetlinkSocket(namespaceFD: namespaceFD) }
            guard let link = try netlink({ () throws(NetlinkError) in try container.link(named: environment.ifname) }) else {
                throw PluginError(PluginError.internalFailure, "interface \(environment.ifname) not found in \(environment.netns)")
            }
            if let mac = previous.interfaces[containerIndex].mac, mac.lowercased() != link.hardwareAddressText {
                throw PluginError(PluginError.internalFailure, "interface \(environment.ifname) has MAC \(link.hardwareAddressText), expected \(mac)")
            }
            let present = try netlink { () throws(NetlinkError) in try container.addresses(index: link.index).map(\.prefix) }
            for ip in previous.ips where ip.interface == containerIndex {
                guard present.contains(ip.address) else {
                    throw PluginError(PluginError.internalFailure, "address \(ip.address) not found on \(environment.ifname)")
                }
            }
        }
    }

    // MARK: GC, STATUS

    func collectGarbage(_ config: BridgeConfig) throws(PluginError) {
        if config.ipMasq, let valid = config.validAttachments {
            try IPMasquerade.collectGarbage(network: config.name, keep: Set(valid.map(\.containerID)), environment: environment.all)
        }
        if isBuiltInIPAM(config) {
            guard let valid = config.validAttachments else { return }  // without the list, nothing is known stale
            try HostLocalIPAM(ipam: config.ipam ?? .null, network: config.name).collectGarbage(valid: valid)
        } else if config.ipamType != nil {
            _ = try delegate(config, command: "GC")
        }
    }

    func status(_ config: BridgeConfig) throws(PluginError) {
        if isBuiltInIPAM(config) {
            _ = try HostLocalIPAM(ipam: config.ipam ?? .null, network: config.name)
        } else if let type = config.ipamType, ChildProcess.find(type, in: environment.path) == nil {
            throw PluginError(PluginError.notAvailable, "IPAM plugin \(type) not found in CNI_PATH")
        }
    }

    // MARK: IPAM

    private func isBuiltInIPAM(_ config: BridgeConfig) -> Bool {
        config.ipamType == "host-local" || config.ipamType == "cni-bridge"
    }

    private func allocateAddresses(_ config: BridgeConfig) throws(PluginError) -> CNIResult {
        guard let type = config.ipamType else { return CNIResult() }  // L2 only: no addresses
        if isBuiltInIPAM(config) {
            _ = type
            return try HostLocalIPAM(ipam: config.ipam ?? .null, network: config.name)
                .allocate(containerID: environment.containerID, ifname: environment.ifname, requested: try requestedAddresses(config))
        }
        guard let output = try delegate(config, command: "ADD") else { return CNIResult() }
        return try CNIResult.parse(output)
    }

    /// Addresses asked for as host-local accepts them: CNI_ARGS `IP=a[,b]`, `args.cni.ips` and
    /// runtimeConfig `ips` (each "address" or "address/prefix").
    private func requestedAddresses(_ config: BridgeConfig) throws(PluginError) -> [IPAddress] {
        var texts: [String] = []
        for pair in environment.args.split(separator: ";") where pair.hasPrefix("IP=") {
            texts += pair.dropFirst(3).split(separator: ",").map(String.init)
        }
        for list in [config.raw["args"]?["cni"]?["ips"], config.raw["runtimeConfig"]?["ips"]] {
            texts += (list?.array ?? []).compactMap(\.string)
        }
        var addresses: [IPAddress] = []
        for text in texts {
            let bare = text.split(separator: "/").first.map(String.init) ?? text
            guard let address = IPAddress(bare.trimmingWhitespace) else { throw PluginError(PluginError.invalidConfig, "invalid requested IP address \(text)") }
            if !addresses.contains(address) { addresses.append(address) }
        }
        return addresses
    }

    private func releaseAddresses(_ config: BridgeConfig) throws(PluginError) {
        guard config.ipamType != nil else { return }
        if isBuiltInIPAM(config) {
            try HostLocalIPAM(ipam: config.ipam ?? .null, network: config.name).release(containerID: environment.containerID, ifname: environment.ifname)
        } else {
            _ = try delegate(config, command: "DEL")
        }
    }

    private func checkAddresses(_ config: BridgeConfig) throws(PluginError) {
        guard config.ipamType != nil else { return }
        if isBuiltInIPAM(config) {
            let reserved = try HostLocalIPAM(ipam: config.ipam ?? .null, network: config.name).reserved(containerID: environment.containerID, ifname: environment.ifname)
            if reserved.isEmpty { throw PluginError(PluginError.internalFailure, "no IP address reserved for \(environment.containerID)/\(environment.ifname)") }
        } else {
            _ = try delegate(config, command: "CHECK")
        }
    }

    /// CNI delegation: exec the IPAM plugin from CNI_PATH with our stdin and environment
    /// (CNI_COMMAND set to `command`). Returns its parsed stdout (nil when empty); its error
    /// JSON becomes ours.
    private func delegate(_ config: BridgeConfig, command: String) throws(PluginError) -> JSONValue? {
        guard let type = config.ipamType else { return nil }
        guard !type.contains("/"), let executable = ChildProcess.find(type, in: environment.path) else {
            throw PluginError(PluginError.invalidConfig, "failed to find plugin \"\(type)\" in path [\(environment.path)]")
        }
        var childEnvironment = environment.all
        childEnvironment["CNI_COMMAND"] = command
        let output = try ChildProcess.run(executable, arguments: [], environment: childEnvironment, input: stdin)
        let parsed = output.stdout.isEmpty ? nil : try? JSONValue.parse(output.stdout)
        guard output.status == 0 else {
            if let parsed, let code = parsed["code"]?.int {
                throw PluginError(code, parsed["msg"]?.string ?? "\(type) failed", details: parsed["details"]?.string)
            }
            throw PluginError(PluginError.internalFailure, "\(type) \(command) failed with status \(output.status)", details: String(decoding: output.stdout, as: UTF8.self))
        }
        if command == "ADD" && parsed == nil {
            throw PluginError(PluginError.decodingFailure, "\(type) ADD returned no result")
        }
        return parsed
    }
}
