import Foundation
import Logging
import RktOS

/// Checks a detached OpenPGP signature of an image file against the keys the keystore trusts for
/// the image's name, with Debian's `gpgv`: the verify-only half of GnuPG, in every Debian install
/// (apt uses it), with a stable machine-readable status interface. We hand it a keyring holding
/// exactly the trusted keys, so "valid" means "valid and trusted".
public struct SignatureVerifier: Sendable {
    public let keystore: Keystore
    public let gpgvPath: String
    let scratchDirectory: String
    let logger: Logger

    /// `scratchDirectory` holds the short-lived keyring and gpgv home (the store's tmp dir).
    public init(keystore: Keystore, scratchDirectory: String, gpgvPath: String = "/usr/bin/gpgv", logger: Logger) {
        self.keystore = keystore
        self.gpgvPath = gpgvPath
        self.scratchDirectory = scratchDirectory
        self.logger = logger
    }

    /// The outcome of gpgv's status lines, pure so it can be tested alone.
    enum Outcome: Equatable {
        case valid(primaryFingerprint: String)
        case bad(keyID: String, userID: String)
        case unknownKey(keyID: String)
        case invalid(String)
    }

    static func interpret(status: String) -> Outcome {
        var outcome = Outcome.invalid("no signature found")
        for line in status.split(separator: "\n") where line.hasPrefix("[GNUPG:] ") {
            let fields = line.dropFirst(9).split(separator: " ").map(String.init)
            guard let keyword = fields.first else { continue }
            switch keyword {
            case "VALIDSIG" where fields.count >= 2:
                return .valid(primaryFingerprint: (fields.count >= 11 ? fields[10] : fields[1]).lowercased())
            case "BADSIG" where fields.count >= 2:
                return .bad(keyID: fields[1], userID: fields.dropFirst(2).joined(separator: " "))
            case "ERRSIG" where fields.count >= 2:
                outcome = fields.count >= 7 && fields[6] == "9" ? .unknownKey(keyID: fields[1]) : .invalid("cannot check the signature (gpgv ERRSIG \(fields.dropFirst().joined(separator: " ")))")
            case "NO_PUBKEY" where fields.count >= 2:
                outcome = .unknownKey(keyID: fields[1])
            case "NODATA":
                outcome = .invalid("the signature file holds no OpenPGP signature")
            default:
                continue
            }
        }
        return outcome
    }

    /// Verifies `signaturePath` over `filePath` for an image named `imageName`; returns the
    /// fingerprint of the signing (primary) key.
    public func verify(filePath: String, signaturePath: String, imageName: String) throws(FetchError) -> String {
        let trusted = try keystore.trustedKeys(for: imageName)
        guard !trusted.isEmpty else {
            throw FetchError(.trust, "image \(imageName): no trusted keys for prefix \"\(imageName)\" or any parent (add one with `rkt trust --prefix \(imageName)`)")
        }
        let work = scratchDirectory + "/gpgv-" + UUID().uuidString.lowercased()
        defer { try? FileSystem.removeTree(work) }
        var keyring = Data()
        for (fingerprint, path) in trusted.sorted(by: { $0.key < $1.key }) {
            let key: OpenPGPKey
            do throws(FetchError) {
                let data: Data
                do { data = try FileSystem.read(path) } catch { throw FetchError(.trust, "reading \(path): \(error)") }
                key = try OpenPGPKey.parse(data, source: path)
            } catch {
                logger.warning("ignoring unreadable trusted key \(path): \(error)")
                continue
            }
            if key.fingerprint != fingerprint { logger.warning("trusted key \(path) has fingerprint \(key.fingerprint), not its file name") }
            keyring.append(key.binary)
        }
        do {
            try FileSystem.makeDirectories(work, mode: 0o700)
            try FileSystem.writeAtomically(keyring, to: work + "/keyring.gpg", mode: 0o600, sync: false)
        } catch {
            throw FetchError(.trust, "preparing signature check: \(error)", underlying: error)
        }
        let result: Spawn.Result
        do {
            result = try Spawn.run(gpgvPath, arguments: ["--homedir", work, "--status-fd", "1", "--logger-fd", "1", "--keyring", work + "/keyring.gpg", signaturePath, filePath],
                                   environment: ["PATH": "/usr/bin:/bin", "LC_ALL": "C"], directory: work)
        } catch {
            throw FetchError(.signature, "cannot run \(gpgvPath) to check signatures (install Debian's gpgv): \(error)", underlying: error)
        }
        let output = String(decoding: result.stdout, as: UTF8.self)
        logger.debug("gpgv exit \(result.status): \(output)")
        switch Self.interpret(status: output) {
        case .valid(let fingerprint) where result.status == 0:
            return fingerprint
        case .valid:
            throw FetchError(.signature, "image \(imageName): signature check failed (gpgv exit \(result.status))")
        case .bad(let keyID, let userID):
            throw FetchError(.signature, "image \(imageName): BAD signature from key \(keyID) \(userID): the image does not match its signature (tampered or corrupt)")
        case .unknownKey(let keyID):
            throw FetchError(.trust, "image \(imageName): signed by key \(keyID), which is not trusted for prefix \"\(imageName)\" (see `rkt trust`)")
        case .invalid(let why):
            throw FetchError(.signature, "image \(imageName): invalid signature: \(why)")
        }
    }
}
