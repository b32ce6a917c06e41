import Foundation
import RktTypes

/// Which subcommand's flag set `AppArguments.parse` accepts. `run` and `prepare`
/// share the app syntax and most flags; run-time flags (`--net`, `--dns*`,
/// `--hosts-entry`, `--hostname`, `--interactive`, `--mds-register`,
/// `--uuid-file-save`, `--ipc`) are `run` only and `--quiet` is `prepare` only,
/// as in rkt.
public enum RunCommand: String, Sendable, Hashable {
    case run, prepare
}

/// A flag exactly as it appeared: its long name without dashes (aliases are
/// kept as typed, e.g. `cap-retain`) and its value, nil for a bare boolean or
/// a bare `--net`.
public struct RawFlag: Sendable, Hashable, CustomStringConvertible {
    public var name: String
    public var value: String?

    public init(_ name: String, _ value: String? = nil) {
        self.name = name
        self.value = value
    }

    public var description: String {
        guard let value else { return "--\(name)" }
        return "--\(name)=\(value)"
    }
}

/// An app's standard stream mode (`--stdin`, `--stdout`, `--stderr`, the
/// attach experiment). `log` is valid for output streams only.
public enum StdioMode: String, Sendable, Hashable {
    case null, tty, stream, log
}

/// The `--seccomp mode=retain|remove[,errno=ENAME],SYSCALL|@group,...` override.
public struct SeccompOverride: Sendable, Hashable {
    public enum Mode: String, Sendable, Hashable {
        case retain, remove
    }

    public var mode: Mode
    public var errno: String?
    public var syscalls: [String]

    public init(mode: Mode, errno: String? = nil, syscalls: [String]) {
        self.mode = mode
        self.errno = errno
        self.syscalls = syscalls
    }

    /// Parses the flag value as rkt does (`apps.App.SeccompOverride`): items
    /// containing one `=` are `mode=` / `errno=` settings, every other item is a
    /// syscall name or `@group`. Stricter than rkt in that the mode is required,
    /// the set must not be empty and empty items are rejected.
    public static func parse(_ text: String) throws(AppArgumentsError) -> SeccompOverride {
        var mode: Mode?
        var errno: String?
        var syscalls: [String] = []
        for item in text.split(separator: ",", omittingEmptySubsequences: false).map(String.init) {
            let parts = item.split(separator: "=", omittingEmptySubsequences: false)
            if parts.count == 2 {
                let key = String(parts[0])
                let value = String(parts[1])
                switch key {
                case "mode":
                    guard let parsed = Mode(rawValue: value) else {
                        throw AppArgumentsError("invalid seccomp mode \"\(value)\" in --seccomp \"\(text)\" (must be retain or remove)")
                    }
                    mode = parsed
                case "errno":
                    errno = value
                default:
                    throw AppArgumentsError("invalid seccomp override \"\(item)\" in --seccomp \"\(text)\" (only mode= and errno= are settings)")
                }
            } else if item.isEmpty {
                throw AppArgumentsError("empty syscall name in --seccomp \"\(text)\"")
            } else {
                syscalls.append(item)
            }
        }
        guard let mode else {
            throw AppArgumentsError("--seccomp \"\(text)\" needs mode=retain or mode=remove")
        }
        if syscalls.isEmpty {
            throw AppArgumentsError("--seccomp \"\(text)\" names no syscalls")
        }
        let result = SeccompOverride(mode: mode, errno: errno, syscalls: syscalls)
        do throws(AppcError) {
            _ = try result.isolator()
        } catch {
            throw AppArgumentsError("invalid --seccomp \"\(text)\": \(error.message)")
        }
        return result
    }

    /// The matching `os/linux/seccomp-{retain,remove}-set` isolator.
    public func isolator() throws(AppcError) -> Isolator {
        let set = SeccompSet(syscalls: syscalls, errno: errno)
        switch mode {
        case .retain: return try Isolator(.seccompRetainSet(set))
        case .remove: return try Isolator(.seccompRemoveSet(set))
        }
    }
}

/// Stage1 image selection flags, kept raw; rkt allows at most one of them.
public struct Stage1Selection: Sendable, Hashable {
    public var name: String?
    public var hash: String?
    public var path: String?
    public var url: String?
    public var fromDir: String?

    public init(name: String? = nil, hash: String? = nil, path: String? = nil, url: String? = nil,
                fromDir: String? = nil) {
        self.name = name
        self.hash = hash
        self.path = path
        self.url = url
        self.fromDir = fromDir
    }

    public var isEmpty: Bool { name == nil && hash == nil && path == nil && url == nil && fromDir == nil }
}

