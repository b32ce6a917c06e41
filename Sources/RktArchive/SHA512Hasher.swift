import CCrypto
import Foundation

/// Streaming SHA-512 over OpenSSL's EVP interface (which picks the fastest implementation for the CPU).
/// A value type with copy-on-write: copying a hasher mid-stream forks the digest state.
public struct SHA512Hasher {
    // Owns the EVP_MD_CTX so it is freed exactly once however the struct is copied.
    private final class Context {
        let ctx: OpaquePointer

        init() {
            guard let ctx = EVP_MD_CTX_new() else { fatalError("OpenSSL: EVP_MD_CTX_new failed (out of memory)") }
            guard EVP_DigestInit_ex(ctx, EVP_sha512(), nil) == 1 else {
                EVP_MD_CTX_free(ctx)
                fatalError("OpenSSL: SHA-512 is unavailable")
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

    private var context = Context()
    private var finalized: String?

    public init() {}

    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        precondition(finalized == nil, "SHA512Hasher.update after finalizeHex")
        if !isKnownUniquelyReferenced(&context) { context = Context(copying: context) }
        EVP_DigestUpdate(context.ctx, base, bytes.count)
    }

    public mutating func update(_ data: Data) {
        data.withUnsafeBytes { update($0) }
    }

    /// The digest as 128 lowercase hex digits. Further calls return the same value.
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
        var hasher = SHA512Hasher()
        hasher.update(data)
        return hasher.finalizeHex()
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
