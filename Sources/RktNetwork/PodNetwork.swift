#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import RktOS
import SystemPackage
import Stage1Protocol

/// A pod's networking from stage0: its namespace, the CNI networks attached to it, port
/// forwarding, and the record that lets `rkt gc` undo all of it.
public struct PodNetwork: Sendable {
    public let podUUID: String
    public let podDirectory: String
    public let runtime: CNIRuntime
    /// Where namespaces are bound (tests use their own).
    public let netnsDirectory: String
    let logger: Logger

    public init(podUUID: String, podDirectory: String, runtime: CNIRuntime, netnsDirectory: String = NetworkNamespace.directory, logger: Logger) {
        self.podUUID = podUUID
        self.podDirectory = podDirectory
        self.runtime = runtime
        self.netnsDirectory = netnsDirectory
        self.logger = logger
    }

    public var netnsPath: String { NetworkNamespace.path(forPod: podUUID, directory: netnsDirectory) }

    /// What the pod got, for the stage1 request.
    public struct Setup: Sendable {
        public var netns: String
        public var attachments: [NetworkAttachment]
        /// DNS servers etc. from the first result that has any (rkt's rule).
        public var dns: CNIResult.DNS?
        public var record: PodNetworkRecord
    }

    /// Creates the namespace and ADDs each network in order as eth0, eth1, …; then forwards
    /// `ports` (resolved by the caller to pod ports) through the forwarding network: the first one
    /// that masquerades, else the last. Any failure undoes everything before it throws.
    public func setUp(_ networks: [(config: NetworkConfiguration, args: String?)], ports: [RequestedPort] = []) throws(NetworkError) -> Setup {
        if let v6 = ports.first(where: { $0.hostIP?.contains(":") == true && !$0.hostIP!.contains(".") }) {
            throw NetworkError(.invalidArgument, step: "--port", "port \(v6.name): forwarding from an IPv6 host address is not supported (IPv4 only)")
        }
        var record = PodNetworkRecord(netns: netnsPath)
        // Recorded before the namespace exists, so a crash right after leaves gc a trail.
        try record.save(podDirectory: podDirectory)
        do throws(NetworkError) {
            try NetworkNamespace.create(at: netnsPath)
            var attachments: [NetworkAttachment] = []
            var results: [CNIResult] = []
            // Ports go to the first network that masquerades, else the last. When a plugin of that
            // network handles `portMappings` itself (portmap in a conflist), it gets them as
            // runtimeConfig and rkt adds no chains of its own.
            let forwardingIndex = networks.firstIndex(where: { $0.config.masquerades }) ?? networks.indices.last
            let pluginForwards = forwardingIndex.map { networks[$0].config.hasCapability("portMappings") } ?? false
            for (index, network) in networks.enumerated() {
                let ifname = "eth\(index)"
                var capabilityArgs: [String: JSONValue] = [:]
                if pluginForwards && index == forwardingIndex && !ports.isEmpty {
                    capabilityArgs["portMappings"] = .array(ports.map { port in
                        var mapping: [String: JSONValue] = ["hostPort": .integer(Int64(port.hostPort)), "containerPort": .integer(Int64(port.podPort)),
                                                            "protocol": .string(port.protocol)]
                        if let hostIP = port.hostIP { mapping["hostIP"] = .string(hostIP) }
                        return .object(mapping)
                    })
                }
                record.networks.append(PodNetworkRecord.Attached(
                    name: network.config.name, interface: ifname, ips: [], type: network.config.types.joined(separator: ","), plugins: [],
                    cniVersion: network.config.cniVersion.description, args: network.args, config: network.config.recorded, result: nil,
                    capabilityArgs: capabilityArgs.isEmpty ? nil : capabilityArgs))
                try record.save(podDirectory: podDirectory)
                var attachment = attachment(ifname: ifname, args: network.args)
                attachment.capabilityArgs = capabilityArgs
                let added = try runtime.add(network.config, attachment)
                let ips = added.result.addresses(onInterface: ifname)
                record.networks[index].ips = ips
                record.networks[index].plugins = added.executables
                record.networks[index].cniVersion = added.version.description
                record.networks[index].result = added.result.raw
                try record.save(podDirectory: podDirectory)
                attachments.append(NetworkAttachment(name: network.config.name, interface: ifname, ips: ips, result: added.result.raw))
                results.append(added.result)
                logger.debug("network attached", metadata: ["network": "\(network.config.name)", "interface": "\(ifname)", "ips": "\(ips)"])
            }
            if !ports.isEmpty && !pluginForwards {
                guard let index = forwardingIndex else {
                    throw NetworkError(.invalidArgument, step: "--port", "ports can only be forwarded to a pod on a CNI network")
                }
                guard let podIP = results[index].addresses(onInterface: "eth\(index)").first(where: { !$0.contains(":") })?.split(separator: "/").first else {
                    throw NetworkError(.invalidArgument, step: "--port", "network \(networks[index].config.name) gave the pod no IPv4 address to forward to")
                }
                let forwarding = PortForwarding(podUUID: podUUID, environment: runtime.environment)
                record.ports = ports.map {
                    PodNetworkRecord.PortForward(name: $0.name, protocol: $0.protocol, hostIP: $0.hostIP, hostPort: $0.hostPort, podIP: String(podIP), podPort: $0.podPort)
                }
                record.portChains = [forwarding.dnatChain, forwarding.snatChain]
                try record.save(podDirectory: podDirectory)
                let hostSide = results[index].interfaces.first { $0.sandbox == nil || $0.sandbox == "" }?.name
                try forwarding.install(record.ports, hostInterface: hostSide)
            }
            let dns = results.first { !$0.dns.isEmpty }?.dns
            return Setup(netns: netnsPath, attachments: attachments, dns: dns, record: record)
        } catch {
            logger.debug("network set-up failed; undoing it", metadata: ["error": "\(error)"])
            tearDown()
            throw error
        }
    }