/// One image on the `rkt run`/`rkt prepare` command line with the per-app
/// flags that followed it, and the parser for the whole command line.
///
/// Syntax: `[pod flags] IMAGE [app flags] [-- ARGS... [---]] IMAGE ...`.
/// Every non-flag word outside `--`…`---` starts a new app; `---` ends an app's
/// arguments (elsewhere it is ignored, as in rkt). Per-app flags apply to the
/// preceding image; `--mount` before the first image applies to all apps.
/// Pod-level flags are accepted anywhere outside app arguments (rkt's flag
/// parser knows them after an image too).
public struct AppArguments: Sendable, Hashable {
    /// The image reference as given (name, hash, path or URL).
    public var image: String
    /// `--signature`: a local signature file for this image.
    public var signature: String?
    /// `--name`; nil means the image name's last path component.
    public var name: ACName?
    /// `--exec`: replaces the image's exec[0].
    public var exec: String?
    /// Words after `--`; nil when there was no `--` for this image.
    public var arguments: [String]?
    public var workingDirectory: String?
    public var readOnlyRootFS: Bool?
    public var mounts: [Mount]
    public var user: String?
    public var group: String?
    /// `--supplementary-gids` (repeatable, values are appended).
    public var supplementaryGIDs: [Int]?
    /// `--memory`: limit (and request) of `resource/memory`.
    public var memoryLimit: Quantity?
    /// `--cpu`: limit (and request) of `resource/cpu`.
    public var cpuLimit: Quantity?
    public var cpuShares: Int?
    public var capsRetain: [String]?
    public var capsRemove: [String]?
    public var seccomp: SeccompOverride?
    public var oomScoreAdj: Int?
    /// `--annotation`: runtime-app annotations (last value per name wins).
    public var annotations: Annotations
    public var userAnnotations: [String: String]
    public var userLabels: [String: String]
    /// `--environment`, in order, last value per name wins.
    public var environment: [EnvironmentVariable]
    public var stdin: StdioMode?
    public var stdout: StdioMode?
    public var stderr: StdioMode?

    public init(image: String, signature: String? = nil, name: ACName? = nil, exec: String? = nil,
                arguments: [String]? = nil, workingDirectory: String? = nil, readOnlyRootFS: Bool? = nil,
                mounts: [Mount] = [], user: String? = nil, group: String? = nil, supplementaryGIDs: [Int]? = nil,
                memoryLimit: Quantity? = nil, cpuLimit: Quantity? = nil, cpuShares: Int? = nil,
                capsRetain: [String]? = nil, capsRemove: [String]? = nil, seccomp: SeccompOverride? = nil,
                oomScoreAdj: Int? = nil, annotations: Annotations = [], userAnnotations: [String: String] = [:],
                userLabels: [String: String] = [:], environment: [EnvironmentVariable] = [],
                stdin: StdioMode? = nil, stdout: StdioMode? = nil, stderr: StdioMode? = nil) {
        self.image = image
        self.signature = signature
        self.name = name
        self.exec = exec
        self.arguments = arguments
        self.workingDirectory = workingDirectory
        self.readOnlyRootFS = readOnlyRootFS
        self.mounts = mounts
        self.user = user
        self.group = group
        self.supplementaryGIDs = supplementaryGIDs
        self.memoryLimit = memoryLimit
        self.cpuLimit = cpuLimit
        self.cpuShares = cpuShares
        self.capsRetain = capsRetain
        self.capsRemove = capsRemove
        self.seccomp = seccomp
        self.oomScoreAdj = oomScoreAdj
        self.annotations = annotations
        self.userAnnotations = userAnnotations
        self.userLabels = userLabels
        self.environment = environment
        self.stdin = stdin
        self.stdout = stdout
        self.stderr = stderr
    }
}

/// Everything `rkt run`/`rkt prepare` was given: the apps and the pod-level
/// flags. Typed fields cover the flags this module needs or that have a fixed
/// syntax; `podFlags` lists every pod-level (and global) flag raw, in order, so
/// the command layer can validate the rest.
public struct RunArguments: Sendable, Hashable {
    public var command: RunCommand
    public var apps: [AppArguments]
    /// Every flag that was not a per-app flag, as typed.
    public var podFlags: [RawFlag]

