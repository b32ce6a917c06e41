#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import RktNetwork
import RktOS
import RktPods
import RktStore
import RktTypes
import Stage1Protocol

/// stage0's networking for `rkt run`: `--net`, CNI set-up before stage1 runs, `--port`, and the
/// DNS and hosts flags; and the teardown `rkt gc` does. See Documentation/networking.md.
enum PodNetworking {
    /// Where plugin images are looked for by file name (`<dir>/<type>.aci`).
    static let pluginImagesDirectory = "/usr/lib/rkt/plugins/images"
    /// The annotation of a network-plugin image: the plugin executable's path inside its rootfs.
    static let pluginAnnotation = "rkt.dev/cni-plugin"

    /// What the run request gets.
    struct Prepared {
        var net: NetworkMode
        var networks: [Network]
        var namespace: String?
        var attachments: [NetworkAttachment]?
        var dns: CNIResult.DNS?
    }

    /// The pod's networking from `--net` as `checkSelection` resolved it before the pod existed
    /// (or the stage1's default): for CNI networks, creates the namespace and attaches them
    /// (undone again on failure).
    static func prepare(pod: Pod, checked: CheckedSelection, manifest: PodManifest, apps: [RunApp], describe: DescribeResponse,
                        global: GlobalOptions, logger: Logger) throws -> Prepared {
        let selection = checked.selection ?? NetworkSelection.defaultSelection(stage1HasNetworking: describe.supports(.networks))
        let mode = selection.protocolMode
        guard case .networks = selection else {
            if !manifest.ports.isEmpty { throw CommandError("networking: --port needs a CNI network; the pod uses --net=\(mode.net.rawValue)") }
            return Prepared(net: mode.net, networks: mode.networks)
        }
        // Refuse before creating anything a stage1 without networking would ignore.
        guard describe.supports(.networks) else {
            throw CommandError("networking: stage1 \(describe.name) does not support networks (its describe lacks \"networks\"); use --net=host or --net=none")
        }
        let network = podNetwork(pod: pod, global: global, logger: logger)
        do {
            let chosen = try checked.chosen ?? selection.resolve(NetworkConfigurations.loadAll(localConfig: global.localConfig, logger: logger))
            let ports = try requestedPorts(manifest: manifest, apps: apps)
            let setup = try network.setUp(chosen, ports: ports)
            return Prepared(net: mode.net, networks: mode.networks, namespace: setup.netns, attachments: setup.attachments, dns: setup.dns)
        } catch let error as NetworkError {
            throw CommandError("networking: \(error)")
        }
    }

    /// The `--net` errors that need no pod: its syntax, and names no configuration defines.
    static func checkSelection(arguments: RunArguments, global: GlobalOptions, logger: Logger) throws -> CheckedSelection {
        guard !arguments.networks.isEmpty else { return CheckedSelection(selection: nil, chosen: nil) }
        let selection: NetworkSelection
        do { selection = try NetworkSelection.parse(arguments.networks) } catch { throw CommandError("networking: \(error)") }
        guard case .networks = selection else { return CheckedSelection(selection: selection, chosen: nil) }
        do {
            let chosen = try selection.resolve(try NetworkConfigurations.loadAll(localConfig: global.localConfig, logger: logger))
            return CheckedSelection(selection: selection, chosen: chosen)
        } catch {
            throw CommandError("networking: \(error)")
        }
    }

    /// `--net` as checked before the pod exists: the parsed selection (nil: none given, the
    /// stage1 decides the default) and, for CNI networks, the configurations it names, so that
    /// net.d is read once per pod start.
    struct CheckedSelection {
        let selection: NetworkSelection?
        let chosen: [(config: NetworkConfiguration, args: String?)]?
    }

    /// `rkt gc`/`rkt rm`: undo what net-info.json records. Throws when something could not be
    /// undone, so the pod (and its record) stays for the next gc.
    static func tearDown(pod: Pod, global: GlobalOptions, logger: Logger) throws {
        guard PodNetworkRecord.load(podDirectory: pod.path) != nil else { return }
        let failures = podNetwork(pod: pod, global: global, logger: logger).tearDown()
        if let first = failures.first { throw CommandError("networking: pod \(pod.uuid): \(first)") }
    }

    /// `rkt gc`, after the sweep: CNI 1.1 `GC` for every configured network whose plugins all
    /// speak 1.1, with the attachments of the pods still on disk as the valid ones, so plugins
    /// release what pods that vanished without a DEL still hold. Best effort: problems are
    /// logged, never fatal (a network whose plugin is not installed is simply skipped). The
    /// built-in networks are collected only from the default data directory.
    static func garbageCollectNetworks(pods: PodStore, global: GlobalOptions, logger: Logger) {
        guard let configs = try? NetworkConfigurations.loadAll(localConfig: global.localConfig, logger: logger) else { return }
        var valid: [String: [(containerID: String, ifname: String)]] = [:]
        for pod in (try? pods.allPods()) ?? [] {
            for network in PodNetworkRecord.load(podDirectory: pod.path)?.networks ?? [] {
                valid[network.name, default: []].append((pod.uuid, network.interface))
            }
        }
        let environment = ProcessInfo.processInfo.environment
        let locator = PluginLocator(searchPath: PluginLocator.standardSearchPath(localConfig: global.localConfig, stage1Rootfs: nil,
                                                                                  environment: environment, binaryDirectory: PodLaunch.binaryDirectory))
        let runtime = CNIRuntime(locator: locator, environment: environment, logger: logger)
        // The built-ins' IPAM state is shared by every data directory on the host; only the
        // default one can speak for all their attachments.
        let mayCollectBuiltIns = pods.dataDir == "/var/lib/rkt"
        for config in configs where config.cniVersion >= .v110 && (config.source != "built-in" || mayCollectBuiltIns) {
            guard config.types.allSatisfy({ (try? locator.executable(for: $0)) != nil }) else { continue }
            do throws(NetworkError) {
                if try runtime.garbageCollect(config, valid: valid[config.name] ?? []) {
                    logger.debug("CNI GC done", metadata: ["network": "\(config.name)"])
                }
            } catch {
                logger.warning("networking: \(error)")
            }
        }
    }