    func attachment(ifname: String, args: String?) -> CNIRuntime.Attachment {
        CNIRuntime.Attachment(containerID: podUUID, netns: netnsPath, ifname: ifname, args: args)
    }

    /// Undoes what net-info.json records, newest first: port forwarding, DEL of each network
    /// (with the ADD result; also for a network whose ADD never finished), the namespace, the
    /// record. Idempotent; returns what could not be undone (the record then stays for a retry).
    @discardableResult
    public func tearDown() -> [NetworkError] {
        guard let record = PodNetworkRecord.load(podDirectory: podDirectory) else { return [] }
        var failures: [NetworkError] = []
        // A namespace file that is no longer a mount (after a reboot with a persistent /run) goes
        // first: plugins tolerate a missing namespace on DEL but fail on a file that is not one.
        if !NetworkNamespace.isMounted(record.netns) {
            do throws(NetworkError) { try NetworkNamespace.remove(at: record.netns) } catch { failures.append(error) }
        }
        if !record.portChains.isEmpty { PortForwarding(podUUID: podUUID, environment: runtime.environment).remove() }
        for network in record.networks.reversed() {
            guard let config = NetworkConfiguration(recorded: network.config) else {
                failures.append(NetworkError(.invalidConfig, step: "DEL network \(network.name)", "net-info.json has no usable configuration"))
                continue
            }
            let attachment = CNIRuntime.Attachment(containerID: podUUID, netns: record.netns, ifname: network.interface, args: network.args,
                                                   capabilityArgs: network.capabilityArgs ?? [:])
            do throws(NetworkError) {
                try runtime.delete(config, attachment, prevResult: network.result)
            } catch {
                // The plugin executables recorded at ADD time, when the types no longer resolve.
                if error.kind == .pluginNotFound || error.kind == .incompatibleVersion, network.plugins.count == config.plugins.count,
                   let version = CNIVersion(network.cniVersion) {
                    do throws(NetworkError) {
                        try runtime.delete(config, attachment, version: version, executables: network.plugins, prevResult: network.result)
                        continue
                    } catch { failures.append(error) }
                } else {
                    failures.append(error)
                }
            }
        }
        do throws(NetworkError) { try NetworkNamespace.remove(at: record.netns) } catch { failures.append(error) }
        if failures.isEmpty {
            unlink(PodNetworkRecord.path(podDirectory: podDirectory))
        } else {
            for failure in failures { logger.warning("network teardown: \(failure)", metadata: ["pod": "\(podUUID)"]) }
        }
        return failures
    }
}

/// A `--port` resolved against the apps' ports: what to forward from the host to the pod.
public struct RequestedPort: Sendable, Equatable {
    public var name: String
    public var `protocol`: String
    public var hostIP: String?
    public var hostPort: Int
    public var podPort: Int
    public init(name: String, protocol: String, hostIP: String?, hostPort: Int, podPort: Int) {
        self.name = name
        self.protocol = `protocol`
        self.hostIP = hostIP
        self.hostPort = hostPort
        self.podPort = podPort
    }
}
