import ArgumentParser
import Foundation
import Logging
import RktFetch
import RktOS
import RktPods
import RktStore
import RktTypes
import Stage1Protocol

/// What `prepare` and `run` share: rkt's free-form app syntax, parsed by RktPods, then the pod
/// directory laid out with stage1 and every app.
struct PodLaunch {
    let arguments: RunArguments
    let global: GlobalOptions
    let store: ImageStore
    let pods: PodStore
    let logger: Logger
    let config: Configuration

    init(argv: [String], command: RunCommand, global base: GlobalOptions) throws {
        arguments = try AppArguments.parse(argv, command: command)
        // Global flags may also come after the command name, inside rkt's app syntax.
        var global = base
        if let dir = arguments.dataDirectory { global.dataDir = dir }
        if let dir = arguments.localConfig { global.localConfig = dir }
        if let dir = arguments.systemConfig { global.systemConfig = dir }
        if let dir = arguments.userConfig { global.userConfig = dir }
        if arguments.debug { global.debug = true }
        if arguments.trustKeysFromHTTPS { global.trustKeysFromHTTPS = true }
        for option in arguments.insecureOptions { global.insecureOptions.enabled.formUnion(try InsecureOptions.parse(option).enabled) }
        self.global = global
        try global.requireRoot()
        config = try global.loadConfiguration()
        logger = global.makeLogger("rkt.stage0")
        store = try ImageStore(dataDir: global.resolvedDataDir(config: config), logger: logger)
        pods = PodStore(dataDir: store.layout.dataDir)
    }

    /// Each app's image: from the store, a file, a URL or discovery (rkt's default pull policy here is `new`).
    func resolveImages() throws -> [PodPreparer.AppImage] {
        var images: [PodPreparer.AppImage] = []
        for app in arguments.apps {
            // Files, URLs and names (discovery) under the pull policy, signatures checked (Fetch.swift).
            let policy = try arguments.pullPolicy.map { (text: String) throws -> PullPolicy in
                guard let value = PullPolicy(rawValue: text) else { throw CommandError("invalid --pull-policy \(text): want new, update or never") }
                return value
            } ?? .new
            let resolver = ImageResolver(global: global, store: store, pullPolicy: policy, logger: logger)
            images.append(PodPreparer.AppImage(key: try resolver.resolve(app.image, signature: app.signature).key))
        }
        return images
    }

    /// A new pod in prepare/, laid out and still locked by us, and its pod manifest (so that
    /// `run` does not read back and decode what it has just written).
    func prepare() throws -> (locked: LockedPod, manifest: PodManifest) {
        let images = try resolveImages()
        let locator = Stage1Locator(
            store: store,
            configured: .init(name: config.stage1.name, version: config.stage1.version, location: config.stage1.location,
                              imagesDirectory: config.paths.stage1Images ?? Configuration.defaultStage1ImagesDir),
            binaryDirectory: Self.binaryDirectory, logger: logger)
        let stage1Key = try locator.locate(arguments.stage1)
        // Refuse a stage1 we could not start before making a pod for it.
        let entrypoints = try Stage1Manifest.entrypoints(imageManifest: try store.manifestData(key: stage1Key))
        if entrypoints.isLegacy || entrypoints.run == nil {
            throw CommandError("stage1 image \(ImageKey.short(stage1Key)) has no \(Stage1Manifest.runAnnotation) entrypoint or no \(Stage1Manifest.protocolAnnotation) annotation")
        }
        var environmentFiles: [String: String] = [:]
        for path in arguments.setEnvironmentFiles {
            do { environmentFiles[path] = String(decoding: try FileSystem.read(path), as: UTF8.self) } catch {
                throw CommandError("--set-env-file \(path): \(error)")
            }
        }
        let podManifestFile: Data? = try arguments.podManifestPath.map { path in
            do { return try FileSystem.read(path) } catch { throw CommandError("--pod-manifest \(path): \(error)") }
        }
        let preparer = PodPreparer(store: store, pods: pods, logger: logger)
        var trees: [String: RenderedTree] = [:]
        let manifest = try preparer.podManifest(arguments: arguments, images: images, environment: ProcessInfo.processInfo.environment,
                                                environmentFiles: environmentFiles, podManifestFile: podManifestFile, trees: &trees)
        let locked = try pods.createPod()
        try preparer.lay(out: locked, manifest: manifest, stage1Key: stage1Key, noOverlay: arguments.noOverlay, trees: trees)
        if let file = arguments.uuidFileSave {
            try FileSystem.writeAtomically(Data(locked.pod.uuid.utf8), to: file, mode: 0o644, sync: false)
        }
        return (locked, manifest)
    }

