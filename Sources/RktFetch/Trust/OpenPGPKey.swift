import CCrypto
import Foundation

/// Just enough OpenPGP (RFC 4880) to show and file a public key: de-armoring, the primary key's
/// v4 fingerprint and its user IDs. Verification itself is gpgv's job.
public struct OpenPGPKey: Sendable, Equatable {
    /// 40 lowercase hex digits: the name of the key's file in the keystore, as in rkt.
    public let fingerprint: String
    public let userIDs: [String]
    /// The binary (de-armored) transferable key, as gpgv reads keyrings.
    public let binary: Data

    /// `8B86 DE38 890D DB72 9186  7B02 5210 BD88 8818 2190`, as gpg and rkt print it.
    public var spacedFingerprint: String {
        let upper = Array(fingerprint.uppercased())
        var groups: [String] = []
        for i in stride(from: 0, to: upper.count, by: 4) { groups.append(String(upper[i..<min(i + 4, upper.count)])) }
        return groups.prefix(5).joined(separator: " ") + "  " + groups.dropFirst(5).joined(separator: " ")
    }

    /// Parses one public key, armored or binary. `source` names it in errors.
    public static func parse(_ data: Data, source: String) throws(FetchError) -> OpenPGPKey {
        let binary = try dearmor(data, kind: "PUBLIC KEY BLOCK", source: source)
        var fingerprint: String?
        var userIDs: [String] = []
        var primaryKeys = 0
        for packet in try packets(binary, source: source) {
            switch packet.tag {
            case 6:
                primaryKeys += 1
                guard let version = packet.body.first else { throw FetchError(.trust, "key \(source): empty public key packet") }
                guard version == 4 else { throw FetchError(.trust, "key \(source): OpenPGP v\(version) keys are not supported (v4 only)") }
                var hashed = Data([0x99, UInt8(packet.body.count >> 8 & 0xFF), UInt8(packet.body.count & 0xFF)])
                hashed.append(packet.body)
                fingerprint = sha1Hex(hashed)
            case 13 where primaryKeys == 1:
                userIDs.append(String(decoding: packet.body, as: UTF8.self))
            default:
                break
            }
        }
        guard let fingerprint else { throw FetchError(.trust, "key \(source): no public key found (is it an OpenPGP public key?)") }
        guard primaryKeys == 1 else { throw FetchError(.trust, "key \(source): holds \(primaryKeys) keys; give one key per file") }
        return OpenPGPKey(fingerprint: fingerprint, userIDs: userIDs, binary: binary)
    }

    /// The binary content of an ASCII-armored block (any `-----BEGIN PGP <kind>-----`), or `data`
    /// itself when it is already binary.
    public static func dearmor(_ data: Data, kind: String, source: String) throws(FetchError) -> Data {
        guard let first = data.first, first & 0x80 == 0 else { return data }
        let text = String(decoding: data, as: UTF8.self)
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" }).map { $0.trimmingCharacters(in: .whitespaces) }
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN PGP ") }) else {
            throw FetchError(.trust, "\(source): not an OpenPGP \(kind.lowercased()) (no armor header)")
        }
        var index = begin + 1
        // Armor headers ("Version: ...") end at the first blank line.
        if lines[index...].contains(where: { $0.isEmpty }) {
            while index < lines.count && lines[index].contains(":") && !lines[index].isEmpty { index += 1 }
            if index < lines.count && lines[index].isEmpty { index += 1 }
        }
        var base64 = ""
        while index < lines.count, !lines[index].hasPrefix("-----END"), !lines[index].hasPrefix("=") {
            base64 += lines[index]
            index += 1
        }
        guard let decoded = Data(base64Encoded: base64), !decoded.isEmpty else {
            throw FetchError(.trust, "\(source): corrupt OpenPGP armor")
        }
        return decoded
    }

    struct Packet {
        let tag: Int
        let body: Data
    }

    static func packets(_ data: Data, source: String) throws(FetchError) -> [Packet] {
        let bytes = [UInt8](data)
        var result: [Packet] = []
        var i = 0
        func fail() -> FetchError { FetchError(.trust, "\(source): malformed OpenPGP packet at byte \(i)") }
        while i < bytes.count {
            let header = bytes[i]
            guard header & 0x80 != 0 else { throw fail() }
            var tag: Int
            var length: Int
            if header & 0x40 != 0 {
                tag = Int(header & 0x3F)
                guard i + 1 < bytes.count else { throw fail() }
                let o1 = Int(bytes[i + 1])
                if o1 < 192 {
                    length = o1
                    i += 2
                } else if o1 < 224 {
                    guard i + 2 < bytes.count else { throw fail() }
                    length = ((o1 - 192) << 8) + Int(bytes[i + 2]) + 192
                    i += 3
                } else if o1 == 255 {
                    guard i + 5 < bytes.count else { throw fail() }
                    length = Int(bytes[i + 2]) << 24 | Int(bytes[i + 3]) << 16 | Int(bytes[i + 4]) << 8 | Int(bytes[i + 5])
                    i += 6
                } else {
                    throw fail()  // partial lengths never occur in keys
                }
            } else {
                tag = Int(header >> 2 & 0x0F)
                let lengthBytes = [1, 2, 4, 0][Int(header & 3)]
                guard lengthBytes > 0, i + lengthBytes < bytes.count else { throw fail() }
                length = 0
                for k in 0..<lengthBytes { length = length << 8 | Int(bytes[i + 1 + k]) }
                i += 1 + lengthBytes
            }
            guard length >= 0, i + length <= bytes.count else { throw fail() }
            result.append(Packet(tag: tag, body: Data(bytes[i..<(i + length)])))
            i += length
        }
        return result
    }

    static func sha1Hex(_ data: Data) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var size: UInt32 = 0
        data.withUnsafeBytes { raw in
            _ = EVP_Digest(raw.baseAddress, raw.count, &digest, &size, EVP_sha1(), nil)
        }
        return digest.prefix(Int(size)).map { String(format: "%02x", $0) }.joined()
    }
}
