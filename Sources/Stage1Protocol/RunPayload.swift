import Foundation

/// `run`: start the pod.
public struct RunPayload: Codable, Sendable, Equatable {
    /// The pod's apps, in pod-manifest order; never empty.
    public var apps: [RunApp]
    /// The network mode.
    public var net: NetworkMode
    /// The networks to join, in order, with their CNI arguments (`net` = `list`; with `default`,
    /// at most one entry named `default` carrying its arguments).
    public var networks: [Network]
    /// DNS configuration for the apps' `/etc/resolv.conf`.
    public var dns: DNSConfig
    /// How the apps' `/etc/hosts` is made.
    public var hostsMode: HostsMode
    /// The entries of `/etc/hosts` when `hostsMode` is `stage0`.
    public var hostsEntries: [HostsEntry]
    /// The pod's hostname; nil = the plugin's default (rkt: `rkt-<uuid>`).
    public var hostname: String?
    /// Connect the (single) app's stdin/stdout/stderr to the plugin's own.
    public var interactive: Bool
    /// Protections the user turned off (`--insecure-options`): e.g. `capabilities`, `paths`, `seccomp`.
    public var insecureOptions: [String]
    /// Token to register the pod with the metadata service (`--mds-register`).
    public var mdsToken: String?
    /// The UID/GID shift for a user namespace (`--private-users`); nil = no user namespace.
    public var privateUsers: PrivateUsers?
    /// The IPC namespace mode.
    public var ipc: IPCMode
    /// The local configuration directory (`--local-config`, default `/etc/rkt`).
    public var localConfig: String
    /// The pod lock's descriptor (same as `RKT_LOCK_FD`); nil when stage0 holds no lock.
    public var lockFD: Int32?
    /// A network namespace stage0 already set up through CNI (a bind mount such as
    /// `/var/run/netns/rkt-<uuid>`). When present, every process of the pod joins it and the plugin
    /// creates no network namespace of its own. Absent with `net` = `host` (the host's namespace) and
    /// with `net` = `none` when stage0 left it to the plugin (a new namespace with only loopback).
    public var networkNamespace: String?
    /// What each CNI network gave the pod, in attach order; absent when no CNI network was set up.
    public var networkAttachments: [NetworkAttachment]?
    /// The service manager's notification socket (`NOTIFY_SOCKET` of stage0: an absolute path, or
    /// `@name` for an abstract socket) when `rkt run` runs as a systemd `Type=notify` service: the
    /// plugin reports the pod's readiness there (sd_notify). Absent otherwise.
    public var notifySocket: String?

    public init(
        apps: [RunApp], net: NetworkMode = .default, networks: [Network] = [], dns: DNSConfig = DNSConfig(),
        hostsMode: HostsMode = .default, hostsEntries: [HostsEntry] = [], hostname: String? = nil,
        interactive: Bool = false, insecureOptions: [String] = [], mdsToken: String? = nil,
        privateUsers: PrivateUsers? = nil, ipc: IPCMode = .auto, localConfig: String = "/etc/rkt",
        lockFD: Int32? = nil, networkNamespace: String? = nil, networkAttachments: [NetworkAttachment]? = nil,
        notifySocket: String? = nil
    ) {
        self.apps = apps
        self.net = net
        self.networks = networks
        self.dns = dns
        self.hostsMode = hostsMode
        self.hostsEntries = hostsEntries
        self.hostname = hostname
        self.interactive = interactive
        self.insecureOptions = insecureOptions
        self.mdsToken = mdsToken
        self.privateUsers = privateUsers
        self.ipc = ipc
        self.localConfig = localConfig
        self.lockFD = lockFD
        self.networkNamespace = networkNamespace
        self.networkAttachments = networkAttachments
        self.notifySocket = notifySocket
    }

    enum CodingKeys: String, CodingKey {
        case apps, net, networks, dns, hostsMode, hostsEntries, hostname, interactive, insecureOptions
        case mdsToken, privateUsers, ipc, localConfig, lockFD, networkNamespace, networkAttachments, notifySocket
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apps = try c.decode([RunApp].self, forKey: .apps)
        net = try c.decodeIfPresent(NetworkMode.self, forKey: .net) ?? .default
        networks = try c.decodeIfPresent([Network].self, forKey: .networks) ?? []
        dns = try c.decodeIfPresent(DNSConfig.self, forKey: .dns) ?? DNSConfig()
        hostsMode = try c.decodeIfPresent(HostsMode.self, forKey: .hostsMode) ?? .default
        hostsEntries = try c.decodeIfPresent([HostsEntry].self, forKey: .hostsEntries) ?? []
        hostname = try c.decodeIfPresent(String.self, forKey: .hostname)
        interactive = try c.decodeIfPresent(Bool.self, forKey: .interactive) ?? false
        insecureOptions = try c.decodeIfPresent([String].self, forKey: .insecureOptions) ?? []
        mdsToken = try c.decodeIfPresent(String.self, forKey: .mdsToken)
        privateUsers = try c.decodeIfPresent(PrivateUsers.self, forKey: .privateUsers)
        ipc = try c.decodeIfPresent(IPCMode.self, forKey: .ipc) ?? .auto
        localConfig = try c.decodeIfPresent(String.self, forKey: .localConfig) ?? "/etc/rkt"
        lockFD = try c.decodeIfPresent(Int32.self, forKey: .lockFD)
        networkNamespace = try c.decodeIfPresent(String.self, forKey: .networkNamespace)
        networkAttachments = try c.decodeIfPresent([NetworkAttachment].self, forKey: .networkAttachments)
        notifySocket = try c.decodeIfPresent(String.self, forKey: .notifySocket)
    }
}

