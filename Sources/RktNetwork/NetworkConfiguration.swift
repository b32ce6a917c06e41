import Foundation
import Logging
import RktOS
import Stage1Protocol

/// One CNI network: a `.conf` file (one plugin) or a `.conflist` file (a chain of plugins), or
/// one of rkt's built-in networks.
public struct NetworkConfiguration: Sendable, Equatable {
    public let name: String
    /// The `cniVersion` the file asks for.
    public let cniVersion: CNIVersion
    /// The plugin configurations in chain order. For a `.conf` file, the whole file; `name`,
    /// `cniVersion` and `prevResult` are injected when a plugin is called.
    public let plugins: [[String: JSONValue]]
    /// `disableCheck` of a conflist: CHECK is skipped.
    public let disableCheck: Bool
    /// Where it came from: a file path, or `built-in`.
    public let source: String
    /// The file name that orders networks (`99-default.conf` for the built-in default).
    public let orderKey: String

    public var types: [String] { plugins.map { $0["type"]?.stringValue ?? "" } }
    /// Whether a plugin of the chain declares the CNI capability `name` (e.g. portmap's
    /// `portMappings`).
    public func hasCapability(_ name: String) -> Bool {
        plugins.contains { $0["capabilities"]?[name]?.boolValue == true }
    }
    /// Masquerades egress (rkt forwards ports through the first such network).
    public var masquerades: Bool { plugins.contains { $0["ipMasq"]?.boolValue == true } }

    public init(name: String, cniVersion: CNIVersion, plugins: [[String: JSONValue]], disableCheck: Bool = false, source: String, orderKey: String) {
        self.name = name
        self.cniVersion = cniVersion
        self.plugins = plugins
        self.disableCheck = disableCheck
        self.source = source
        self.orderKey = orderKey
    }

    /// Parses a `.conf` (`isList` false) or `.conflist` file's bytes.
    public static func parse(_ data: Data, isList: Bool, source: String, orderKey: String) throws(NetworkError) -> NetworkConfiguration {
        let step = "network configuration \(source)"
        let value: JSONValue
        do { value = try CNIJSON.decode(data) } catch {
            throw NetworkError(.invalidConfig, step: step, "not JSON: \(error)")
        }
        guard let object = value.objectValue else { throw NetworkError(.invalidConfig, step: step, "not a JSON object") }
        guard let name = object["name"]?.stringValue, !name.isEmpty else {
            throw NetworkError(.invalidConfig, step: step, "no \"name\"")
        }
        guard isValidName(name) else {
            throw NetworkError(.invalidConfig, step: step, "network name \"\(name)\" may only contain letters, digits, '.', '_' and '-'")
        }
        let versionText = object["cniVersion"]?.stringValue ?? "0.1.0"
        guard var version = CNIVersion(versionText) else {
            throw NetworkError(.invalidConfig, step: step, "invalid cniVersion \"\(versionText)\"")
        }
        // CNI 1.1: a conflist may list every version it is valid for; the highest one this
        // runtime speaks wins over `cniVersion`.
        if isList, let listed = object["cniVersions"]?.arrayValue {
            let known = listed.compactMap { $0.stringValue.flatMap(CNIVersion.init) }.filter(CNIVersion.supported.contains)
            guard let best = known.max() else {
                throw NetworkError(.invalidConfig, step: step, "none of cniVersions is a version rkt speaks (\(CNIVersion.supported.map(\.description).joined(separator: ", ")))")
            }
            version = best
        }
        var plugins: [[String: JSONValue]]
        if isList {
            guard let list = object["plugins"]?.arrayValue, !list.isEmpty else {
                throw NetworkError(.invalidConfig, step: step, "a .conflist needs a non-empty \"plugins\" array")
            }
            plugins = []
            for (index, item) in list.enumerated() {
                guard let plugin = item.objectValue else { throw NetworkError(.invalidConfig, step: step, "plugins[\(index)] is not an object") }
                plugins.append(plugin)
            }
        } else {
            plugins = [object]
        }
        for (index, plugin) in plugins.enumerated() {
            guard let type = plugin["type"]?.stringValue, !type.isEmpty else {
                throw NetworkError(.invalidConfig, step: step, isList ? "plugins[\(index)] has no \"type\"" : "no \"type\"")
            }
            // The type becomes a file name on the search path: no directories, no escapes.
            guard type != ".", type != "..", !type.contains("/") || isImageName(type) else {
                throw NetworkError(.invalidConfig, step: step, "plugin type \"\(type)\" is not a plugin name")
            }
        }
        return NetworkConfiguration(name: name, cniVersion: version, plugins: plugins,
                                    disableCheck: isList && object["disableCheck"]?.boolValue == true, source: source, orderKey: orderKey)
    }

