import Foundation
import RktOS
import Stage1Protocol

/// `<pod>/net-info.json`: everything gc needs to undo a pod's networking, even after a crash of
/// rkt halfway through: the namespace, each network as it was configured and what ADD returned,
/// and the port-forwarding chains. Written before each step that creates something.
public struct PodNetworkRecord: Codable, Sendable, Equatable {
    public static let fileName = "net-info.json"

    public struct Attached: Codable, Sendable, Equatable {
        public var name: String
        public var interface: String
        /// Addresses with prefix length, from the result.
        public var ips: [String]
        /// The plugin types of the chain (`bridge`, or `bridge,portmap` for a conflist).
        public var type: String
        /// The executables that ran, for the record (DEL looks the types up again).
        public var plugins: [String]
        public var cniVersion: String
        public var args: String?
        /// The configuration as used (`name`, `cniVersion`, `plugins`), so DEL works after the
        /// file in net.d changed or went away.
        public var config: JSONValue
        /// The CNI result as returned; nil while ADD has not finished (DEL is still attempted).
        public var result: JSONValue?
        /// Capability arguments sent as `runtimeConfig` (port mappings), sent again on DEL.
        public var capabilityArgs: [String: JSONValue]?
    }

    public struct PortForward: Codable, Sendable, Equatable {
        public var name: String
        public var `protocol`: String
        public var hostIP: String?
        public var hostPort: Int
        public var podIP: String
        public var podPort: Int
    }

    /// The namespace bind mount.
    public var netns: String
    public var networks: [Attached]
    /// iptables chains of this pod (nat table), when ports are forwarded.
    public var portChains: [String]
    public var ports: [PortForward]

    public init(netns: String, networks: [Attached] = [], portChains: [String] = [], ports: [PortForward] = []) {
        self.netns = netns
        self.networks = networks
        self.portChains = portChains
        self.ports = ports
    }

    public static func path(podDirectory: String) -> String { podDirectory + "/" + fileName }

    public static func load(podDirectory: String) -> PodNetworkRecord? {
        guard let data = try? FileSystem.read(path(podDirectory: podDirectory)) else { return nil }
        return try? JSONDecoder().decode(PodNetworkRecord.self, from: data)
    }

    func save(podDirectory: String) throws(NetworkError) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes, .prettyPrinted]
        let data: Data
        do { data = try encoder.encode(self) } catch { throw NetworkError(.system, step: "writing \(Self.fileName)", "\(error)") }
        do { try FileSystem.writeAtomically(data, to: Self.path(podDirectory: podDirectory), mode: 0o644) } catch {
            throw .system("writing \(Self.fileName)", error)
        }
    }

    /// `default:ip4=172.16.28.2` per network, as `rkt list` shows them.
    public var summaries: [String] {
        networks.filter { $0.result != nil }.map { network in
            let addresses = network.ips.map { ip -> String in
                let bare = ip.split(separator: "/").first.map(String.init) ?? ip
                return (ip.contains(":") ? "ip6=" : "ip4=") + bare
            }
            return ([network.name] + (addresses.isEmpty ? [] : [addresses.joined(separator: ",")])).joined(separator: ":")
        }
    }
}

extension NetworkConfiguration {
    /// The configuration as recorded in net-info.json, and back.
    var recorded: JSONValue {
        ["name": .string(name), "cniVersion": .string(cniVersion.description), "plugins": .array(plugins.map { .object($0) }),
         "disableCheck": .bool(disableCheck), "source": .string(source)]
    }

    init?(recorded value: JSONValue) {
        guard let name = value["name"]?.stringValue, let version = value["cniVersion"]?.stringValue.flatMap(CNIVersion.init),
              let plugins = value["plugins"]?.arrayValue?.compactMap(\.objectValue), !plugins.isEmpty else { return nil }
        self.init(name: name, cniVersion: version, plugins: plugins, disableCheck: value["disableCheck"]?.boolValue ?? false,
                  source: value["source"]?.stringValue ?? "net-info.json", orderKey: "")
    }
}
