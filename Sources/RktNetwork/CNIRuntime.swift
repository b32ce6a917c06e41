import Foundation
import Logging
import RktOS
import Stage1Protocol

/// Drives CNI plugins for one network configuration (a single plugin or a conflist chain),
/// per the CNI specification 0.1.0 … 1.1.0.
public struct CNIRuntime: Sendable {
    public let locator: PluginLocator
    /// The environment the plugins inherit (PATH for the tools some plugins run); CNI_* are ours.
    public let environment: [String: String]
    let logger: Logger

    public init(locator: PluginLocator, environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger) {
        self.locator = locator
        self.environment = environment.filter { !$0.key.hasPrefix("CNI_") }
        self.logger = logger
    }

    /// Who and where: the pod, its namespace, the interface, the network's CNI_ARGS.
    public struct Attachment: Sendable, Equatable {
        public var containerID: String
        public var netns: String
        public var ifname: String
        public var args: String?
        /// CNI capability arguments (`portMappings`, …): sent as `runtimeConfig` to the plugins
        /// whose configuration declares the capability.
        public var capabilityArgs: [String: JSONValue]
        public init(containerID: String, netns: String, ifname: String, args: String? = nil, capabilityArgs: [String: JSONValue] = [:]) {
            self.containerID = containerID
            self.netns = netns
            self.ifname = ifname
            self.args = args
            self.capabilityArgs = capabilityArgs
        }
    }

    /// What ADD gave: the version used, each plugin's executable, and the chain's final result.
    public struct Added: Sendable {
        public var version: CNIVersion
        public var executables: [String]
        public var result: CNIResult
    }

    // MARK: Versions

    /// The versions a plugin speaks (CNI_COMMAND=VERSION). A plugin that fails VERSION is a
    /// pre-0.2 plugin and speaks 0.1.0 and 0.2.0, as the specification says to assume.
    public func versions(of executable: String, configVersion: CNIVersion) throws(NetworkError) -> [CNIVersion] {
        let input = CNIJSON.encode(["cniVersion": .string(configVersion.description)])
        var env = environment
        env["CNI_COMMAND"] = "VERSION"
        let output: PluginProcess.Output
        do { output = try PluginProcess.run(executable, stdin: input, environment: env) } catch {
            throw .system("CNI VERSION \(executable)", error)
        }
        guard output.status == 0, let value = try? CNIJSON.decode(output.stdout),
              let list = value["supportedVersions"]?.arrayValue else {
            logger.debug("plugin does not answer VERSION; assuming 0.1.0 and 0.2.0", metadata: ["plugin": "\(executable)"])
            return CNIVersion.legacyPluginVersions
        }
        return list.compactMap { $0.stringValue.flatMap(CNIVersion.init) }
    }

    /// The executables of a network's chain and the version to speak with all of them.
    public func negotiate(_ config: NetworkConfiguration) throws(NetworkError) -> (version: CNIVersion, executables: [String]) {
        var executables: [String] = []
        var plugins: [(name: String, versions: [CNIVersion])] = []
        for type in config.types {
            let executable = try locator.executable(for: type)
            executables.append(executable)
            plugins.append((type, try versions(of: executable, configVersion: config.cniVersion)))
        }
        do {
            return (try CNIVersion.negotiate(config: config.cniVersion, plugins: plugins), executables)
        } catch {
            throw NetworkError(.incompatibleVersion, step: "network \(config.name)", error.message)
        }
    }

    // MARK: Commands

    /// ADD through the chain. When a plugin fails, what the chain added is deleted again (DEL of
    /// every plugin, the failing one included, as the specification asks) before the error.
    public func add(_ config: NetworkConfiguration, _ attachment: Attachment) throws(NetworkError) -> Added {
        let (version, executables) = try negotiate(config)
        // A 1.1 plugin says up front whether it can serve the network at all.
        if version.supportsGCAndStatus { try status(config, version: version, executables: executables) }
        var previous: JSONValue?
        for index in config.plugins.indices {
            do throws(NetworkError) {
                let output = try invoke("ADD", config, index: index, version: version, executable: executables[index], attachment: attachment, prevResult: previous)
                guard let result = output else {
                    throw NetworkError(.plugin, step: step("ADD", config, index), "the plugin printed no result")
                }
                previous = result
            } catch {
                logger.debug("ADD failed; deleting what the chain added", metadata: ["network": "\(config.name)"])
                try? delete(config, attachment, version: version, executables: executables, prevResult: previous)
                throw error
            }
        }
        guard let previous else { throw NetworkError(.plugin, step: "ADD network \(config.name)", "no result") }
        return Added(version: version, executables: executables, result: try CNIResult(previous))
    }

