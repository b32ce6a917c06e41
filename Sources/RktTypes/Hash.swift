import Foundation

/// A content hash such as `sha512-<hex>` (appc `types.Hash`).
///
/// Like the Go validator, only the `sha512` algorithm is accepted and the
/// value must be non-empty; the value is not otherwise checked (the spec's own
/// example uses `sha512-...`).
public struct Hash: Sendable, Hashable, Codable, CustomStringConvertible {
    public let algorithm: String
    public let value: String

    public init(_ string: String) throws(AppcError) {
        let parts = string.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw AppcError("badly formatted hash string")
        }
        try self.init(algorithm: String(parts[0]), value: String(parts[1]))
    }

    public init(algorithm: String, value: String) throws(AppcError) {
        switch algorithm {
        case "sha512": break
        case "": throw AppcError("unexpected empty hash type")
        default: throw AppcError("unrecognized hash type: \(algorithm)")
        }
        if value.isEmpty {
            throw AppcError("unexpected empty hash value")
        }
        if value.contains("-") {
            throw AppcError("badly formatted hash string")
        }
        self.algorithm = algorithm
        self.value = value
    }

    /// `sha512-` followed by lower-case hex of `digest` (64 bytes for SHA-512).
    public static func sha512(digest: some Sequence<UInt8>) -> Hash {
        let hex = digest.map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
        // Non-empty hex without "-" always passes validation; a real SHA-512
        // digest is never empty, but keep the result valid even then.
        return Hash(unchecked: "sha512", hex.isEmpty ? "0" : hex)
    }

    private init(unchecked algorithm: String, _ value: String) {
        self.algorithm = algorithm
        self.value = value
    }

    public var description: String { "\(algorithm)-\(value)" }

    /// The abbreviated form rkt prints: at most `sha512-` plus 32 hex digits.
    public var shortDescription: String {
        Self.shorten(description)
    }

    /// Truncates a hash string to `sha512-` plus 32 characters (Go `ShortHash`).
    public static func shorten(_ hash: String) -> String {
        let maximumLength = 64 / 2 + "sha512-".count
        return hash.count > maximumLength ? String(hash.prefix(maximumLength)) : hash
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
