import Foundation

/// The operation a request asks for (the request's `command` member).
public enum Stage1Command: String, Codable, Sendable, CaseIterable {
    /// Start the pod. Exec'd by stage0: the plugin replaces the `rkt` process.
    case run
    /// Run a command inside a running app. Exec'd by stage0, stdio = the user's terminal.
    case enter
    /// Release what the pod holds outside its directory. Called as a child.
    case gc
    /// Stop a running pod. Called as a child.
    case stop
    /// Report the plugin's versions and features. Called as a child.
    case describe

    /// Whether stage0 execs the entrypoint (true) or runs it as a child and reads its stdout (false).
    public var isExecd: Bool { self == .run || self == .enter }

    /// The feature a plugin must list to receive this command (`describe` needs none).
    public var feature: Stage1Feature? {
        switch self {
        case .run: .run
        case .enter: .enter
        case .gc: .gc
        case .stop: .stop
        case .describe: nil
        }
    }
}

/// A named capability a plugin lists in its `describe` answer. Stage0 refuses a request that needs
/// a feature the plugin does not list, rather than letting the plugin silently ignore part of it.
/// Open: plugins and stage0 may agree on names not listed here.
public struct Stage1Feature: ExtensibleStringValue {
    public let rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }

    /// Accepts `run` requests (host and none networking, one app, no extras).
    public static let run: Stage1Feature = "run"
    /// Accepts `enter` requests.
    public static let enter: Stage1Feature = "enter"
    /// Accepts `stop` requests.
    public static let stop: Stage1Feature = "stop"
    /// Accepts `gc` requests.
    public static let gc: Stage1Feature = "gc"
    /// `run.interactive`: the app's stdio is connected to stage0's stdin/stdout/stderr.
    public static let interactive: Stage1Feature = "interactive"
    /// More than one app in `run.apps`.
    public static let multipleApps: Stage1Feature = "multiple-apps"
    /// `run.net` = `default` or `list`: the pod joins the network namespace stage0 set up through
    /// CNI (`run.networkNamespace`).
    public static let networks: Stage1Feature = "networks"
    /// `run.privateUsers`: a user namespace with a shifted UID/GID range.
    public static let privateUsers: Stage1Feature = "private-users"
    /// Apps with `isolators` (resource limits, capabilities, seccomp, …).
    public static let isolators: Stage1Feature = "isolators"
    /// Apps with `mountPoints`, or pod manifests with volumes.
    public static let volumes: Stage1Feature = "volumes"
    /// `run.ipc` = `private` or `parent`.
    public static let ipcModes: Stage1Feature = "ipc-modes"
    /// `run.hostname`.
    public static let hostname: Stage1Feature = "hostname"
    /// `run.dns.mode` = `host` or `stage0`.
    public static let dns: Stage1Feature = "dns"
    /// `run.hostsMode` = `host` or `stage0`.
    public static let hosts: Stage1Feature = "hosts"
    /// `run.mdsToken`: registration with the appc metadata service.
    public static let metadataService: Stage1Feature = "metadata-service"
    /// `run.notifySocket`: the plugin reports the pod's readiness to the service manager. Never
    /// required (a pod still runs without it); stage0 warns when the plugin does not list it.
    public static let notify: Stage1Feature = "notify"

    /// The features defined by protocol version 1.
    public static let allVersion1: [Stage1Feature] = [
        .run, .enter, .stop, .gc, .interactive, .multipleApps, .networks, .privateUsers, .isolators,
        .volumes, .ipcModes, .hostname, .dns, .hosts, .metadataService, .notify,
    ]
}
