/// Image IDs: `sha512-` + hex SHA-512 of the uncompressed tar. The store keys images by the first
/// 64 hex digits ("half of sha512", as rkt); users may name them by any prefix of `sha512-` + 2 hex.
public enum ImageKey {
    public static let prefix = "sha512-"
    public static let keyHexLength = 64

    /// The store key for a full SHA-512 hex digest.
    public static func key(fromDigestHex hex: String) -> String { prefix + hex.prefix(keyHexLength) }

    /// Whether `s` is written as an image ID (as opposed to an image name).
    public static func looksLikeID(_ s: String) -> Bool { s.hasPrefix(prefix) }

    /// Normalises a user-given ID prefix: lowercase, at most 64 hex; nil if it is not a valid prefix.
    public static func normalizedPrefix(_ s: String) -> String? {
        guard s.hasPrefix(prefix) else { return nil }
        let hex = s.dropFirst(prefix.count).lowercased()
        guard hex.count >= 2, hex.allSatisfy({ $0.isHexDigit }) else { return nil }
        guard hex.count <= 128 else { return nil }
        return prefix + hex.prefix(keyHexLength)
    }

    /// The short form used in listings: `sha512-` + 12 hex (`--full` shows the whole key).
    public static func short(_ key: String, hexDigits: Int = 12) -> String {
        String(key.prefix(prefix.count + hexDigits))
    }
}