    public var volumes: [Volume]
    /// `--mount` given before the first image: applies to every app.
    public var mounts: [Mount]
    /// `--set-env`, in order (a repeated name is an error, as in rkt).
    public var setEnvironment: [EnvironmentVariable]
    /// `--set-env-file` paths, in order (repeatable).
    public var setEnvironmentFiles: [String]
    public var inheritEnvironment: Bool
    public var hostname: String?
    public var podManifestPath: String?
    public var uuidFileSave: String?
    /// `--port NAME:[IP:]PORT`.
    public var ports: [ExposedPort]
    /// `--net` values, raw; a bare `--net` is recorded as `default`.
    public var networks: [String]
    public var dns: [String]
    public var dnsSearch: [String]
    public var dnsOptions: [String]
    public var dnsDomain: String?
    public var hostsEntries: [String]
    public var ipc: String?
    public var stage1: Stage1Selection
    public var interactive: Bool
    public var noOverlay: Bool
    public var quiet: Bool
    public var privateUsers: Bool
    public var mdsRegister: Bool
    public var pullPolicy: String?
    /// Deprecated `--store-only` (= `--pull-policy=never`).
    public var storeOnly: Bool
    /// Deprecated `--no-store` (= `--pull-policy=update`).
    public var noStore: Bool
    /// `--insecure-options` values, raw, in order.
    public var insecureOptions: [String]
    public var trustKeysFromHTTPS: Bool
    public var debug: Bool
    public var dataDirectory: String?
    public var localConfig: String?
    public var systemConfig: String?
    public var userConfig: String?

    public init(command: RunCommand = .run, apps: [AppArguments] = [], podFlags: [RawFlag] = [],
                volumes: [Volume] = [], mounts: [Mount] = [], setEnvironment: [EnvironmentVariable] = [],
                setEnvironmentFiles: [String] = [], inheritEnvironment: Bool = false, hostname: String? = nil,
                podManifestPath: String? = nil, uuidFileSave: String? = nil, ports: [ExposedPort] = [],
                networks: [String] = [], dns: [String] = [], dnsSearch: [String] = [], dnsOptions: [String] = [],
                dnsDomain: String? = nil, hostsEntries: [String] = [], ipc: String? = nil,
                stage1: Stage1Selection = Stage1Selection(), interactive: Bool = false, noOverlay: Bool = false,
                quiet: Bool = false, privateUsers: Bool = false, mdsRegister: Bool = false,
                pullPolicy: String? = nil, storeOnly: Bool = false, noStore: Bool = false,
                insecureOptions: [String] = [], trustKeysFromHTTPS: Bool = false, debug: Bool = false,
                dataDirectory: String? = nil, localConfig: String? = nil, systemConfig: String? = nil,
                userConfig: String? = nil) {
        self.command = command
        self.apps = apps
        self.podFlags = podFlags
        self.volumes = volumes
        self.mounts = mounts
        self.setEnvironment = setEnvironment
        self.setEnvironmentFiles = setEnvironmentFiles
        self.inheritEnvironment = inheritEnvironment
        self.hostname = hostname
        self.podManifestPath = podManifestPath
        self.uuidFileSave = uuidFileSave
        self.ports = ports
        self.networks = networks
        self.dns = dns
        self.dnsSearch = dnsSearch
        self.dnsOptions = dnsOptions
        self.dnsDomain = dnsDomain
        self.hostsEntries = hostsEntries
        self.ipc = ipc
        self.stage1 = stage1
        self.interactive = interactive
        self.noOverlay = noOverlay
        self.quiet = quiet
        self.privateUsers = privateUsers
        self.mdsRegister = mdsRegister
        self.pullPolicy = pullPolicy
        self.storeOnly = storeOnly
        self.noStore = noStore
        self.insecureOptions = insecureOptions
        self.trustKeysFromHTTPS = trustKeysFromHTTPS
        self.debug = debug
        self.dataDirectory = dataDirectory
        self.localConfig = localConfig
        self.systemConfig = systemConfig
        self.userConfig = userConfig
    }

    /// The flags rkt rejects together with `--pod-manifest` ("conflicting flags
    /// set with --pod-manifest"), as `--flag` names; empty when there are none.
    ///
    /// Taken from rkt 1.30's `rkt/run.go` and `rkt/prepare.go` (identical
    /// checks): any image argument (and so any per-app flag, which needs an
    /// image), `--volume`, `--mount`, `--port`, `--pull-policy=never|update`
    /// (also via the deprecated `--store-only`/`--no-store`), `--inherit-env`
    /// (when true), `--set-env` and `--set-env-file`. Not rejected, although
    /// the manifest makes them moot: `--hostname`, `--net`, `--dns*`,
    /// `--hosts-entry`, `--interactive`, `--no-overlay`, `--quiet`,
    /// `--private-users`, stage1 and global flags.
    public var podManifestConflicts: [String] {
        var conflicts: [String] = []
        if !apps.isEmpty { conflicts.append("image arguments") }
        if !volumes.isEmpty { conflicts.append("--volume") }
        if !mounts.isEmpty { conflicts.append("--mount") }
        if !ports.isEmpty { conflicts.append("--port") }
        if pullPolicy == "never" || pullPolicy == "update" { conflicts.append("--pull-policy=\(pullPolicy!)") }
        if storeOnly { conflicts.append("--store-only") }
        if noStore { conflicts.append("--no-store") }
        if inheritEnvironment { conflicts.append("--inherit-env") }
        if !setEnvironment.isEmpty { conflicts.append("--set-env") }
        if !setEnvironmentFiles.isEmpty { conflicts.append("--set-env-file") }
        return conflicts
    }
}