    static var binaryDirectory: String {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        return FileSystem.parentDirectory(of: exe)
    }
}

/// Commands that take rkt's app syntax after their name, parsed by RktPods rather than by
/// swift-argument-parser. Global flags given before the command name come from the root command;
/// after it they are part of the app syntax (an option group here would fight the capture).
protocol AppSyntaxCommand: ParsableCommand {
    var root: RktMain { get }
    var arguments: [String] { get }
    static var runCommand: RunCommand { get }
}

extension AppSyntaxCommand {
    func launch() throws -> PodLaunch {
        if let first = arguments.first, first == "--help" || first == "-h" { throw CleanExit.helpRequest(self) }
        return try PodLaunch(argv: AppSeparatorEscape.unescape(arguments), command: Self.runCommand, global: root.global)
    }
}

/// rkt's app separator `---` through ArgumentParser, which reads a word starting with `--` as an
/// option even in a passthrough capture until a `--` has come ("Invalid option: ---"), though rkt
/// takes `---` between apps whether or not app arguments precede it. `RktMain` escapes every `---`
/// after the `run`/`prepare` command word into a word ArgumentParser passes through, and
/// `AppSyntaxCommand.launch` restores it; the shortcut path never escapes.
enum AppSeparatorEscape {
    static let separator = "---"
    /// Starts with a control character, so no command line can mean it literally.
    static let escaped = "\u{1}---"

    static func escape(_ argv: [String]) -> [String] {
        guard let command = argv.firstIndex(where: { RunCommand(rawValue: $0) != nil }) else { return argv }
        return Array(argv[...command]) + argv[(command + 1)...].map { $0 == separator ? escaped : $0 }
    }

    static func unescape(_ arguments: [String]) -> [String] {
        arguments.map { $0 == escaped ? separator : $0 }
    }
}

/// `rkt [GLOBAL FLAGS] run|prepare ARGS...` without ArgumentParser, whose reflection over the
/// command tree cost about 4 ms of each pod start in this large static binary. Taken only for
/// command lines ArgumentParser would read the same way: global flags in their `--NAME=VALUE` /
/// `--NAME` forms (names and defaults from `GlobalOptions`), each at most once, then the command
/// word, then anything but a built-in flag (help, version, completion); the rest is rkt's app
/// syntax, which `PodLaunch` parses (RktPods) on either path. Everything else goes to
/// ArgumentParser. Tests check both paths agree.
struct AppSyntaxShortcut {
    let command: RunCommand
    let global: GlobalOptions
    let arguments: [String]

    init?(_ argv: [String]) {
        var global = GlobalOptions.defaults
        var seen: Set<GlobalOptions.Name> = []
        var index = 0
        while index < argv.count, argv[index].hasPrefix("-") {
            guard let name = global.applyShortcutFlag(argv[index]), seen.insert(name).inserted else { return nil }
            index += 1
        }
        guard index < argv.count, let command = RunCommand(rawValue: argv[index]) else { return nil }
        let arguments = Array(argv[(index + 1)...])
        guard !arguments.contains(where: Self.mayBeBuiltInFlag) else { return nil }
        self.command = command
        self.global = global
        self.arguments = arguments
    }

    /// ArgumentParser's own flags (`-h`, `--help`, `-help`, `--version`, ...) and any short-flag
    /// cluster that could hold `-h`: left to ArgumentParser wherever they appear. (`---` is rkt's
    /// app separator, read here as on the ArgumentParser path: AppSeparatorEscape.)
    static func mayBeBuiltInFlag(_ word: String) -> Bool {
        if word.hasPrefix("--") {
            return ["--help", "--version", "--experimental-dump-help", "--generate-completion-script"].contains { word == $0 || word.hasPrefix($0 + "=") }
        }
        return word.hasPrefix("-") && word.contains("h")
    }

    func execute() throws {
        let launch = try PodLaunch(argv: arguments, command: command, global: global)
        switch command {
        case .run: try Run.start(launch)
        case .prepare: try Prepare.start(launch)
        }
    }
}

