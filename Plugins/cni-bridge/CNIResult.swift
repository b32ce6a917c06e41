import Netlink

/// The versions this plugin speaks; the result format follows the config's `cniVersion`.
let supportedVersions = ["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"]

/// A CNI result in a version-neutral form, rendered in the format of the requested version:
/// 0.1/0.2 `ip4`/`ip6`; 0.3.x/0.4 `interfaces`/`ips` (with "version")/`routes`/`dns`; 1.x without
/// "version".
struct CNIResult: Equatable {
    struct Interface: Equatable {
        var name: String
        var mac: String?
        var mtu: Int?
        var sandbox: String?
    }
    struct IPConfig: Equatable {
        var address: IPPrefix
        var gateway: IPAddress?
        var interface: Int?
    }
    struct RouteConfig: Equatable {
        var destination: IPPrefix
        var gateway: IPAddress?
    }

    var interfaces: [Interface] = []
    var ips: [IPConfig] = []
    var routes: [RouteConfig] = []
    var dns: JSONValue? = nil

    /// Reads a result of any supported version (a prevResult, or a delegated IPAM plugin's output).
    static func parse(_ json: JSONValue) throws(PluginError) -> CNIResult {
        var result = CNIResult()
        result.dns = json["dns"]
        if json["ip4"] != nil || json["ip6"] != nil {
            for key in ["ip4", "ip6"] {
                guard let section = json[key] else { continue }
                guard let text = section["ip"]?.string, let address = IPPrefix(text) else {
                    throw PluginError(PluginError.decodingFailure, "invalid result: \(key).ip")
                }
                result.ips.append(IPConfig(address: address, gateway: section["gateway"]?.string.flatMap { IPAddress($0) }, interface: nil))
                result.routes += try parseRoutes(section["routes"])
            }
            return result
        }
        for entry in json["interfaces"]?.array ?? [] {
            guard let name = entry["name"]?.string else { throw PluginError(PluginError.decodingFailure, "invalid result: interface without a name") }
            result.interfaces.append(Interface(name: name, mac: entry["mac"]?.string, mtu: entry["mtu"]?.int, sandbox: entry["sandbox"]?.string))
        }
        for entry in json["ips"]?.array ?? [] {
            guard let text = entry["address"]?.string, let address = IPPrefix(text) else {
                throw PluginError(PluginError.decodingFailure, "invalid result: ips[].address")
            }
            result.ips.append(IPConfig(address: address, gateway: entry["gateway"]?.string.flatMap { IPAddress($0) }, interface: entry["interface"]?.int))
        }
        result.routes = try parseRoutes(json["routes"])
        return result
    }

    static func parseRoutes(_ json: JSONValue?) throws(PluginError) -> [RouteConfig] {
        var routes: [RouteConfig] = []
        for entry in json?.array ?? [] {
            guard let text = entry["dst"]?.string, let destination = IPPrefix(text) else {
                throw PluginError(PluginError.invalidConfig, "invalid route: dst \(entry["dst"]?.string ?? "missing")")
            }
            var gateway: IPAddress? = nil
            if let gw = entry["gw"]?.string {
                guard let parsed = IPAddress(gw) else { throw PluginError(PluginError.invalidConfig, "invalid route: gw \(gw)") }
                gateway = parsed
            }
            routes.append(RouteConfig(destination: destination, gateway: gateway))
        }
        return routes
    }

    func json(cniVersion: String) -> JSONValue {
        var object: [String: JSONValue] = ["cniVersion": .string(cniVersion)]
        if cniVersion == "0.1.0" || cniVersion == "0.2.0" {
            for (key, isIPv4) in [("ip4", true), ("ip6", false)] {
                guard let ip = ips.first(where: { $0.address.address.isIPv4 == isIPv4 }) else { continue }
                var section: [String: JSONValue] = ["ip": .string(ip.address.description)]
                if let gateway = ip.gateway { section["gateway"] = .string(gateway.description) }
                let familyRoutes = routes.filter { $0.destination.address.isIPv4 == isIPv4 }
                if !familyRoutes.isEmpty { section["routes"] = .array(familyRoutes.map(Self.routeJSON)) }
                object[key] = .object(section)
            }
        } else {
            let withVersion = cniVersion.hasPrefix("0.")
            if !interfaces.isEmpty {
                object["interfaces"] = .array(
                    interfaces.map { interface in
                        var entry: [String: JSONValue] = ["name": .string(interface.name)]
                        if let mac = interface.mac { entry["mac"] = .string(mac) }
                        if let mtu = interface.mtu, cniVersion == "1.1.0" { entry["mtu"] = .number(Double(mtu)) }
                        if let sandbox = interface.sandbox { entry["sandbox"] = .string(sandbox) }
                        return .object(entry)
                    })
            }
            if !ips.isEmpty {
                object["ips"] = .array(
                    ips.map { ip in
                        var entry: [String: JSONValue] = ["address": .string(ip.address.description)]
                        if withVersion { entry["version"] = .string(ip.address.address.isIPv4 ? "4" : "6") }
                        if let gateway = ip.gateway { entry["gateway"] = .string(gateway.description) }
                        if let interface = ip.interface { entry["interface"] = .number(Double(interface)) }
                        return .object(entry)
                    })
            }
            if !routes.isEmpty { object["routes"] = .array(routes.map(Self.routeJSON)) }
        }
        object["dns"] = dns ?? .object([:])
        return .object(object)
    }

    private static func routeJSON(_ route: RouteConfig) -> JSONValue {
        var entry: [String: JSONValue] = ["dst": .string(route.destination.description)]
        if let gateway = route.gateway { entry["gw"] = .string(gateway.description) }
        return .object(entry)
    }
}