/// A command-line error from `AppArguments.parse`; the message names the flag
/// and where it appeared.
public struct AppArgumentsError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}

// MARK: - Parsing

extension AppArguments {
    /// Parses the words after `rkt run` / `rkt prepare`.
    public static func parse(_ argv: [String], command: RunCommand = .run) throws(AppArgumentsError) -> RunArguments {
        var parser = ArgumentParser(command: command)
        try parser.parse(argv)
        return parser.result
    }
}

/// How a flag takes its value (pflag semantics).
enum FlagArity {
    /// `--f=v` or `--f v`.
    case value
    /// Go bool: `--f` (true) or `--f=bool`; never takes the next word.
    case bool
    /// `--f` alone means `defaultValue`, else `--f=v`; never takes the next word.
    case optional(defaultValue: String)
}

enum FlagScope {
    /// Belongs to the pod (or is global); allowed anywhere outside app arguments.
    case pod
    /// Applies to the preceding image.
    case app
}

struct FlagSpec {
    let name: String
    let arity: FlagArity
    let scope: FlagScope
    /// Commands accepting the flag; nil means both.
    let only: RunCommand?

    init(_ name: String, _ arity: FlagArity = .value, _ scope: FlagScope = .pod, only: RunCommand? = nil) {
        self.name = name
        self.arity = arity
        self.scope = scope
        self.only = only
    }
}

enum FlagTable {
    static let specs: [String: FlagSpec] = {
        let list: [FlagSpec] = [
            // Global (persistent) flags.
            FlagSpec("dir"), FlagSpec("local-config"), FlagSpec("system-config"), FlagSpec("user-config"),
            FlagSpec("insecure-options"), FlagSpec("trust-keys-from-https", .bool), FlagSpec("debug", .bool),
            FlagSpec("cpuprofile"), FlagSpec("memprofile"), FlagSpec("help", .bool),
            // Stage1 selection.
            FlagSpec("stage1-url"), FlagSpec("stage1-path"), FlagSpec("stage1-name"), FlagSpec("stage1-hash"),
            FlagSpec("stage1-from-dir"),
            // Pod-level, both commands.
            FlagSpec("port"), FlagSpec("inherit-env", .bool), FlagSpec("no-overlay", .bool),
            FlagSpec("private-users", .bool), FlagSpec("set-env"), FlagSpec("set-env-file"),
            FlagSpec("store-only", .bool), FlagSpec("no-store", .bool), FlagSpec("pull-policy"),
            FlagSpec("pod-manifest"), FlagSpec("volume"),
            // Pod-level, run only.
            FlagSpec("net", .optional(defaultValue: "default"), only: .run),
            FlagSpec("interactive", .bool, only: .run), FlagSpec("dns", only: .run),
            FlagSpec("dns-search", only: .run), FlagSpec("dns-opt", only: .run), FlagSpec("dns-domain", only: .run),
            FlagSpec("hosts-entry", only: .run), FlagSpec("mds-register", .bool, only: .run),
            FlagSpec("uuid-file-save", only: .run), FlagSpec("hostname", only: .run), FlagSpec("ipc", only: .run),
            // Pod-level, prepare only.
            FlagSpec("quiet", .bool, only: .prepare),
            // Per-app flags.
            FlagSpec("signature", .value, .app), FlagSpec("exec", .value, .app),
            FlagSpec("working-dir", .value, .app), FlagSpec("readonly-rootfs", .bool, .app),
            FlagSpec("mount", .value, .app), FlagSpec("user", .value, .app), FlagSpec("group", .value, .app),
            FlagSpec("supplementary-gids", .value, .app), FlagSpec("name", .value, .app),
            FlagSpec("annotation", .value, .app), FlagSpec("user-annotation", .value, .app),
            FlagSpec("user-label", .value, .app), FlagSpec("environment", .value, .app),
            FlagSpec("stdin", .value, .app), FlagSpec("stdout", .value, .app), FlagSpec("stderr", .value, .app),
            // Isolator flags (per app); cap-retain/cap-remove are rkt's deprecated
            // spellings, oom-score-adjust the one its documentation uses.
            FlagSpec("memory", .value, .app), FlagSpec("cpu", .value, .app), FlagSpec("cpu-shares", .value, .app),
            FlagSpec("caps-retain", .value, .app), FlagSpec("caps-remove", .value, .app),
            FlagSpec("cap-retain", .value, .app), FlagSpec("cap-remove", .value, .app),
            FlagSpec("seccomp", .value, .app), FlagSpec("oom-score-adj", .value, .app),
            FlagSpec("oom-score-adjust", .value, .app),
        ]
        return Dictionary(uniqueKeysWithValues: list.map { ($0.name, $0) })
    }()
}