/// `rkt prepare IMAGE...`: lay out a pod and print its UUID.
struct Prepare: AppSyntaxCommand {
    static let configuration = CommandConfiguration(
        commandName: "prepare",
        abstract: "Prepare to run image(s) in a pod",
        discussion: "Takes rkt's app syntax: [flags] IMAGE [app flags] [-- args] [--- IMAGE ...]. See Documentation/commands.md.")
    static let runCommand = RunCommand.prepare

    @ParentCommand var root: RktMain
    @Argument(parsing: .captureForPassthrough, help: "images, their flags and arguments") var arguments: [String] = []

    func run() throws { try Self.start(try launch()) }

    static func start(_ launch: PodLaunch) throws {
        let pod = try launch.pods.markPrepared(try launch.prepare().locked)
        Output.print(pod.uuid + "\n")
    }
}

/// `rkt run IMAGE...`: prepare a pod and exec its stage1; exits with the pod's status.
struct Run: AppSyntaxCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run image(s) in a pod",
        discussion: "Takes rkt's app syntax: [flags] IMAGE [app flags] [-- args] [--- IMAGE ...]. See Documentation/commands.md.")
    static let runCommand = RunCommand.run

    @ParentCommand var root: RktMain
    @Argument(parsing: .captureForPassthrough, help: "images, their flags and arguments") var arguments: [String] = []

    func run() throws { try Self.start(try launch()) }

    static func start(_ launch: PodLaunch) throws {
        let flags = try StageOneRun.checkFlags(launch.arguments, global: launch.global, logger: launch.logger)
        let prepared = try launch.prepare()
        let running = try launch.pods.markRunning(prepared.locked)
        try StageOneRun.exec(running, manifest: prepared.manifest, flags: flags, arguments: launch.arguments, global: launch.global, logger: launch.logger)
    }
}

/// `rkt run-prepared UUID`.
struct RunPrepared: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "run-prepared", abstract: "Run a prepared application pod in rkt")

    @OptionGroup(title: "Global options") var global: GlobalOptions

    @Option(help: "network to use: host, none, default, or a comma list") var net: [String] = []
    @Option(help: "name server for the pod's resolv.conf (repeatable; 'host' copies the host's, 'none' writes none)") var dns: [String] = []
    @Option(name: .customLong("dns-search"), help: "DNS search domain (repeatable)") var dnsSearch: [String] = []
    @Option(name: .customLong("dns-opt"), help: "DNS resolver option (repeatable)") var dnsOpt: [String] = []
    @Option(name: .customLong("dns-domain"), help: "DNS local domain") var dnsDomain: String?
    @Option(name: .customLong("hosts-entry"), help: "IP=HOSTNAME for the pod's /etc/hosts (repeatable; 'host' copies the host's)") var hostsEntry: [String] = []
    @Option(help: "pod hostname") var hostname: String?
    @Option(help: "IPC namespace: auto, private or parent") var ipc: String?
    @Flag(help: "run the pod interactively") var interactive = false
    @Option(name: .customLong("mds-register"), help: "accepted for compatibility: there is no metadata service") var mdsRegister: Bool?

    @Argument(help: "pod UUID or prefix") var uuid: String

    func run() throws {
        try global.requireRoot()
        // The same flags and checks as `rkt run` (RktPods.AppArguments), without images.
        var flags = net.map { "--net=\($0)" } + dns.map { "--dns=\($0)" } + dnsSearch.map { "--dns-search=\($0)" }
            + dnsOpt.map { "--dns-opt=\($0)" } + hostsEntry.map { "--hosts-entry=\($0)" }
        if let dnsDomain { flags.append("--dns-domain=\(dnsDomain)") }
        if let hostname { flags.append("--hostname=\(hostname)") }
        if let ipc { flags.append("--ipc=\(ipc)") }
        if interactive { flags.append("--interactive") }
        if let mdsRegister { flags.append("--mds-register=\(mdsRegister)") }
        let arguments: RunArguments
        do { arguments = try AppArguments.parse(flags, command: .run) } catch { throw CommandError(error.message) }
        let logger = global.makeLogger("rkt.stage0")
        let checked = try StageOneRun.checkFlags(arguments, global: global, logger: logger)
        let pods = try global.podStore()
        let locked = try pods.lockPrepared(uuid)
        let running = try pods.markRunning(locked)
        try StageOneRun.exec(running, flags: checked, arguments: arguments, global: global, logger: logger)
    }
}