    /// CNI network names: the characters the spec allows.
    public static func isValidName(_ name: String) -> Bool {
        !name.isEmpty && name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "._-".unicodeScalars.contains($0)) }
    }

    /// An appc image name (`example.com/cni-x`) a type may name to select a plugin ACI.
    static func isImageName(_ type: String) -> Bool {
        !type.hasPrefix("/") && !type.contains("..") && !type.contains("//")
            && type.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.lowercaseLetters.contains($0) || CharacterSet.decimalDigits.contains($0) || "._-/".unicodeScalars.contains($0)) }
    }

    /// The configuration one plugin of the chain receives: its own object plus the network's
    /// `name` and the negotiated `cniVersion` (and, by the caller, `prevResult`).
    func pluginConfig(_ index: Int, version: CNIVersion) -> [String: JSONValue] {
        var config = plugins[index]
        config["name"] = .string(name)
        config["cniVersion"] = .string(version.description)
        return config
    }
}

/// rkt's networks: the user's `<localConfig>/net.d` files and the built-in `default` and
/// `default-restricted`, which a user file of the same name replaces.
public enum NetworkConfigurations {
    /// `<localConfig>/net.d`.
    public static func directory(localConfig: String) -> String { localConfig + "/net.d" }

    /// The user's networks in lexicographic file order (`*.conf`, `*.conflist`). A name defined
    /// twice keeps its first file (the later one is reported and ignored, as rkt does).
    public static func loadUser(localConfig: String, logger: Logger? = nil) throws(NetworkError) -> [NetworkConfiguration] {
        let dir = directory(localConfig: localConfig)
        let names: [String]
        do { names = try FileSystem.listIfPresent(dir) } catch { throw .system("reading \(dir)", error) }
        var result: [NetworkConfiguration] = []
        var seen = Set<String>()
        for file in names.sorted() where file.hasSuffix(".conf") || file.hasSuffix(".conflist") {
            let path = dir + "/" + file
            guard FileSystem.isRegularFile(path) else { continue }
            let data: Data
            do { data = try FileSystem.read(path) } catch { throw .system("reading \(path)", error) }
            let config = try NetworkConfiguration.parse(data, isList: file.hasSuffix(".conflist"), source: path, orderKey: file)
            if !seen.insert(config.name).inserted {
                logger?.warning("network \(config.name) is defined again in \(path); ignoring that file")
                continue
            }
            result.append(config)
        }
        return result
    }

    /// Every network by name: built-ins first replaced by user files of the same name.
    public static func loadAll(localConfig: String, logger: Logger? = nil) throws(NetworkError) -> [NetworkConfiguration] {
        let user = try loadUser(localConfig: localConfig, logger: logger)
        let userNames = Set(user.map(\.name))
        return (user + builtIn.filter { !userNames.contains($0.name) }).sorted { $0.orderKey < $1.orderKey }
    }

    /// The bridge of the built-in `default` network.
    public static let defaultBridge = "rkt0"
    public static let restrictedBridge = "rkt1"
    public static let defaultSubnet = "172.16.28.0/24"
    public static let restrictedSubnet = "172.31.0.0/16"
    /// The plugin type of the built-ins: our bridge plugin (Plugins/cni-bridge).
    public static let builtInPluginType = "cni-bridge"

    /// `default`: NAT egress with a default route. `default-restricted`: no default route and no
    /// masquerading; the bridge is the gateway, so the pod reaches the host and nothing else.
    public static let builtIn: [NetworkConfiguration] = [
        NetworkConfiguration(
            name: "default", cniVersion: .v110,
            plugins: [[
                "type": .string(builtInPluginType), "bridge": .string(defaultBridge), "isGateway": true, "ipMasq": true,
                "ipam": ["type": "host-local", "subnet": .string(defaultSubnet), "routes": [["dst": "0.0.0.0/0"]]],
            ]],
            source: "built-in", orderKey: "99-default.conf"),
        NetworkConfiguration(
            name: "default-restricted", cniVersion: .v110,
            plugins: [[
                "type": .string(builtInPluginType), "bridge": .string(restrictedBridge), "isGateway": true, "ipMasq": false,
                "ipam": ["type": "host-local", "subnet": .string(restrictedSubnet)],
            ]],
            source: "built-in", orderKey: "99-default-restricted.conf"),
    ]
}