/// `0`…`9` only.
func isDecimalDigit(_ character: Character) -> Bool {
    character.isASCII && character.isNumber
}

/// Go `strconv.ParseBool`.
func parseGoBool(_ text: String) -> Bool? {
    switch text {
    case "1", "t", "T", "TRUE", "true", "True": true
    case "0", "f", "F", "FALSE", "false", "False": false
    default: nil
    }
}

/// Go `strconv.Atoi` (optional sign, decimal digits).
func parseGoInt(_ text: String) -> Int? {
    let digits = text.hasPrefix("+") || text.hasPrefix("-") ? text.dropFirst() : Substring(text)
    guard !digits.isEmpty, digits.allSatisfy(isDecimalDigit) else { return nil }
    return Int(text.hasPrefix("+") ? String(digits) : text)
}

/// Splits `K=V` at the first `=`; nil without one or with an empty key.
func splitKeyValue(_ text: String) -> (key: String, value: String)? {
    guard let equals = text.firstIndex(of: "="), equals != text.startIndex else { return nil }
    return (String(text[..<equals]), String(text[text.index(after: equals)...]))
}

private struct ArgumentParser {
    var result: RunArguments
    var signaturesSeen = Set<Int>()
    var execSeen = Set<Int>()

    init(command: RunCommand) {
        result = RunArguments(command: command)
    }

    var position: String {
        guard let last = result.apps.last else { return "before the first image" }
        return "after image \(result.apps.count) (\"\(last.image)\")"
    }

    mutating func parse(_ argv: [String]) throws(AppArgumentsError) {
        var index = 0
        while index < argv.count {
            let word = argv[index]
            index += 1
            switch word {
            case "---":
                // rkt ignores a stray `---` outside app arguments.
                continue
            case "--":
                guard !result.apps.isEmpty else {
                    throw AppArgumentsError("an image is required before any app arguments (\"--\" \(position))")
                }
                guard result.apps[result.apps.count - 1].arguments == nil else {
                    throw AppArgumentsError("only one set of app arguments allowed per image (second \"--\" \(position))")
                }
                var arguments: [String] = []
                while index < argv.count, argv[index] != "---" {
                    arguments.append(argv[index])
                    index += 1
                }
                if index < argv.count { index += 1 }  // the closing `---`
                result.apps[result.apps.count - 1].arguments = arguments
            case "":
                throw AppArgumentsError("empty image name \(position)")
            default:
                if word.hasPrefix("-") && word != "-" {
                    try parseFlag(word, argv: argv, index: &index)
                } else {
                    result.apps.append(AppArguments(image: word))
                }
            }
        }
        try validate()
    }

    mutating func parseFlag(_ word: String, argv: [String], index: inout Int) throws(AppArgumentsError) {
        let body: Substring
        if word.hasPrefix("--") {
            body = word.dropFirst(2)
        } else if word == "-h" {
            body = "help"
        } else {
            throw AppArgumentsError("unknown shorthand flag \"\(word)\" \(position)")
        }
        let name: String
        var value: String?
        if let equals = body.firstIndex(of: "=") {
            name = String(body[..<equals])
            value = String(body[body.index(after: equals)...])
        } else {
            name = String(body)
        }
        guard !name.isEmpty, let spec = FlagTable.specs[name], spec.only == nil || spec.only == result.command else {
            let scope = result.apps.isEmpty ? "pod-level flag" : "flag"
            throw AppArgumentsError("unknown \(scope) --\(name) \(position) for rkt \(result.command.rawValue)")
        }
        switch spec.arity {
        case .value:
            if value == nil {
                guard index < argv.count else {
                    throw AppArgumentsError("flag needs an argument: --\(name) \(position)")
                }
                value = argv[index]
                index += 1
            }
        case .bool:
            if let text = value, parseGoBool(text) == nil {
                throw AppArgumentsError("invalid boolean \"\(text)\" for --\(name) \(position)")
            }
        case .optional:
            break
        }
        switch spec.scope {
        case .pod:
            result.podFlags.append(RawFlag(name, value))
            try applyPodFlag(spec, value)
        case .app:
            if name == "mount" && result.apps.isEmpty {
                result.mounts.append(try Self.parseMount(value!))
                return
            }
            guard !result.apps.isEmpty else {
                throw AppArgumentsError("--\(name) must follow an image (it was given before the first image)")
            }
            let number = result.apps.count
            try Self.applyAppFlag(spec, value, app: &result.apps[number - 1], number: number)
        }
    }

