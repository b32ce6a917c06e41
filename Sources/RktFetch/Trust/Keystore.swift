import Foundation
import RktOS
import RktTypes

/// rkt's trusted-key store: `trustedkeys/root.d/<fingerprint>` (trusted for every image) and
/// `trustedkeys/prefix.d/<prefix>/<fingerprint>` (trusted for names under the prefix), under the
/// system config (`/usr/lib/rkt`, vendor keys) and the local config (`/etc/rkt`, the admin's).
/// The prefix is an AC identifier used as a relative path, so `example.com/app` is two nested
/// directories; a key filed under `example.com` is trusted for `example.com/app/anything`.
/// Keys are read in rkt's order: system root.d, local root.d, system prefix.d, local prefix.d; an
/// empty file removes (masks) a key of that fingerprint read before it.
public struct Keystore: Sendable {
    public let systemConfig: String
    public let localConfig: String

    public init(systemConfig: String, localConfig: String) {
        self.systemConfig = systemConfig
        self.localConfig = localConfig
    }

    func rootDir(_ config: String) -> String { config + "/trustedkeys/root.d" }
    func prefixBase(_ config: String) -> String { config + "/trustedkeys/prefix.d" }

    /// The directory of `prefix` under prefix.d of `config`.
    public func prefixDirectory(_ prefix: String, config: String) throws(FetchError) -> String {
        prefixBase(config) + "/" + (try Keystore.escapedPrefix(prefix))
    }

    /// The prefix as a relative path: a valid AC identifier (lowercase, `[a-z0-9._~/-]`) without
    /// empty, `.` or `..` components, so it can never leave prefix.d.
    public static func escapedPrefix(_ prefix: String) throws(FetchError) -> String {
        var trimmed = prefix
        while trimmed.hasSuffix("/") { trimmed.removeLast() }
        guard ACIdentifier.isValid(trimmed) else {
            throw FetchError(.invalidArgument, "invalid key prefix \"\(prefix)\": must be an AC identifier such as example.com/app")
        }
        let components = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        guard components.allSatisfy({ !$0.isEmpty && $0 != "." && $0 != ".." }) else {
            throw FetchError(.invalidArgument, "invalid key prefix \"\(prefix)\": empty, . or .. path component")
        }
        return trimmed
    }

    /// Trusted keys for an image name: fingerprint → key file path.
    public func trustedKeys(for imageName: String) throws(FetchError) -> [String: String] {
        var keys: [String: String] = [:]
        func load(_ dir: String) throws(FetchError) {
            let entries: [String]
            do { entries = try FileSystem.listIfPresent(dir).sorted() } catch {
                throw FetchError(.trust, "reading trusted keys in \(dir): \(error)", underlying: error)
            }
            for entry in entries {
                let path = dir + "/" + entry
                guard FileSystem.isRegularFile(path) else { continue }
                let size = (try? FileSystem.statInfo(path).st_size) ?? 0
                if size == 0 {
                    keys.removeValue(forKey: entry.lowercased())
                } else {
                    keys[entry.lowercased()] = path
                }
            }
        }
        try load(rootDir(systemConfig))
        try load(rootDir(localConfig))
        let components = imageName.split(separator: "/").map(String.init)
        for config in [systemConfig, localConfig] {
            var dir = prefixBase(config)
            for component in components where component != "." && component != ".." {
                dir += "/" + component
                try load(dir)
            }
        }
        return keys
    }

    /// Files `key` under the local config (root.d with a nil prefix), named by its fingerprint,
    /// and returns the path.
    @discardableResult
    public func store(_ key: OpenPGPKey, prefix: String?) throws(FetchError) -> String {
        let dir = try prefix.map { (p: String) throws(FetchError) in try prefixDirectory(p, config: localConfig) } ?? rootDir(localConfig)
        let path = dir + "/" + key.fingerprint
        do {
            try FileSystem.makeDirectories(dir, mode: 0o755)
            try FileSystem.writeAtomically(Keystore.armor(key.binary), to: path, mode: 0o644)
        } catch {
            throw FetchError(.trust, "storing key \(key.fingerprint) in \(dir): \(error)", underlying: error)
        }
        return path
    }

    /// ASCII armor for a public key block (RFC 4880 §6), so stored keys are readable text like rkt's.
    static func armor(_ binary: Data) -> Data {
        let base64 = binary.base64EncodedString()
        var lines = ["-----BEGIN PGP PUBLIC KEY BLOCK-----", ""]
        var index = base64.startIndex
        while index < base64.endIndex {
            let next = base64.index(index, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex
            lines.append(String(base64[index..<next]))
            index = next
        }
        let crc = crc24(binary)
        lines.append("=" + Data([UInt8(crc >> 16 & 0xFF), UInt8(crc >> 8 & 0xFF), UInt8(crc & 0xFF)]).base64EncodedString())
        lines.append("-----END PGP PUBLIC KEY BLOCK-----")
        return Data((lines.joined(separator: "\n") + "\n").utf8)
    }

    static func crc24(_ data: Data) -> UInt32 {
        var crc: UInt32 = 0xB704CE
        for byte in data {
            crc ^= UInt32(byte) << 16
            for _ in 0..<8 {
                crc <<= 1
                if crc & 0x1000000 != 0 { crc ^= 0x1864CFB }
            }
        }
        return crc & 0xFFFFFF
    }
}
