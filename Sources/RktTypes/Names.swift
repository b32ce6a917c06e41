import Foundation

/// The character rules shared by `ACIdentifier` and `ACName`: an allowed
/// alphabet, a set of separators that may not appear at either edge, and the
/// Go validator's error texts.
private struct NameRules: Sendable {
    let typeName: String
    let separators: Set<Unicode.Scalar>
    let separatorsForMessage: String
    let sanitizeReplacement: Character

    func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool {
        ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar)
    }

    func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        isAlphanumeric(scalar) || separators.contains(scalar)
    }

    func check(_ string: String) throws(AppcError) {
        if string.isEmpty {
            throw AppcError("\(typeName) cannot be empty")
        }
        if !string.unicodeScalars.allSatisfy(isAllowed) {
            throw AppcError("\(typeName) must contain only lower case alphanumeric characters plus \"\(separatorsForMessage)\"")
        }
        if let first = string.unicodeScalars.first, let last = string.unicodeScalars.last,
           !isAlphanumeric(first) || !isAlphanumeric(last) {
            throw AppcError("\(typeName) must start and end with only lower case alphanumeric characters")
        }
    }

    /// Lower-cases, replaces disallowed characters and strips separator edges,
    /// the same suggestion algorithm as the Go `Sanitize*` helpers.
    func sanitize(_ string: String) throws(AppcError) -> String {
        var replaced = ""
        for scalar in string.lowercased().unicodeScalars {
            if isAllowed(scalar) {
                replaced.unicodeScalars.append(scalar)
            } else {
                replaced.append(sanitizeReplacement)
            }
        }
        let scalars = Array(replaced.unicodeScalars)
        guard let start = scalars.firstIndex(where: isAlphanumeric),
              let end = scalars.lastIndex(where: isAlphanumeric) else {
            throw AppcError("must contain at least one valid character")
        }
        var result = ""
        result.unicodeScalars.append(contentsOf: scalars[start...end])
        return result
    }
}

private let identifierRules = NameRules(
    typeName: "ACIdentifier",
    separators: ["-", ".", "_", "~", "/"],
    separatorsForMessage: "-._~/",
    sanitizeReplacement: "_")

private let nameRules = NameRules(
    typeName: "ACName",
    separators: ["-"],
    separatorsForMessage: "-",
    sanitizeReplacement: "-")

/// An App Container identifier: image names, label and annotation names,
/// isolator names. Lower-case alphanumerics plus `-._~/`, with alphanumeric
/// first and last characters (appc `types.ACIdentifier`).
///
/// Note: like the Go `assertValid` (and unlike its unused `ValidACIdentifier`
/// regexp), consecutive separators such as `a--b` are accepted.
public struct ACIdentifier: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init(_ string: String) throws(AppcError) {
        try identifierRules.check(string)
        rawValue = string
    }

    /// Suggests a valid identifier for `string` (lower-cased, invalid characters
    /// replaced by `_`, separator edges removed). Only for explicit user requests.
    public static func sanitize(_ string: String) throws(AppcError) -> String {
        try identifierRules.sanitize(string)
    }

    public static func isValid(_ string: String) -> Bool {
        (try? identifierRules.check(string)) != nil
    }

    public var description: String { rawValue }

    public static func < (lhs: ACIdentifier, rhs: ACIdentifier) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        do throws(AppcError) {
            try self.init(string)
        } catch {
            throw error.located(at: decoder.codingPath)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}

/// An App Container name: app names, volume, mount point and port names.
/// Lower-case alphanumerics plus `-`, alphanumeric at both ends (appc `types.ACName`).
public struct ACName: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let rawValue: String

    public init(_ string: String) throws(AppcError) {
        try nameRules.check(string)
        rawValue = string
    }

    /// Suggests a valid name for `string` (lower-cased, invalid characters
    /// replaced by `-`, `-` edges removed). Only for explicit user requests.
    public static func sanitize(_ string: String) throws(AppcError) -> String {
        try nameRules.sanitize(string)
    }

    public static func isValid(_ string: String) -> Bool {
        (try? nameRules.check(string)) != nil
    }

    public var description: String { rawValue }

    public static func < (lhs: ACName, rhs: ACName) -> Bool { lhs.rawValue < rhs.rawValue }

    public init(from decoder: any Decoder) throws {
        let string = try decoder.singleValueContainer().decode(String.self)
        do throws(AppcError) {
            try self.init(string)
        } catch {
            throw error.located(at: decoder.codingPath)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