    mutating func applyPodFlag(_ spec: FlagSpec, _ value: String?) throws(AppArgumentsError) {
        let flag = "--\(spec.name)"
        func bool() -> Bool { value.flatMap(parseGoBool) ?? true }
        switch spec.name {
        case "volume":
            let volume: Volume
            do throws(AppcError) {
                volume = try Volume.parse(value!)
            } catch {
                throw AppArgumentsError("invalid value in --volume flag \"\(value!)\": \(error)")
            }
            if result.volumes.contains(where: { $0.name == volume.name }) {
                throw AppArgumentsError("duplicate volume name \"\(volume.name.rawValue)\" in --volume flag \"\(value!)\"")
            }
            result.volumes.append(volume)
        case "set-env":
            guard let (key, val) = splitKeyValue(value!) else {
                throw AppArgumentsError("--set-env \"\(value!)\" must be specified as key=value")
            }
            let variable = EnvironmentVariable(name: key, value: val)
            do throws(AppcError) {
                try variable.validate()
            } catch {
                throw AppArgumentsError("invalid --set-env \"\(value!)\": \(error)")
            }
            if result.setEnvironment.contains(where: { $0.name == key }) {
                throw AppArgumentsError("--set-env: key \"\(key)\" already set")
            }
            result.setEnvironment.append(variable)
        case "set-env-file": result.setEnvironmentFiles.append(value!)
        case "inherit-env": result.inheritEnvironment = bool()
        case "hostname": result.hostname = value!
        case "pod-manifest": result.podManifestPath = value!.isEmpty ? nil : value!
        case "uuid-file-save": result.uuidFileSave = value!
        case "port": result.ports.append(try Self.parsePort(value!))
        case "net": result.networks.append(value ?? "default")
        case "dns": result.dns.append(value!)
        case "dns-search": result.dnsSearch.append(value!)
        case "dns-opt": result.dnsOptions.append(value!)
        case "dns-domain": result.dnsDomain = value!
        case "hosts-entry": result.hostsEntries.append(value!)
        case "ipc": result.ipc = value!
        case "stage1-name": result.stage1.name = value!
        case "stage1-hash": result.stage1.hash = value!
        case "stage1-path": result.stage1.path = value!
        case "stage1-url": result.stage1.url = value!
        case "stage1-from-dir": result.stage1.fromDir = value!
        case "interactive": result.interactive = bool()
        case "no-overlay": result.noOverlay = bool()
        case "quiet": result.quiet = bool()
        case "private-users": result.privateUsers = bool()
        case "mds-register": result.mdsRegister = bool()
        case "pull-policy":
            guard ["new", "update", "never"].contains(value!) else {
                throw AppArgumentsError("invalid \(flag) \"\(value!)\" (must be new, update or never)")
            }
            result.pullPolicy = value!
        case "store-only": result.storeOnly = bool()
        case "no-store": result.noStore = bool()
        case "insecure-options": result.insecureOptions.append(value!)
        case "trust-keys-from-https": result.trustKeysFromHTTPS = bool()
        case "debug": result.debug = bool()
        case "dir": result.dataDirectory = value!
        case "local-config": result.localConfig = value!
        case "system-config": result.systemConfig = value!
        case "user-config": result.userConfig = value!
        default:
            break  // kept raw in podFlags only (help, cpuprofile, memprofile)
        }
    }

