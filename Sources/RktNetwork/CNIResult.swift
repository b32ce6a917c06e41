import Stage1Protocol

/// A CNI result of any version (0.1.0 … 1.1.0), read into one shape. `raw` is the result exactly
/// as the plugin printed it; that is what is handed on (prevResult, the stage1 request, records).
public struct CNIResult: Sendable, Equatable {
    public struct IPConfig: Sendable, Equatable {
        /// With prefix length: `10.1.2.3/24`.
        public var address: String
        public var gateway: String?
        /// Index into `interfaces`, when the plugin said.
        public var interface: Int?
        public var isIPv6: Bool { address.contains(":") }
    }

    public struct Interface: Sendable, Equatable {
        public var name: String
        public var mac: String?
        /// The namespace path for interfaces inside the container; nil for host-side ones.
        public var sandbox: String?
    }

    public struct Route: Sendable, Equatable {
        public var destination: String
        public var gateway: String?
    }

    public struct DNS: Sendable, Equatable {
        public var nameservers: [String] = []
        public var domain: String?
        public var search: [String] = []
        public var options: [String] = []
        public var isEmpty: Bool { nameservers.isEmpty && domain == nil && search.isEmpty && options.isEmpty }
    }

    public var cniVersion: String?
    public var interfaces: [Interface] = []
    public var ips: [IPConfig] = []
    public var routes: [Route] = []
    public var dns = DNS()
    public var raw: JSONValue

    /// Reads a result. Fields of the other version family are ignored, so a plugin answering in an
    /// older format than asked still parses.
    public init(_ raw: JSONValue) throws(NetworkError) {
        guard let object = raw.objectValue else {
            throw NetworkError(.plugin, step: "reading CNI result", "the result is not a JSON object")
        }
        self.raw = raw
        cniVersion = object["cniVersion"]?.stringValue
        for key in ["ip4", "ip6"] {
            guard let legacy = object[key]?.objectValue else { continue }
            if let ip = legacy["ip"]?.stringValue {
                ips.append(IPConfig(address: ip, gateway: legacy["gateway"]?.stringValue, interface: nil))
            }
            routes += Self.routes(legacy["routes"])
        }
        for item in object["interfaces"]?.arrayValue ?? [] {
            guard let name = item["name"]?.stringValue else { continue }
            interfaces.append(Interface(name: name, mac: item["mac"]?.stringValue, sandbox: item["sandbox"]?.stringValue))
        }
        for item in object["ips"]?.arrayValue ?? [] {
            guard let address = item["address"]?.stringValue else { continue }
            ips.append(IPConfig(address: address, gateway: item["gateway"]?.stringValue, interface: item["interface"]?.intValue))
        }
        if object["ip4"] == nil && object["ip6"] == nil { routes += Self.routes(object["routes"]) }
        if let dnsObject = object["dns"]?.objectValue {
            dns.nameservers = dnsObject["nameservers"]?.arrayValue?.compactMap(\.stringValue) ?? []
            dns.domain = dnsObject["domain"]?.stringValue
            dns.search = dnsObject["search"]?.arrayValue?.compactMap(\.stringValue) ?? []
            dns.options = dnsObject["options"]?.arrayValue?.compactMap(\.stringValue) ?? []
        }
    }

    private static func routes(_ value: JSONValue?) -> [Route] {
        (value?.arrayValue ?? []).compactMap { item in
            item["dst"]?.stringValue.map { Route(destination: $0, gateway: item["gw"]?.stringValue) }
        }
    }

    /// The addresses on the pod's interface `ifname`: those pointing at it, or at no interface.
    public func addresses(onInterface ifname: String) -> [String] {
        ips.filter { ip in
            guard let index = ip.interface, interfaces.indices.contains(index) else { return true }
            return interfaces[index].name == ifname
        }.map(\.address)
    }
}

/// A CNI error object: `{"cniVersion", "code", "msg", "details"}`.
public struct CNIErrorObject: Sendable, Equatable {
    public var code: Int
    public var message: String
    public var details: String?

    public init?(_ value: JSONValue) {
        guard let object = value.objectValue, let code = object["code"]?.intValue else { return nil }
        self.code = code
        message = object["msg"]?.stringValue ?? ""
        details = object["details"]?.stringValue
    }

    public var description: String {
        let text = message.isEmpty ? "error code \(code)" : message
        if let details, !details.isEmpty { return "\(text): \(details)" }
        return text
    }
}
