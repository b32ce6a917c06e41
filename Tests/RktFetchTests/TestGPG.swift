import Foundation
import RktOS
import RktTestSupport

/// A throwaway GnuPG home with one signing key made by `gpg --batch --quick-gen-key`. Removing it
/// also stops the gpg-agent that gpg starts for it.
final class TestGPG {
    let home: TemporaryDirectory
    let fingerprint: String
    let publicKeyPath: String

    init(user: String = "rkt test <test@example.com>") throws {
        home = try TemporaryDirectory(prefix: "rkt-gpg")
        try TestGPG.gpg(["--quick-gen-key", user, "ed25519", "sign", "1d"], home: home.path)
        let listing = String(decoding: try TestGPG.gpg(["--with-colons", "--list-keys"], home: home.path), as: UTF8.self)
        guard let fpr = listing.split(separator: "\n").first(where: { $0.hasPrefix("fpr:") })?.split(separator: ":", omittingEmptySubsequences: false).dropFirst(9).first else {
            throw TestSupportError("gpg listed no fingerprint: \(listing)")
        }
        fingerprint = String(fpr).lowercased()
        publicKeyPath = home.path + "/public.asc"
        try TestGPG.gpg(["--armor", "--output", publicKeyPath, "--export", fingerprint], home: home.path)
    }

    deinit {
        _ = try? Spawn.run("/usr/bin/gpgconf", arguments: ["--kill", "gpg-agent"], environment: ["GNUPGHOME": home.path, "PATH": "/usr/bin:/bin"], directory: nil)
    }

    /// Writes an armored detached signature of `file` to `file.asc` (or `output`).
    @discardableResult
    func sign(_ file: String, output: String? = nil) throws -> String {
        let out = output ?? file + ".asc"
        try? FileManager.default.removeItem(atPath: out)
        try TestGPG.gpg(["--local-user", fingerprint, "--armor", "--detach-sign", "--output", out, file], home: home.path)
        return out
    }

    @discardableResult
    static func gpg(_ arguments: [String], home: String) throws -> Data {
        let result = try Spawn.run("/usr/bin/gpg", arguments: ["--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""] + arguments,
                                   environment: ["GNUPGHOME": home, "PATH": "/usr/bin:/bin", "LC_ALL": "C"], directory: home)
        guard result.status == 0 else { throw TestSupportError("gpg \(arguments.joined(separator: " ")) exited \(result.status)") }
        return result.stdout
    }
}