/// One app of a `run` request.
public struct RunApp: Codable, Sendable, Equatable {
    /// The app name (appc AC name, unique in the pod).
    public var name: String
    /// The app's root filesystem, absolute (`<stage1Rootfs>/opt/stage2/<name>/rootfs`).
    public var rootfs: String
    /// The app image's manifest, absolute (`<stage1Rootfs>/opt/stage2/<name>/manifest`).
    public var imageManifestPath: String
    /// The app image's ID (`sha512-…`).
    public var imageID: String
    /// The app as stage0 resolved it (image app + pod-manifest and command-line overrides), in the
    /// shape of appc's `app` object; nil = read it from the pod manifest and the image manifest.
    public var appManifest: ResolvedApp?

    public init(name: String, rootfs: String, imageManifestPath: String, imageID: String, appManifest: ResolvedApp? = nil) {
        self.name = name
        self.rootfs = rootfs
        self.imageManifestPath = imageManifestPath
        self.imageID = imageID
        self.appManifest = appManifest
    }

    /// The standard layout under `pod.stage1Rootfs`.
    public init(name: String, stage1Rootfs: String, imageID: String, appManifest: ResolvedApp? = nil) {
        let base = stage1Rootfs + "/opt/stage2/" + name
        self.init(name: name, rootfs: base + "/rootfs", imageManifestPath: base + "/manifest", imageID: imageID, appManifest: appManifest)
    }
}

/// appc's `app` object after stage0 applied overrides. Members keep appc's names and meanings.
public struct ResolvedApp: Codable, Sendable, Equatable {
    /// The command and arguments; `exec[0]` is an absolute path inside the app's rootfs.
    public var exec: [String]?
    /// User to run as: a numeric UID, a user name, or an absolute path whose owner is the user.
    public var user: String
    /// Group to run as, in the same forms as `user`.
    public var group: String
    public var supplementaryGIDs: [Int]?
    /// Working directory inside the app's rootfs; nil = `/`.
    public var workingDirectory: String?
    /// Environment, in order; later entries win.
    public var environment: [NameValue]?
    public var eventHandlers: [EventHandler]?
    /// Isolators; `value` is kept as JSON.
    public var isolators: [Isolator]?
    public var mountPoints: [MountPoint]?
    public var ports: [Port]?
    public var annotations: [NameValue]?

    public init(
        exec: [String]? = nil, user: String = "0", group: String = "0", supplementaryGIDs: [Int]? = nil,
        workingDirectory: String? = nil, environment: [NameValue]? = nil, eventHandlers: [EventHandler]? = nil,
        isolators: [Isolator]? = nil, mountPoints: [MountPoint]? = nil, ports: [Port]? = nil,
        annotations: [NameValue]? = nil
    ) {
        self.exec = exec
        self.user = user
        self.group = group
        self.supplementaryGIDs = supplementaryGIDs
        self.workingDirectory = workingDirectory
        self.environment = environment
        self.eventHandlers = eventHandlers
        self.isolators = isolators
        self.mountPoints = mountPoints
        self.ports = ports
        self.annotations = annotations
    }
}

