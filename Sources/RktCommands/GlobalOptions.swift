import ArgumentParser
import Foundation
import Logging
import RktStore
import Stage1Protocol

/// rkt's persistent flags, accepted by every command.
public struct GlobalOptions: ParsableArguments, Sendable {
    @Option(name: .customLong(Name.dir.rawValue), help: "rkt data directory")
    public var dataDir: String?

    @Option(name: .customLong(Name.localConfig.rawValue), help: "local configuration directory")
    public var localConfig: String = Defaults.localConfig

    @Option(name: .customLong(Name.systemConfig.rawValue), help: "system configuration directory")
    public var systemConfig: String = Defaults.systemConfig

    @Option(name: .customLong(Name.userConfig.rawValue), help: "user configuration directory")
    public var userConfig: String = ""

    @Option(name: .customLong(Name.insecureOptions.rawValue), help: "comma-separated list of security features to disable: none,image,tls,http,pubkey,capabilities,paths,seccomp,ondisk,all-fetch,all-run,all")
    public var insecureOptions: InsecureOptions = InsecureOptions()

    @Flag(name: .customLong(Name.trustKeysFromHTTPS.rawValue), help: "automatically trust gpg keys fetched from https")
    public var trustKeysFromHTTPS = false

    @Flag(name: .customLong(Name.debug.rawValue), help: "print out more debug information to stderr")
    public var debug = false

    public init() {}

    /// The flags' long names: ArgumentParser's declarations above and the pod-start shortcut
    /// (`AppSyntaxShortcut`) both read them from here.
    enum Name: String, CaseIterable {
        case dir, localConfig = "local-config", systemConfig = "system-config", userConfig = "user-config"
        case insecureOptions = "insecure-options", trustKeysFromHTTPS = "trust-keys-from-https", debug
    }

    enum Defaults {
        static let localConfig = "/etc/rkt"
        static let systemConfig = "/usr/lib/rkt"
    }

    /// Every option at its default, as ArgumentParser leaves it when none is given, without
    /// ArgumentParser's reflection (setting a wrapped value needs no parse).
    static var defaults: GlobalOptions {
        var options = GlobalOptions()
        options.dataDir = nil
        options.localConfig = Defaults.localConfig
        options.systemConfig = Defaults.systemConfig
        options.userConfig = ""
        options.insecureOptions = InsecureOptions()
        options.trustKeysFromHTTPS = false
        options.debug = false
        return options
    }

    /// Applies one flag written `--NAME=VALUE` (options) or `--NAME` (the two boolean flags), the
    /// forms ArgumentParser reads the same way; nil for anything else, which the caller then
    /// leaves to ArgumentParser (other spellings, unknown names, values it would reject).
    mutating func applyShortcutFlag(_ word: String) -> Name? {
        guard word.hasPrefix("--") else { return nil }
        let body = word.dropFirst(2)
        guard let equals = body.firstIndex(of: "=") else {
            switch Name(rawValue: String(body)) {
            case .trustKeysFromHTTPS: trustKeysFromHTTPS = true; return .trustKeysFromHTTPS
            case .debug: debug = true; return .debug
            default: return nil
            }
        }
        let value = String(body[body.index(after: equals)...])
        guard !value.isEmpty, let name = Name(rawValue: String(body[..<equals])) else { return nil }
        switch name {
        case .dir: dataDir = value
        case .localConfig: localConfig = value
        case .systemConfig: systemConfig = value
        case .userConfig: userConfig = value
        case .insecureOptions:
            guard let parsed = InsecureOptions(argument: value) else { return nil }
            insecureOptions = parsed
        case .trustKeysFromHTTPS, .debug: return nil
        }
        return name
    }

    /// The data dir: `--dir`, else `paths.d`'s `data`, else /var/lib/rkt. Symlinks are resolved, as rkt does.
    func resolvedDataDir(config: Configuration) -> String {
        let dir = dataDir ?? config.paths.data ?? "/var/lib/rkt"
        return URL(fileURLWithPath: dir).resolvingSymlinksInPath().path
    }

    func makeLogger(_ label: String) -> Logger {
        var logger = Logger(label: label) { StderrLogHandler(label: $0) }
        logger.logLevel = debug ? .debug : .warning
        return logger
    }

    func loadConfiguration() throws -> Configuration {
        try Configuration.load(systemDir: systemConfig, localDir: localConfig, userDir: userConfig.isEmpty ? nil : userConfig)
    }

    func openStore(_ command: String) throws -> ImageStore {
        let config = try loadConfiguration()
        return try ImageStore(dataDir: resolvedDataDir(config: config), logger: makeLogger("rkt.\(command)"))
    }
}

/// `--insecure-options`: which security checks to skip.
public struct InsecureOptions: ExpressibleByArgument, Sendable, Equatable, CustomStringConvertible {
    public enum Option: String, CaseIterable, Sendable {
        case http, image, tls, pubkey, capabilities, paths, seccomp, ondisk
    }
    public var enabled: Set<Option> = []

    public init() {}

    public init?(argument: String) {
        do { self = try Self.parse(argument) } catch { return nil }
    }

    public static func parse(_ text: String) throws -> InsecureOptions {
        var result = InsecureOptions()
        for raw in text.split(separator: ",", omittingEmptySubsequences: false) {
            let word = raw.trimmingWhitespace(newlines: false).lowercased()
            switch word {
            case "none": continue
            case "all": result.enabled.formUnion(Option.allCases)
            case "all-fetch": result.enabled.formUnion([.image, .tls, .http])
            case "all-run": result.enabled.formUnion([.capabilities, .paths, .seccomp])
            default:
                guard let option = Option(rawValue: word) else {
                    throw ValidationError("unknown insecure option \"\(word)\": want none, http, image, tls, pubkey, capabilities, paths, seccomp, ondisk, all-fetch, all-run or all")
                }
                result.enabled.insert(option)
            }
        }
        return result
    }

    public func contains(_ option: Option) -> Bool { enabled.contains(option) }

    public var description: String { enabled.isEmpty ? "none" : enabled.map(\.rawValue).sorted().joined(separator: ",") }
    public var defaultValueDescription: String { description }

    public static var allValueStrings: [String] { ["none", "all", "all-fetch", "all-run"] + Option.allCases.map(\.rawValue) }
}
