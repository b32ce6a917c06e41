import CCrypto
import Foundation

/// A streaming digest over OpenSSL's EVP interface (which picks the fastest implementation for the
/// CPU): SHA-512 for image IDs, SHA-256 where only integrity matters and speed does (SHA-NI makes it
/// 2-3x faster than SHA-512 on current x86). A value type with copy-on-write: copying a hasher
/// mid-stream forks the digest state.
public struct StreamingDigest {
    public enum Algorithm: String, Sendable {
        case sha512, sha256
    }

    // Owns the EVP_MD_CTX so it is freed exactly once however the struct is copied.
    private final class Context {
        let ctx: OpaquePointer

        init(_ algorithm: Algorithm) {
            guard let ctx = EVP_MD_CTX_new() else { fatalError("OpenSSL: EVP_MD_CTX_new failed (out of memory)") }
            let md = algorithm == .sha512 ? EVP_sha512() : EVP_sha256()
            guard EVP_DigestInit_ex(ctx, md, nil) == 1 else {
                EVP_MD_CTX_free(ctx)
                fatalError("OpenSSL: \(algorithm) is unavailable")
            }
            self.ctx = ctx
        }

        init(copying other: Context) {
            guard let ctx = EVP_MD_CTX_new() else { fatalError("OpenSSL: EVP_MD_CTX_new failed (out of memory)") }
            guard EVP_MD_CTX_copy_ex(ctx, other.ctx) == 1 else {
                EVP_MD_CTX_free(ctx)
                fatalError("OpenSSL: EVP_MD_CTX_copy_ex failed")
            }
            self.ctx = ctx
        }

        deinit { EVP_MD_CTX_free(ctx) }
    }

    private var context: Context
    private var finalized: String?
    public let algorithm: Algorithm

    public init(_ algorithm: Algorithm = .sha512) {
        self.algorithm = algorithm
        context = Context(algorithm)
    }

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(finalized == nil, "StreamingDigest.update after finalizeHex")
        if !isKnownUniquelyReferenced(&context) { context = Context(copying: context) }
        EVP_DigestUpdate(context.ctx, base, bytes.count)
    }

    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    /// The digest in lowercase hex (128 digits for SHA-512). Further calls return the same value.
    public mutating func finalizeHex() -> String {
        if let finalized { return finalized }
        if !isKnownUniquelyReferenced(&context) { context = Context(copying: context) }
        var digest = [UInt8](repeating: 0, count: 64)
        var length: UInt32 = 0
        EVP_DigestFinal_ex(context.ctx, &digest, &length)
        let hex = hexString(digest.prefix(Int(length)))
        finalized = hex
        return hex
    }

    /// One-shot convenience.
    public static func hex(of data: Data) -> String {
        var hasher = StreamingDigest()
        hasher.update(data)
        return hasher.finalizeHex()
    }

    /// SHA-512 in hex through OpenSSL's low-level SHA-512 rather than EVP, for hot paths that hash
    /// a few bytes: EVP's first use in a process loads the system OpenSSL configuration
    /// (openssl.cnf, 1-2 ms), which `rkt run` paid only for its tree ID. This leaves OpenSSL's
    /// global state alone, so TLS later in the same process still reads its configuration.
    public static func sha512HexWithoutConfig(of data: Data) -> String {
        var digest = [UInt8](repeating: 0, count: 64)
        let ok = data.withUnsafeBytes { rkt_sha512($0.baseAddress, $0.count, &digest) }
        guard ok == 1 else { fatalError("OpenSSL: SHA-512 failed") }
        return hexString(digest)
    }
}

func hexString<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
    let digits: [UInt8] = Array("0123456789abcdef".utf8)
    var out: [UInt8] = []
    out.reserveCapacity(128)
    for b in bytes {
        out.append(digits[Int(b >> 4)])
        out.append(digits[Int(b & 0x0f)])
    }
    return String(decoding: out, as: UTF8.self)
}