/// A `{"name", "value"}` pair (environment variables, annotations).
public struct NameValue: Codable, Sendable, Hashable {
    public var name: String
    public var value: String
    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

public struct EventHandler: Codable, Sendable, Equatable {
    /// `pre-start` or `post-stop`.
    public var name: String
    public var exec: [String]
    public init(name: String, exec: [String]) {
        self.name = name
        self.exec = exec
    }
}

public struct Isolator: Codable, Sendable, Equatable {
    /// e.g. `resource/memory`, `os/linux/capabilities-retain-set`.
    public var name: String
    public var value: JSONValue
    public init(name: String, value: JSONValue) {
        self.name = name
        self.value = value
    }
}

public struct MountPoint: Codable, Sendable, Equatable {
    public var name: String
    public var path: String
    public var readOnly: Bool?
    public init(name: String, path: String, readOnly: Bool? = nil) {
        self.name = name
        self.path = path
        self.readOnly = readOnly
    }
}

public struct Port: Codable, Sendable, Equatable {
    public var name: String
    public var `protocol`: String
    public var port: Int
    public var count: Int?
    public var socketActivated: Bool?
    public init(name: String, protocol: String, port: Int, count: Int? = nil, socketActivated: Bool? = nil) {
        self.name = name
        self.protocol = `protocol`
        self.port = port
        self.count = count
        self.socketActivated = socketActivated
    }
}

/// `run.net`.
public struct NetworkMode: ExtensibleStringValue {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The host's network namespace.
    public static let host: NetworkMode = "host"
    /// A new network namespace with only a loopback interface.
    public static let none: NetworkMode = "none"
    /// rkt's default network (plus loopback), through CNI.
    public static let `default`: NetworkMode = "default"
    /// The networks listed in `run.networks`, through CNI.
    public static let list: NetworkMode = "list"
}

/// A network to join, by CNI configuration name.
public struct Network: Codable, Sendable, Equatable {
    /// The name: `default`, `default-restricted`, or a network configured in `<localConfig>/net.d`.
    public var name: String
    /// CNI_ARGS for this network, `K=V` pairs separated by `;` (rkt's `--net=name:IP=…;K=V`).
    public var args: String?
    public init(name: String, args: String? = nil) {
        self.name = name
        self.args = args
    }
}

/// One CNI network attached to the pod's network namespace (`run.networkAttachments`).
public struct NetworkAttachment: Codable, Sendable, Equatable {
    /// The network's name (its configuration's `name`).
    public var name: String
    /// The interface inside the pod's namespace (`eth0`, `eth1`, … in attach order).
    public var interface: String
    /// The addresses with prefix length (`10.1.2.3/24`, `fd00::3/64`) the network gave the interface.
    public var ips: [String]
    /// The CNI result exactly as the plugin chain returned it (any CNI version); nil if none.
    public var result: JSONValue?
    public init(name: String, interface: String, ips: [String] = [], result: JSONValue? = nil) {
        self.name = name
        self.interface = interface
        self.ips = ips
        self.result = result
    }
}

/// `run.dns.mode`: where the apps' `/etc/resolv.conf` comes from.
public struct DNSMode: ExtensibleStringValue {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The plugin's policy (rkt: from the network plugins' results, else untouched).
    public static let `default`: DNSMode = "default"
    /// The host's `/etc/resolv.conf`.
    public static let host: DNSMode = "host"
    /// Generated from `servers`, `search`, `options`, `domain`.
    public static let stage0: DNSMode = "stage0"
    /// Left exactly as the image has it.
    public static let none: DNSMode = "none"
}

/// `run.dns`.
public struct DNSConfig: Codable, Sendable, Equatable {
    public var mode: DNSMode
    /// Name server addresses (`--dns`), in order.
    public var servers: [String]
    /// Search domains (`--dns-search`).
    public var search: [String]
    /// resolv.conf options (`--dns-opt`), e.g. `ndots:2`.
    public var options: [String]
    /// The local domain (`--dns-domain`).
    public var domain: String?

    public init(mode: DNSMode = .default, servers: [String] = [], search: [String] = [], options: [String] = [], domain: String? = nil) {
        self.mode = mode
        self.servers = servers
        self.search = search
        self.options = options
        self.domain = domain
    }

    enum CodingKeys: String, CodingKey { case mode, servers, search, options, domain }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mode = try c.decodeIfPresent(DNSMode.self, forKey: .mode) ?? .default
        servers = try c.decodeIfPresent([String].self, forKey: .servers) ?? []
        search = try c.decodeIfPresent([String].self, forKey: .search) ?? []
        options = try c.decodeIfPresent([String].self, forKey: .options) ?? []
        domain = try c.decodeIfPresent(String.self, forKey: .domain)
    }
}

/// `run.hostsMode`: where the apps' `/etc/hosts` comes from.
public struct HostsMode: ExtensibleStringValue {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The plugin's policy (rkt: keep the image's file, else write localhost + hostname).
    public static let `default`: HostsMode = "default"
    /// The host's `/etc/hosts`.
    public static let host: HostsMode = "host"
    /// Generated from `run.hostsEntries`.
    public static let stage0: HostsMode = "stage0"
}

/// One `/etc/hosts` line (`--hosts-entry IP=HOST`).
public struct HostsEntry: Codable, Sendable, Equatable {
    public var ip: String
    public var hostnames: [String]
    public init(ip: String, hostnames: [String]) {
        self.ip = ip
        self.hostnames = hostnames
    }
}

/// `run.ipc`.
public struct IPCMode: ExtensibleStringValue {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    /// The plugin's default (rkt: a private IPC namespace per pod).
    public static let auto: IPCMode = "auto"
    /// A new IPC namespace for the pod.
    public static let `private`: IPCMode = "private"
    /// The host's (stage0's) IPC namespace.
    public static let parent: IPCMode = "parent"
}

/// `run.privateUsers`: container UID/GID 0 maps to host `shift`, for `count` IDs.
public struct PrivateUsers: Codable, Sendable, Equatable {
    public var shift: UInt32
    public var count: UInt32
    public init(shift: UInt32, count: UInt32) {
        self.shift = shift
        self.count = count
    }
}
