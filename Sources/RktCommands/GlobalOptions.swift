import ArgumentParser
import Foundation
import Logging
import RktStore

/// rkt's persistent flags, accepted by every command.
public struct GlobalOptions: ParsableArguments, Sendable {
    @Option(name: .customLong("dir"), help: "rkt data directory")
    public var dataDir: String?

    @Option(name: .customLong("local-config"), help: "local configuration directory")
    public var localConfig: String = "/etc/rkt"

    @Option(name: .customLong("system-config"), help: "system configuration directory")
    public var systemConfig: String = "/usr/lib/rkt"

    @Option(name: .customLong("user-config"), help: "user configuration directory")
    public var userConfig: String = ""

    @Option(name: .customLong("insecure-options"), help: "comma-separated list of security features to disable: none,image,tls,http,pubkey,capabilities,paths,seccomp,ondisk,all-fetch,all-run,all")
    public var insecureOptions: InsecureOptions = InsecureOptions()

    @Flag(name: .customLong("trust-keys-from-https"), help: "automatically trust gpg keys fetched from https")
    public var trustKeysFromHTTPS = false

    @Flag(name: .customLong("debug"), help: "print out more debug information to stderr")
    public var debug = false

    public init() {}

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
            let word = raw.trimmingCharacters(in: .whitespaces).lowercased()
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
