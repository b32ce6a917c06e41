import Foundation

/// A semantic version as accepted by the appc schema (coreos/go-semver rules):
/// `MAJOR.MINOR.PATCH[-PRERELEASE][+METADATA]`, where the zero version is refused.
public struct SemVer: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    public let major: Int64
    public let minor: Int64
    public let patch: Int64
    public let preRelease: String
    public let metadata: String

    /// The appc spec version this module implements.
    public static let appcSpecVersion = SemVer(uncheckedMajor: 0, minor: 8, patch: 11)

    private init(uncheckedMajor major: Int64, minor: Int64, patch: Int64) {
        self.major = major
        self.minor = minor
        self.patch = patch
        preRelease = ""
        metadata = ""
    }

    public init(_ string: String) throws(AppcError) {
        // go-semver splits off metadata at the first "+" and then the
        // pre-release at the first "-", before looking at the dotted triple.
        var rest = Substring(string)
        var metadata = ""
        if let plus = rest.firstIndex(of: "+") {
            metadata = String(rest[rest.index(after: plus)...])
            rest = rest[..<plus]
        }
        var preRelease = ""
        if let dash = rest.firstIndex(of: "-") {
            preRelease = String(rest[rest.index(after: dash)...])
            rest = rest[..<dash]
        }
        let parts = rest.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3,
              Self.isValidIdentifier(preRelease), Self.isValidIdentifier(metadata) else {
            throw AppcError("SemVer is bad")
        }
        var numbers: [Int64] = []
        for part in parts {
            guard !part.isEmpty, part.allSatisfy(\.isASCIIDigit), let number = Int64(part) else {
                throw AppcError("SemVer is bad")
            }
            numbers.append(number)
        }
        major = numbers[0]
        minor = numbers[1]
        patch = numbers[2]
        self.preRelease = preRelease
        self.metadata = metadata
        if major == 0, minor == 0, patch == 0, preRelease.isEmpty, metadata.isEmpty {
            throw AppcError("SemVer cannot be zero")
        }
    }

    /// Dot-separated `[0-9A-Za-z-]+` identifiers, or empty.
    private static func isValidIdentifier(_ identifier: String) -> Bool {
        if identifier.isEmpty { return true }
        return identifier.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { part in
            !part.isEmpty && part.unicodeScalars.allSatisfy { scalar in
                scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "-")
            }
        }
    }

    public var description: String {
        var text = "\(major).\(minor).\(patch)"
        if !preRelease.isEmpty { text += "-" + preRelease }
        if !metadata.isEmpty { text += "+" + metadata }
        return text
    }

    /// Semver precedence (metadata ignored), as go-semver's `Compare`.
    public static func < (lhs: SemVer, rhs: SemVer) -> Bool {
        compare(lhs, rhs) < 0
    }

    private static func compare(_ lhs: SemVer, _ rhs: SemVer) -> Int {
        for (left, right) in [(lhs.major, rhs.major), (lhs.minor, rhs.minor), (lhs.patch, rhs.patch)] where left != right {
            return left < right ? -1 : 1
        }
        switch (lhs.preRelease.isEmpty, rhs.preRelease.isEmpty) {
        case (true, true): return 0
        case (true, false): return 1
        case (false, true): return -1
        case (false, false): break
        }
        let leftParts = lhs.preRelease.split(separator: ".", omittingEmptySubsequences: false)
        let rightParts = rhs.preRelease.split(separator: ".", omittingEmptySubsequences: false)
        for (left, right) in zip(leftParts, rightParts) {
            switch (Int(left), Int(right)) {
            case let (leftNumber?, rightNumber?):
                if leftNumber != rightNumber { return leftNumber < rightNumber ? -1 : 1 }
            case (.some, nil): return -1
            case (nil, .some): return 1
            case (nil, nil):
                if left != right { return left < right ? -1 : 1 }
            }
        }
        if leftParts.count == rightParts.count { return 0 }
        return leftParts.count < rightParts.count ? -1 : 1
    }

    public static func == (lhs: SemVer, rhs: SemVer) -> Bool {
        compare(lhs, rhs) == 0 && lhs.metadata == rhs.metadata
    }

    public func hash(into hasher: inout Hasher) {
        // Only the parts that equality compares exactly.
        hasher.combine(major)
        hasher.combine(minor)
        hasher.combine(patch)
        hasher.combine(metadata)
    }

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
        try container.encode(description)
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}