    /// The networks `rkt list` and `rkt status` show: `name:ip4=…`.
    static func summaries(of pod: Pod) -> [String] {
        PodNetworkRecord.load(podDirectory: pod.path)?.summaries ?? []
    }

    static func podNetwork(pod: Pod, global: GlobalOptions, logger: Logger) -> PodNetwork {
        let environment = ProcessInfo.processInfo.environment
        let searchPath = PluginLocator.standardSearchPath(localConfig: global.localConfig, stage1Rootfs: pod.stage1Rootfs,
                                                          environment: environment, binaryDirectory: PodLaunch.binaryDirectory)
        let dataDir = (try? global.loadConfiguration()).map { global.resolvedDataDir(config: $0) } ?? global.dataDir ?? "/var/lib/rkt"
        let locator = PluginLocator(searchPath: searchPath, resolveImage: { type in try pluginFromImage(type: type, dataDir: dataDir, logger: logger) })
        let runtime = CNIRuntime(locator: locator, environment: environment, logger: logger)
        return PodNetwork(podUUID: pod.uuid, podDirectory: pod.path, runtime: runtime, logger: logger)
    }

    /// A network-plugin ACI for `type`: by image name in the store (`type` itself when it is an
    /// image name, else `rkt.dev/<type>` then `<type>`), else `<pluginImagesDirectory>/<type>.aci`
    /// imported into the store. The executable is the image's `rkt.dev/cni-plugin` annotation,
    /// inside its rendered tree.
    static func pluginFromImage(type: String, dataDir: String, logger: Logger) throws -> String? {
        let store = try ImageStore(dataDir: dataDir, logger: logger)
        let names = type.contains("/") ? [type] : ["rkt.dev/" + type, type]
        for name in names {
            guard let reference = try? ImageReference.parse(name), let info = try store.findImages(reference).first else { continue }
            if let path = try executable(in: info.key, store: store) { return path }
        }
        let file = pluginImagesDirectory + "/" + (type.split(separator: "/").last.map(String.init) ?? type) + ".aci"
        guard FileSystem.isRegularFile(file) else { return nil }
        logger.debug("importing network plugin image", metadata: ["file": "\(file)"])
        return try executable(in: store.importImage(path: file).key, store: store)
    }

    private static func executable(in key: String, store: ImageStore) throws -> String? {
        guard let inside = try store.manifest(key: key).annotations[pluginAnnotation] else { return nil }
        guard inside.hasPrefix("/"), !inside.split(separator: "/").contains("..") else {
            throw CommandError("network plugin image \(ImageKey.short(key)): \(pluginAnnotation) \"\(inside)\" is not an absolute path inside the image")
        }
        let path = try store.renderTree(key: key).rootfs + inside
        return FileSystem.isRegularFile(path) ? path : nil
    }

    /// Each `--port NAME:[HOSTIP:]HOSTPORT` (in the pod manifest) with the app port of that name.
    static func requestedPorts(manifest: PodManifest, apps: [RunApp]) throws -> [RequestedPort] {
        try manifest.ports.map { exposed in
            let name = exposed.name.rawValue
            if let podPort = exposed.podPort {
                return RequestedPort(name: name, protocol: podPort.protocol, hostIP: exposed.hostIP, hostPort: Int(exposed.hostPort), podPort: Int(podPort.port))
            }
            guard let port = apps.lazy.compactMap({ $0.appManifest?.ports?.first { $0.name == name } }).first else {
                throw CommandError("networking: port \(name) is not declared by any app of the pod")
            }
            return RequestedPort(name: name, protocol: port.protocol, hostIP: exposed.hostIP, hostPort: Int(exposed.hostPort), podPort: port.port)
        }
    }

    // MARK: DNS and hosts

    /// rkt's precedence (RktNetwork.DNSPolicy). The caller passes no CNI DNS to a stage1 without
    /// the `dns` feature: mode `default` lets it read the results in `networkAttachments` itself.
    static func dnsConfig(arguments: RunArguments, fromNetworks cni: CNIResult.DNS?) throws -> DNSConfig {
        do {
            return try DNSPolicy.resolvConf(servers: arguments.dns, search: arguments.dnsSearch, options: arguments.dnsOptions,
                                            domain: arguments.dnsDomain, fromNetworks: cni)
        } catch { throw CommandError(error.message) }
    }

    static func hosts(arguments: RunArguments) throws -> (HostsMode, [HostsEntry]) {
        do { return try DNSPolicy.hosts(arguments.hostsEntries) } catch { throw CommandError("--hosts-entry: \(error.message)") }
    }
}