    static func applyAppFlag(_ spec: FlagSpec, _ value: String?, app: inout AppArguments,
                               number: Int) throws(AppArgumentsError) {
        let flag = "--\(spec.name)"
        let at = "for image \(number) (\"\(app.image)\")"
        func nonEmpty() throws(AppArgumentsError) -> String {
            guard let value, !value.isEmpty else {
                throw AppArgumentsError("\(flag) needs a non-empty value \(at)")
            }
            return value
        }
        func keyValue() throws(AppArgumentsError) -> (key: String, value: String) {
            guard let pair = splitKeyValue(value!) else {
                throw AppArgumentsError("invalid format of \(flag) flag \"\(value!)\" \(at) (expected NAME=VALUE)")
            }
            return pair
        }
        func stdio(allowLog: Bool) throws(AppArgumentsError) -> StdioMode {
            guard let mode = StdioMode(rawValue: value!), allowLog || mode != .log else {
                let modes = allowLog ? "null, tty, stream or log" : "null, tty or stream"
                throw AppArgumentsError("invalid \(flag) mode \"\(value!)\" \(at) (must be \(modes))")
            }
            return mode
        }
        func capabilities() throws(AppArgumentsError) -> [String] {
            let set = value!.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
            do throws(AppcError) {
                let isolator = try Isolator(.capabilitiesRetainSet(set))
                try isolator.value.validateForRuntime()
            } catch {
                throw AppArgumentsError("invalid \(flag) \"\(value!)\" \(at): \(error.message)")
            }
            return set
        }

        switch spec.name {
        case "signature":
            guard app.signature == nil else {
                throw AppArgumentsError("--signature specified multiple times \(at)")
            }
            app.signature = try nonEmpty()
        case "exec":
            guard app.exec == nil else {
                throw AppArgumentsError("--exec specified multiple times \(at)")
            }
            app.exec = try nonEmpty()
        case "name":
            let text = try nonEmpty()
            do throws(AppcError) {
                app.name = try ACName(text)
            } catch {
                throw AppArgumentsError("invalid app name \"\(text)\" in --name \(at): \(error.message)")
            }
        case "working-dir":
            let text = try nonEmpty()
            guard text.hasPrefix("/") else {
                throw AppArgumentsError("--working-dir \"\(text)\" \(at) must be an absolute path")
            }
            app.workingDirectory = text
        case "readonly-rootfs":
            app.readOnlyRootFS = value.flatMap(parseGoBool) ?? true
        case "mount":
            app.mounts.append(try Self.parseMount(value!))
        case "user": app.user = try nonEmpty()
        case "group": app.group = try nonEmpty()
        case "supplementary-gids":
            var gids = app.supplementaryGIDs ?? []
            for item in value!.split(separator: ",", omittingEmptySubsequences: false) {
                guard let gid = parseGoInt(String(item)), gid >= 0 else {
                    throw AppArgumentsError("--supplementary-gids must be non-negative integers, got \"\(value!)\" \(at)")
                }
                gids.append(gid)
            }
            app.supplementaryGIDs = gids
        case "annotation":
            let (key, val) = try keyValue()
            do throws(AppcError) {
                app.annotations.set(try ACIdentifier(key), to: val)
            } catch {
                throw AppArgumentsError("invalid annotation name \"\(key)\" in --annotation \(at): \(error.message)")
            }
        case "user-annotation":
            let (key, val) = try keyValue()
            app.userAnnotations[key] = val
        case "user-label":
            let (key, val) = try keyValue()
            app.userLabels[key] = val
        case "environment":
            let (key, val) = try keyValue()
            let variable = EnvironmentVariable(name: key, value: val)
            do throws(AppcError) {
                try variable.validate()
            } catch {
                throw AppArgumentsError("invalid --environment \"\(value!)\" \(at): \(error.message)")
            }
            EnvironmentRules.set(variable, in: &app.environment)
        case "stdin": app.stdin = try stdio(allowLog: false)
        case "stdout": app.stdout = try stdio(allowLog: true)
        case "stderr": app.stderr = try stdio(allowLog: true)
        case "memory":
            let quantity = try Self.parseQuantity(value!, flag: flag, at: at)
            let bytes = quantity.value
            guard bytes >= 4096 else {
                throw AppArgumentsError("memory limit of \(bytes) bytes too low in --memory \(at). Try a reasonable value, such as --memory=16M")
            }
            app.memoryLimit = quantity
        case "cpu":
            let quantity = try Self.parseQuantity(value!, flag: flag, at: at)
            guard quantity.milliValue > 0 else {
                throw AppArgumentsError("--cpu \"\(value!)\" \(at) must be positive")
            }
            app.cpuLimit = quantity
        case "cpu-shares":
            guard let shares = parseGoInt(value!), (2...262144).contains(shares) else {
                throw AppArgumentsError("--cpu-shares \"\(value!)\" \(at) must be an integer between 2 and 262144")
            }
            app.cpuShares = shares
        case "oom-score-adj", "oom-score-adjust":
            guard let score = parseGoInt(value!), (-1000...1000).contains(score) else {
                throw AppArgumentsError("\(flag) \"\(value!)\" \(at) must be an integer between -1000 and 1000")
            }
            app.oomScoreAdj = score
        case "caps-retain", "cap-retain":
            app.capsRetain = try capabilities()
        case "caps-remove", "cap-remove":
            app.capsRemove = try capabilities()
        case "seccomp":
            do throws(AppArgumentsError) {
                app.seccomp = try SeccompOverride.parse(value!)
            } catch {
                throw AppArgumentsError("\(error.message) \(at)")
            }
        default:
            break
        }
        if app.capsRetain != nil && app.capsRemove != nil {
            throw AppArgumentsError("--caps-retain and --caps-remove are mutually exclusive \(at)")
        }
    }

