import Netlink

/// The network configuration on stdin, with the reference `bridge` plugin's keys and defaults.
struct BridgeConfig {
    var cniVersion: String
    var name: String
    var bridge: String
    var isGateway: Bool
    var isDefaultGateway: Bool
    var ipMasq: Bool
    var mtu: UInt32?
    var hairpinMode: Bool
    var promiscMode: Bool
    var ipam: JSONValue?
    var ipamType: String?
    var prevResult: JSONValue?
    var validAttachments: [(containerID: String, ifname: String)]?
    /// The whole config, for delegation.
    var raw: JSONValue

    static func parse(_ json: JSONValue) throws(PluginError) -> BridgeConfig {
        guard json.object != nil else { throw PluginError(PluginError.decodingFailure, "network configuration is not a JSON object") }
        let version = json["cniVersion"]?.string ?? "0.1.0"
        guard supportedVersions.contains(version) else {
            throw PluginError(PluginError.incompatibleVersion, "incompatible CNI versions", details: "config is \(version), plugin supports \(supportedVersions.joined(separator: ", "))")
        }
        guard let name = json["name"]?.string, !name.isEmpty else { throw PluginError(PluginError.invalidConfig, "network configuration has no name") }
        var mtu: UInt32? = nil
        if let value = json["mtu"], value != .null {
            guard let number = value.int, number >= 0, number <= 65535 else { throw PluginError(PluginError.invalidConfig, "invalid mtu") }
            if number > 0 { mtu = UInt32(number) }  // 0 means "the kernel's default", as in the reference plugin
        }
        let bridge = json["bridge"]?.string ?? "cni0"
        guard !bridge.isEmpty, bridge.utf8.count < 16 else { throw PluginError(PluginError.invalidConfig, "invalid bridge name \"\(bridge)\"") }
        let isDefaultGateway = json["isDefaultGateway"]?.bool ?? false
        var attachments: [(containerID: String, ifname: String)]? = nil
        if let list = json["cni.dev/valid-attachments"]?.array {
            attachments = list.compactMap { entry in
                guard let id = entry["containerID"]?.string, let ifname = entry["ifname"]?.string else { return nil }
                return (id, ifname)
            }
        }
        return BridgeConfig(
            cniVersion: version, name: name, bridge: bridge,
            isGateway: (json["isGateway"]?.bool ?? false) || isDefaultGateway, isDefaultGateway: isDefaultGateway,
            ipMasq: json["ipMasq"]?.bool ?? false, mtu: mtu,
            hairpinMode: json["hairpinMode"]?.bool ?? false, promiscMode: json["promiscMode"]?.bool ?? false,
            ipam: json["ipam"], ipamType: json["ipam"]?["type"]?.string,
            prevResult: json["prevResult"], validAttachments: attachments, raw: json)
    }
}

/// The CNI_* environment of one call.
struct CallEnvironment {
    var command: String
    var containerID: String
    var netns: String
    var ifname: String
    var args: String
    var path: String
    /// All of the environment, for delegated plugins.
    var all: [String: String]

    static func current(_ environment: [String: String]) -> CallEnvironment {
        CallEnvironment(
            command: environment["CNI_COMMAND"] ?? "", containerID: environment["CNI_CONTAINERID"] ?? "",
            netns: environment["CNI_NETNS"] ?? "", ifname: environment["CNI_IFNAME"] ?? "",
            args: environment["CNI_ARGS"] ?? "", path: environment["CNI_PATH"] ?? "", all: environment)
    }

    /// The variables the spec requires for `command`, with error code 4 naming the missing one.
    func require(_ names: [String]) throws(PluginError) {
        for name in names where (all[name] ?? "").isEmpty {
            throw PluginError(PluginError.invalidEnvironment, "required env variable \(name) missing")
        }
    }
}
