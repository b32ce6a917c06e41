import Foundation
import RktTypes

/// rkt's environment rules for apps, shared by pod manifest generation and
/// `rkt enter`.
public enum EnvironmentRules {
    /// The variables rkt guarantees an app (`common/environment.go`), in the
    /// order they are added when missing.
    public static let defaults: [EnvironmentVariable] = [
        EnvironmentVariable(name: "PATH", value: defaultPath),
        EnvironmentVariable(name: "SHELL", value: "/bin/sh"),
        EnvironmentVariable(name: "USER", value: "root"),
        EnvironmentVariable(name: "LOGNAME", value: "root"),
        EnvironmentVariable(name: "HOME", value: "/root"),
    ]

    public static let defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

    /// Merges the layers of an app's environment, lowest precedence first,
    /// the last value of a name winning:
    ///
    /// 1. `inherited`: the caller's environment (`--inherit-env` only); it
    ///    never overrides the image's variables;
    /// 2. `image`: the app's environment from its image manifest;
    /// 3. `fromFiles`: `--set-env-file` contents;
    /// 4. `explicit`: `--set-env`;
    /// 5. `app`: the app's own `--environment`.
    ///
    /// With `addDefaults`, `defaults` fills in whatever is still missing.
    /// Order of the result: the image's variables in their order, then new
    /// names in the order the layers introduce them; a repeated name inside a
    /// layer keeps its first position and its last value.
    public static func merge(inherited: [EnvironmentVariable] = [], image: [EnvironmentVariable],
                             fromFiles: [EnvironmentVariable] = [], explicit: [EnvironmentVariable] = [],
                             app: [EnvironmentVariable] = [], addDefaults: Bool = true) -> [EnvironmentVariable] {
        var result: [EnvironmentVariable] = []
        for variable in image { set(variable, in: &result) }
        for variable in inherited where !result.contains(where: { $0.name == variable.name }) {
            result.append(variable)
        }
        for layer in [fromFiles, explicit, app] {
            for variable in layer { set(variable, in: &result) }
        }
        if addDefaults {
            for variable in defaults where !result.contains(where: { $0.name == variable.name }) {
                result.append(variable)
            }
        }
        return result
    }

    /// `merge` for a caller environment given as a dictionary (sorted by name
    /// so that results are reproducible).
    public static func merge(inherited: [String: String], image: [EnvironmentVariable],
                             fromFiles: [EnvironmentVariable] = [], explicit: [EnvironmentVariable] = [],
                             app: [EnvironmentVariable] = [], addDefaults: Bool = true) -> [EnvironmentVariable] {
        merge(inherited: variables(from: inherited), image: image, fromFiles: fromFiles, explicit: explicit,
              app: app, addDefaults: addDefaults)
    }

    /// A dictionary as variables sorted by name, leaving out names that are not
    /// valid appc environment names (a host environment can hold anything).
    public static func variables(from environment: [String: String]) -> [EnvironmentVariable] {
        environment.keys.sorted().compactMap { name in
            let variable = EnvironmentVariable(name: name, value: environment[name]!)
            return (try? variable.validate()) != nil ? variable : nil
        }
    }

    /// Replaces the value of `variable.name` or appends it.
    public static func set(_ variable: EnvironmentVariable, in list: inout [EnvironmentVariable]) {
        if let index = list.firstIndex(where: { $0.name == variable.name }) {
            list[index].value = variable.value
        } else {
            list.append(variable)
        }
    }

    /// A `--set-env-file` problem; the message names the file.
    public struct FileError: Error, CustomStringConvertible, Sendable, Equatable {
        public var message: String
        public init(_ message: String) { self.message = message }
        public var description: String { message }
    }

    /// Parses `--set-env-file` contents as rkt does: `NAME=VALUE` lines (the
    /// value is everything after the first `=`, kept verbatim); empty lines and
    /// lines starting with `#` or `;` are skipped; a line without `=` or with
    /// an empty name is an error, and so is a name set twice.
    public static func parseEnvironmentFile(_ contents: String, path: String) throws(FileError) -> [EnvironmentVariable] {
        var result: [EnvironmentVariable] = []
        for (offset, rawLine) in contents.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }).enumerated() {
            var line = Substring(rawLine)
            if line.hasSuffix("\r") { line = line.dropLast() }
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            guard let (name, value) = splitKeyValue(String(line)) else {
                throw FileError("environment variable must be specified as name=value (file \"\(path)\", line \(offset + 1))")
            }
            let variable = EnvironmentVariable(name: name, value: value)
            do throws(AppcError) {
                try variable.validate()
            } catch {
                throw FileError("\(error.message) (file \"\(path)\", line \(offset + 1))")
            }
            if result.contains(where: { $0.name == name }) {
                throw FileError("environment variable \"\(name)\" already set (file \"\(path)\")")
            }
            result.append(variable)
        }
        return result
    }

    /// Parses several `--set-env-file`s in order; like rkt, a name may be set
    /// by only one of them.
    public static func parseEnvironmentFiles(_ files: [(path: String, contents: String)]) throws(FileError) -> [EnvironmentVariable] {
        var result: [EnvironmentVariable] = []
        for file in files {
            for variable in try parseEnvironmentFile(file.contents, path: file.path) {
                if result.contains(where: { $0.name == variable.name }) {
                    throw FileError("environment variable \"\(variable.name)\" already set (file \"\(file.path)\")")
                }
                result.append(variable)
            }
        }
        return result
    }
}