    /// DEL through the chain in reverse order. Every plugin is called even when one fails; the
    /// first failure is thrown. `prevResult` (the ADD result) is passed from 0.4.0 on.
    public func delete(_ config: NetworkConfiguration, _ attachment: Attachment, version: CNIVersion? = nil,
                       executables: [String]? = nil, prevResult: JSONValue?) throws(NetworkError) {
        let negotiated: (version: CNIVersion, executables: [String])
        if let version, let executables { negotiated = (version, executables) } else { negotiated = try negotiate(config) }
        var firstError: NetworkError?
        for index in config.plugins.indices.reversed() {
            do throws(NetworkError) {
                _ = try invoke("DEL", config, index: index, version: negotiated.version, executable: negotiated.executables[index],
                               attachment: attachment, prevResult: negotiated.version.supportsCheck ? prevResult : nil)
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
    }

    /// CHECK (0.4.0 and later; skipped for a conflist with `disableCheck`). Returns false when the
    /// version has no CHECK.
    @discardableResult
    public func check(_ config: NetworkConfiguration, _ attachment: Attachment, prevResult: JSONValue) throws(NetworkError) -> Bool {
        let (version, executables) = try negotiate(config)
        guard version.supportsCheck, !config.disableCheck else { return false }
        for index in config.plugins.indices {
            _ = try invoke("CHECK", config, index: index, version: version, executable: executables[index], attachment: attachment, prevResult: prevResult)
        }
        return true
    }

    /// STATUS (1.1.0): whether every plugin of the chain is ready to ADD.
    func status(_ config: NetworkConfiguration, version: CNIVersion, executables: [String]) throws(NetworkError) {
        for index in config.plugins.indices {
            _ = try invoke("STATUS", config, index: index, version: version, executable: executables[index], attachment: nil, prevResult: nil)
        }
    }

    /// GC (1.1.0): the plugins release what they hold for attachments not in `valid`. Returns
    /// false when the network's version has no GC.
    @discardableResult
    public func garbageCollect(_ config: NetworkConfiguration, valid: [(containerID: String, ifname: String)]) throws(NetworkError) -> Bool {
        let (version, executables) = try negotiate(config)
        guard version.supportsGCAndStatus else { return false }
        let attachments = JSONValue.array(valid.map { ["containerID": .string($0.containerID), "ifname": .string($0.ifname)] })
        for index in config.plugins.indices {
            _ = try invoke("GC", config, index: index, version: version, executable: executables[index], attachment: nil, prevResult: nil,
                           extra: ["cni.dev/valid-attachments": attachments])
        }
        return true
    }

    // MARK: Invocation

    private func step(_ command: String, _ config: NetworkConfiguration, _ index: Int) -> String {
        "\(command) network \(config.name) (plugin \(config.types[index]))"
    }

    /// Runs one plugin; returns its result (nil when it printed nothing) or throws its error.
    func invoke(_ command: String, _ config: NetworkConfiguration, index: Int, version: CNIVersion, executable: String,
                attachment: Attachment?, prevResult: JSONValue?, extra: [String: JSONValue] = [:]) throws(NetworkError) -> JSONValue? {
        let step = step(command, config, index)
        var stdin = config.pluginConfig(index, version: version)
        if let prevResult { stdin["prevResult"] = prevResult }
        for (key, value) in extra { stdin[key] = value }
        var env = environment
        env["CNI_COMMAND"] = command
        env["CNI_PATH"] = locator.searchPath.joined(separator: ":")
        if let attachment {
            let capabilities = config.plugins[index]["capabilities"]?.objectValue ?? [:]
            let runtimeConfig = attachment.capabilityArgs.filter { capabilities[$0.key]?.boolValue == true }
            if !runtimeConfig.isEmpty { stdin["runtimeConfig"] = .object(runtimeConfig) }
            env["CNI_CONTAINERID"] = attachment.containerID
            env["CNI_NETNS"] = attachment.netns
            env["CNI_IFNAME"] = attachment.ifname
            // Go plugins refuse CNI_ARGS keys they do not know unless told to ignore them.
            if let args = attachment.args, !args.isEmpty {
                env["CNI_ARGS"] = args.contains("IgnoreUnknown=") ? args : "IgnoreUnknown=1;" + args
            }
        }
        logger.debug("CNI \(command)", metadata: ["network": "\(config.name)", "plugin": "\(executable)", "version": "\(version)"])
        let output: PluginProcess.Output
        do { output = try PluginProcess.run(executable, stdin: CNIJSON.encode(.object(stdin)), environment: env) } catch {
            throw .system(step, error)
        }
        let text = String(decoding: output.stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let parsed = text.isEmpty ? nil : try? CNIJSON.decode(output.stdout)
        guard output.status == 0 else {
            if let parsed, let error = CNIErrorObject(parsed) {
                throw NetworkError(.plugin, step: step, error.description, pluginCode: error.code)
            }
            let shown = text.isEmpty ? "" : ": \(text.prefix(500))"
            throw NetworkError(.plugin, step: step, "plugin \(executable) exited with status \(output.status)\(shown)")
        }
        if text.isEmpty { return nil }
        guard let parsed else { throw NetworkError(.plugin, step: step, "the plugin's output is not JSON: \(text.prefix(500))") }
        return parsed
    }
}