/// Builds the run request for a pod in run/ and execs its stage1.
enum StageOneRun {
    /// The pod-level flags that need no pod (--ipc, --hosts-entry, --dns*, the syntax and names of
    /// --net), checked before a pod is created or leaves prepared/, so a typo costs no pod; `exec`
    /// takes what they resolved to.
    static func checkFlags(_ arguments: RunArguments, global: GlobalOptions, logger: Logger) throws -> CheckedFlags {
        let ipc = try ipcMode(arguments)
        let networks = try PodNetworking.checkSelection(arguments: arguments, global: global, logger: logger)
        let (hostsMode, hostsEntries) = try PodNetworking.hosts(arguments: arguments)
        _ = try PodNetworking.dnsConfig(arguments: arguments, fromNetworks: nil)
        return CheckedFlags(ipc: ipc, networks: networks, hostsMode: hostsMode, hostsEntries: hostsEntries)
    }

    struct CheckedFlags {
        let ipc: IPCMode
        let networks: PodNetworking.CheckedSelection
        let hostsMode: HostsMode
        let hostsEntries: [HostsEntry]
    }

    static func ipcMode(_ arguments: RunArguments) throws -> IPCMode {
        let ipc: IPCMode = arguments.ipc.map { IPCMode(rawValue: $0) } ?? .auto
        guard [IPCMode.auto, .private, .parent].contains(ipc) else { throw CommandError("--ipc=\(ipc.rawValue): want auto, private or parent") }
        return ipc
    }

    /// `manifest`: the pod's manifest when the caller has it; otherwise it is read from the pod.
    static func exec(_ running: LockedPod, manifest known: PodManifest? = nil, flags: CheckedFlags, arguments: RunArguments,
                     global: GlobalOptions, logger: Logger) throws -> Never {
        let pod = running.pod
        let launcher = try Stage1Launcher(pod: pod, logger: logger, debug: global.debug)
        let manifest = try known ?? pod.manifest()
        var apps: [RunApp] = []
        for app in manifest.apps {
            let resolved = try app.app.map { try ResolvedApp($0) }
                ?? ResolvedApp(try FileSystem.read(pod.stage1Rootfs + "/opt/stage2/\(app.name.rawValue)/manifest")).flatMap { $0 }
            apps.append(RunApp(name: app.name.rawValue, stage1Rootfs: pod.stage1Rootfs, imageID: app.image.id?.description ?? "", appManifest: resolved))
        }
        let describe = try launcher.describe()
        // --net: the pod's namespace and CNI networks are set up here, before stage1 runs; a
        // failure undoes them, and rkt gc undoes them after the pod (Documentation/networking.md).
        let network = try PodNetworking.prepare(pod: pod, checked: flags.networks, manifest: manifest, apps: apps, describe: describe,
                                                global: global, logger: logger)
        let payload = RunPayload(apps: apps, net: network.net, networks: network.networks,
                                 dns: try PodNetworking.dnsConfig(arguments: arguments, fromNetworks: describe.supports(.dns) ? network.dns : nil),
                                 hostsMode: flags.hostsMode, hostsEntries: flags.hostsEntries, hostname: arguments.hostname, interactive: arguments.interactive,
                                 insecureOptions: global.insecureOptions.enabled.map(\.rawValue).sorted(), ipc: flags.ipc, localConfig: global.localConfig,
                                 networkNamespace: network.namespace, networkAttachments: network.attachments)
        do {
            try launcher.execRun(payload, lock: running.lock, manifest: manifest, describe: describe)
        } catch {
            // exec did not happen (stage1 refused the request): nothing will use the networks.
            if network.namespace != nil { try? PodNetworking.tearDown(pod: pod, global: global, logger: logger) }
            throw error
        }
    }
}

extension ResolvedApp {
    /// The app section of a stored image manifest, when the pod manifest carries none.
    init?(_ imageManifest: Data) throws {
        guard let object = try JSONSerialization.jsonObject(with: imageManifest) as? [String: Any], let app = object["app"] else { return nil }
        self = try JSONDecoder().decode(ResolvedApp.self, from: try JSONSerialization.data(withJSONObject: app))
    }
}