    func validate() throws(AppArgumentsError) {
        // rkt (`Apps.Validate`): every --mount names a --volume.
        let names = Set(result.volumes.map(\.name))
        let allMounts = result.mounts + result.apps.flatMap(\.mounts)
        for mount in allMounts where mount.appVolume == nil && !names.contains(mount.volume) {
            throw AppArgumentsError("dangling mount point \"\(mount.path)\": volume \"\(mount.volume.rawValue)\" not found (--mount needs a matching --volume)")
        }
        // rkt/stage1hash.go: at most one stage1 selection flag.
        let stage1Flags = [
            ("stage1-url", result.stage1.url), ("stage1-path", result.stage1.path),
            ("stage1-name", result.stage1.name), ("stage1-hash", result.stage1.hash),
            ("stage1-from-dir", result.stage1.fromDir),
        ].filter { $0.1 != nil }.map(\.0)
        if stage1Flags.count > 1 {
            throw AppArgumentsError("flags --\(stage1Flags[0]) and --\(stage1Flags[1]) are mutually exclusive")
        }
        if result.storeOnly && result.noStore {
            throw AppArgumentsError("both --store-only and --no-store specified")
        }
    }

    static func parseQuantity(_ text: String, flag: String, at: String) throws(AppArgumentsError) -> Quantity {
        do throws(AppcError) {
            return try Quantity(text)
        } catch {
            throw AppArgumentsError("invalid \(flag) \"\(text)\" \(at): \(error.message)")
        }
    }

    /// `--mount volume=NAME,target=PATH`.
    static func parseMount(_ text: String) throws(AppArgumentsError) -> Mount {
        var volume: ACName?
        var target: String?
        var seen = Set<String>()
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            guard let (key, value) = splitKeyValue(String(part)) else {
                throw AppArgumentsError("invalid --mount \"\(text)\": \"\(part)\" is not key=value")
            }
            guard seen.insert(key).inserted else {
                throw AppArgumentsError("invalid --mount \"\(text)\": label \(key) with multiple values")
            }
            switch key {
            case "volume":
                do throws(AppcError) {
                    volume = try ACName(value)
                } catch {
                    throw AppArgumentsError("invalid volume name \"\(value)\" in --mount flag \"\(text)\": \(error.message)")
                }
            case "target":
                target = value
            default:
                throw AppArgumentsError("unknown mount parameter \"\(key)\" in --mount flag \"\(text)\"")
            }
        }
        guard let volume else { throw AppArgumentsError("--mount \"\(text)\" needs volume=NAME") }
        guard let target, !target.isEmpty else { throw AppArgumentsError("--mount \"\(text)\" needs target=PATH") }
        return Mount(volume: volume, path: target)
    }

    /// `--port NAME:[HOSTIP:]HOSTPORT`; an IPv6 host IP may be bracketed.
    static func parsePort(_ text: String) throws(AppArgumentsError) -> ExposedPort {
        guard let firstColon = text.firstIndex(of: ":"), let lastColon = text.lastIndex(of: ":") else {
            throw AppArgumentsError("--port \"\(text)\" is not in name:[ip:]port format")
        }
        let nameText = String(text[..<firstColon])
        let portText = String(text[text.index(after: lastColon)...])
        var ipText: String?
        if firstColon != lastColon {
            var ip = String(text[text.index(after: firstColon)..<lastColon])
            if ip.hasPrefix("[") && ip.hasSuffix("]") { ip = String(ip.dropFirst().dropLast()) }
            ipText = ip
        }
        let name: ACName
        do throws(AppcError) {
            name = try ACName(nameText)
        } catch {
            throw AppArgumentsError("--port \"\(text)\": \"\(nameText)\" is not a valid port name: \(error.message)")
        }
        guard !portText.isEmpty, portText.allSatisfy(isDecimalDigit), let port = UInt16(portText) else {
            throw AppArgumentsError("--port \"\(text)\": \"\(portText)\" is not a valid port number")
        }
        let exposed = ExposedPort(name: name, hostPort: UInt(port), hostIP: ipText)
        do throws(AppcError) {
            try exposed.validate()
        } catch {
            throw AppArgumentsError("--port \"\(text)\": \"\(ipText ?? "")\" is not a valid IP")
        }
        return exposed
    }
}
