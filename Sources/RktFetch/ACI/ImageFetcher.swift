import CCrypto
import Foundation
import Logging
import RktOS
import RktStore
import RktTypes
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// When to go to the network (rkt's `--pull-policy`).
public enum PullPolicy: String, Sendable, CaseIterable {
    /// The store if it has the image, else the network (`run`/`prepare` default).
    case new
    /// Ask the network; a fresh cache entry or `304 Not Modified` reuses the stored image (`fetch` default).
    case update
    /// The store only.
    case never
}

/// Where an image's detached signature comes from.
public enum SignatureSource: Sendable, Equatable {
    /// `--insecure-options=image`: no check.
    case skip
    /// `--signature FILE`.
    case file(String)
    case url(URL)
}

public struct ImageFetchOptions: Sendable {
    public var http: HTTPClientOptions
    /// `--insecure-options=image`.
    public var skipSignature: Bool
    public var pullPolicy: PullPolicy
    public var keystore: Keystore
    public var showProgress: Bool
    /// Appended to discovery hosts (tests serve discovery pages on a random port).
    public var discoveryPort: Int?
    /// Attempts for one download; each retry resumes with Range where it stopped.
    public var attempts: Int
    /// `--trust-keys-from-https`: when a name is fetched through discovery and no key is trusted
    /// for it, trust the `ac-discovery-pubkeys` keys fetched over verified HTTPS, without review.
    public var trustKeysFromHTTPS: Bool

    public init(http: HTTPClientOptions = HTTPClientOptions(), skipSignature: Bool = false, pullPolicy: PullPolicy = .update,
                keystore: Keystore = Keystore(systemConfig: "/usr/lib/rkt", localConfig: "/etc/rkt"),
                showProgress: Bool = ProgressBar.stderrIsTerminal, discoveryPort: Int? = nil, attempts: Int = 3,
                trustKeysFromHTTPS: Bool = false) {
        self.trustKeysFromHTTPS = trustKeysFromHTTPS
        self.http = http
        self.skipSignature = skipSignature
        self.pullPolicy = pullPolicy
        self.keystore = keystore
        self.showProgress = showProgress
        self.discoveryPort = discoveryPort
        self.attempts = attempts
    }
}

/// Gets ACIs into the store from files, URLs and appc names, checking signatures and labels
/// before anything is published (`ImageStore.importImage(approve:)`).
public final class ImageFetcher {
    public let store: ImageStore
    public let options: ImageFetchOptions
    public let http: HTTPClient
    let logger: Logger

    public init(store: ImageStore, options: ImageFetchOptions, logger: Logger) {
        self.store = store
        self.options = options
        self.logger = logger
        http = HTTPClient(options: options.http, logger: logger)
    }

    var verifier: SignatureVerifier {
        SignatureVerifier(keystore: options.keystore, scratchDirectory: store.layout.tmp, logger: logger)
    }

    // MARK: Local files

    /// A local ACI; its signature is `signatureFile`, else `<path>.asc` beside it, as in rkt.
    public func fetchFile(_ path: String, signatureFile: String?) throws(FetchError) -> ImageInfo {
        let signature: SignatureSource
        if options.skipSignature {
            signature = .skip
        } else {
            let candidate = signatureFile ?? path + ".asc"
            guard FileSystem.exists(candidate) else {
                throw FetchError(.signature, "image \(path): no signature (looked for \(candidate)); give one with --signature or skip the check with --insecure-options=image")
            }
            signature = .file(candidate)
        }
        return try importVerified(path: path, signatureFile: signature == .skip ? nil : candidatePath(signature), expected: nil, source: path)
    }

    private func candidatePath(_ source: SignatureSource) -> String? {
        if case .file(let path) = source { return path }
        return nil
    }

    // MARK: URLs

    /// An `http(s)://` ACI URL under the pull policy, with HTTP caching and resumable downloads.
    /// `signature` defaults to the URL with `.asc` appended.
    public func fetchURL(_ url: URL, signature: SignatureSource? = nil, expected: DiscoveryApp? = nil) throws(FetchError) -> ImageInfo {
        let key = url.absoluteString
        let signature = options.skipSignature ? .skip : (signature ?? .url(URL(string: key + ".asc") ?? url))
        let record = try storeCall { () throws(StoreError) in try store.remote(aciURL: key) }
        let cached = try record.flatMap { (r: RemoteRecord) throws(FetchError) -> ImageInfo? in try storeCall { () throws(StoreError) in try store.image(key: r.blobKey) } }
        switch options.pullPolicy {
        case .never:
            guard let cached else { throw FetchError(.store, "image \(key) is not in the store (--pull-policy=never)") }
            return cached
        case .new:
            if let cached { return cached }
        case .update:
            if let cached, let record, record.cacheMaxAge > 0, record.downloadTime.addingTimeInterval(TimeInterval(record.cacheMaxAge)) > Date() {
                logger.info("image for \(key) isn't expired, not fetching.")
                return cached
            }
        }

        var headers: [(name: String, value: String)] = []
        if let cached, let record, !record.etag.isEmpty {
            headers.append((name: "If-None-Match", value: record.etag))
            _ = cached
        }
        let download = try self.download(url, headers: headers)
        defer { download.discard() }
        if download.notModified, let cached, var record {
            logger.info("image for \(key) not modified (304), using the stored copy")
            record.downloadTime = Date()
            record.cacheMaxAge = download.maxAge ?? record.cacheMaxAge
            try storeCall { () throws(StoreError) in try store.writeRemote(record) }
            return cached
        }

        var signatureFile: String?
        var signatureURL = ""
        switch signature {
        case .skip: break
        case .file(let path): signatureFile = path
        case .url(let sigURL):
            signatureURL = sigURL.absoluteString
            signatureFile = try fetchSignature(sigURL, forImage: key, into: download.path + ".asc")
        }
        defer { if case .url = signature, let signatureFile { unlink(signatureFile) } }
        let info = try importVerified(path: download.path, signatureFile: signatureFile, expected: expected, source: key)
        try storeCall { () throws(StoreError) in
            try store.writeRemote(RemoteRecord(aciURL: key, signatureURL: signatureURL, etag: download.etag ?? "", blobKey: info.key,
                                               cacheMaxAge: download.maxAge ?? 0, downloadTime: Date()))
        }
        return info
    }

    // MARK: Names

    /// An appc name (`example.com/app:1.0`, `example.com/app,version=1.0,os=linux`): the store
    /// under the pull policy, else meta discovery, with the fetched manifest's labels checked.
    public func fetchName(_ text: String, signatureFile: String?) throws(FetchError) -> ImageInfo {
        let reference: ImageReference
        do { reference = try ImageReference.parse(text) } catch { throw FetchError(.invalidArgument, error.description) }
        if options.pullPolicy != .update {
            let found = try storeCall { () throws(StoreError) in try store.findImages(reference) }
            if let first = found.first { return first }
            if options.pullPolicy == .never {
                throw FetchError(.store, "image \(reference) is not in the store (--pull-policy=never)")
            }
        }
        let app = DiscoveryApp.withRuntimeDefaults(name: reference.name, labels: reference.labels)
        let discovery = MetaDiscovery(http: http, allowHTTP: options.http.allowHTTP, port: options.discoveryPort, logger: logger)
        let endpoints = try discovery.discoverACI(app)
        if options.trustKeysFromHTTPS && !options.skipSignature && signatureFile == nil {
            maybeTrustDiscoveredKeys(for: app.name)
        }
        var lastError: FetchError?
        for endpoint in endpoints {
            if endpoint.aci.scheme == "http" && !options.http.allowHTTP {
                lastError = FetchError(.insecureScheme, "discovered \(endpoint.aci.absoluteString) for \(app.name) is plain HTTP (use --insecure-options=http)")
                continue
            }
            let signature: SignatureSource = signatureFile.map { .file($0) } ?? .url(endpoint.signature)
            do throws(FetchError) {
                return try fetchURL(endpoint.aci, signature: signature, expected: app)
            } catch {
                // Verification and label failures are verdicts on this image, not transport trouble.
                if [.signature, .trust, .labelMismatch].contains(error.kind) { throw error }
                logger.debug("endpoint \(endpoint.aci.absoluteString) failed: \(error)")
                lastError = error
            }
        }
        throw lastError ?? FetchError(.discovery, "discovery for \(app.name) found no usable ACI URL")
    }

    /// rkt's `--trust-keys-from-https`: with no key trusted for the name (or a parent prefix),
    /// the name's `ac-discovery-pubkeys` are discovered and fetched over HTTPS with certificate
    /// verification (never plain HTTP, nothing when `--insecure-options=tls`) and stored for the
    /// name as prefix, each announced as rkt does. A failure is reported and the fetch goes on:
    /// the signature check then says what is missing.
    func maybeTrustDiscoveredKeys(for name: String) {
        if options.http.insecureTLS {
            logger.warning("not trusting keys from https: TLS verification is disabled (--insecure-options=tls)")
            return
        }
        do throws(FetchError) {
            if !(try options.keystore.trustedKeys(for: name).isEmpty) {
                logger.debug("keys already exist for prefix \"\(name)\", not fetching again")
                return
            }
        } catch {
            logger.warning("error checking for existing keys: \(error)")
            return
        }
        let https = HTTPClient(options: HTTPClientOptions(allowHTTP: false, insecureTLS: false), logger: logger)
        let discovery = MetaDiscovery(http: https, allowHTTP: false, port: options.discoveryPort, logger: logger)
        let locations: [URL]
        do throws(FetchError) {
            locations = try discovery.discoverPublicKeys(DiscoveryApp(name: name, labels: [:]))
            if locations.isEmpty { throw FetchError(.discovery, "meta discovery on \(name) resulted in no keys") }
        } catch {
            logger.warning("error determining key location: \(error)")
            return
        }
        for location in locations {
            do throws(FetchError) {
                guard location.scheme == "https" else {
                    throw FetchError(.insecureScheme, "key \(location.absoluteString) is not on https")
                }
                let (response, body) = try https.fetch(HTTPRequest(url: location), maxBodyBytes: 4 << 20)
                try response.ensureSuccess("key")
                let key = try OpenPGPKey.parse(body, source: location.absoluteString)
                var shown = "prefix: \"\(name)\"\nkey: \"\(location.absoluteString)\"\ngpg key fingerprint is: \(key.spacedFingerprint)\n"
                for userID in key.userIDs { shown += "\t\(userID)\n" }
                FileHandle.standardError.write(Data(shown.utf8))
                logger.warning("Trusting \"\(location.absoluteString)\" for prefix \"\(name)\" without fingerprint review.")
                let path = try options.keystore.store(key, prefix: name)
                logger.warning("Added key for prefix \"\(name)\" at \"\(path)\"")
            } catch {
                logger.warning("error adding keys: \(error)")
            }
        }
    }

    // MARK: Import with checks

    private func importVerified(path: String, signatureFile: String?, expected: DiscoveryApp?, source: String) throws(FetchError) -> ImageInfo {
        if signatureFile == nil && !options.skipSignature {
            throw FetchError(.signature, "image \(source): no signature to check")
        }
        let verifier = self.verifier
        let logger = self.logger
        do {
            return try store.importImage(path: path) { manifest in
                let name = manifest.name.rawValue
                if let expected {
                    guard name == expected.name else {
                        throw FetchError(.labelMismatch, "image \(source): fetched image name \"\(name)\" differs from the requested \"\(expected.name)\"")
                    }
                    var labels: [String: String] = [:]
                    for label in manifest.labels { labels[label.name.rawValue] = label.value }
                    try expected.checkLabels(labels, imageName: name)
                }
                if let signatureFile {
                    let fingerprint = try verifier.verify(filePath: path, signaturePath: signatureFile, imageName: name)
                    logger.info("signature of \(name) verified: key \(fingerprint)")
                }
            }
        } catch {
            if let cause = error.cause as? FetchError { throw cause }
            throw FetchError(.store, "importing \(source): \(error)", underlying: error)
        }
    }

    private func fetchSignature(_ url: URL, forImage image: String, into path: String) throws(FetchError) -> String {
        let (response, body) = try http.fetch(HTTPRequest(url: url), maxBodyBytes: 1 << 20)
        if response.status == 404 || response.status == 410 {
            throw FetchError(.signature, "image \(image): no signature at \(url.absoluteString) (HTTP \(response.status)); skip the check with --insecure-options=image")
        }
        try response.ensureSuccess("signature")
        do { try FileSystem.writeAtomically(body, to: path, mode: 0o600, sync: false) } catch {
            throw FetchError(.io, "saving signature \(url.absoluteString): \(error)", underlying: error)
        }
        return path
    }

    // MARK: Downloads

    /// A completed download in the store's tmp dir (or a 304).
    final class Download {
        let path: String
        let etag: String?
        let maxAge: Int64?
        let notModified: Bool
        /// Keeps the flock on the file until it is imported and removed.
        private let lockFD: Int32

        init(path: String, etag: String?, maxAge: Int64?, notModified: Bool, lockFD: Int32 = -1) {
            self.path = path
            self.etag = etag
            self.maxAge = maxAge
            self.notModified = notModified
            self.lockFD = lockFD
        }

        func discard() {
            if lockFD >= 0 {
                unlink(path)
                unlink(path + ".etag")
                close(lockFD)
            }
        }
    }

    /// Downloads `url` into `cas/tmp/download-<sha256(url)>`. A partial file left by an earlier,
    /// interrupted attempt (this run or a previous one) is resumed with `Range` + `If-Range`, so a
    /// changed image on the server restarts from zero instead of splicing two versions.
    func download(_ url: URL, headers: [(name: String, value: String)]) throws(FetchError) -> Download {
        let path = store.layout.tmp + "/download-" + ImageFetcher.sha256Hex(Data(url.absoluteString.utf8)).prefix(32)
        let fd = try ImageFetcher.openLocked(path, url: url)
        defer { close(fd) }

        var attempt = 0
        while true {
            attempt += 1
            var offset = Int64(lseek(fd, 0, SEEK_END))
            let partialETag = (try? FileSystem.read(path + ".etag")).map { String(decoding: $0, as: UTF8.self) }
            var request = HTTPRequest(url: url, headers: headers)
            if offset > 0, let partialETag, !partialETag.isEmpty {
                request.headers.append((name: "If-Range", value: partialETag))
                logger.info("resuming download of \(url.absoluteString) at byte \(offset)")
            } else if offset > 0 {
                ftruncate(fd, 0)
                offset = 0
            }
            var progress: ProgressBar?
            var written = offset
            let started = Date()
            do throws(FetchError) {
                let response = try http.download(request, resumeFrom: offset, onResponse: { response in
                    // Runs before the body: set up the file and the progress bar for this answer.
                    if response.status == 200 && offset > 0 {
                        ftruncate(fd, 0)
                        lseek(fd, 0, SEEK_SET)
                        written = 0
                    }
                    if response.isSuccess, let etag = response.header("ETag") {
                        try? FileSystem.writeAtomically(Data(etag.utf8), to: path + ".etag", sync: false)
                    }
                    if response.isSuccess && self.options.showProgress {
                        let length = response.header("Content-Length").flatMap { Int64($0) }
                        progress = ProgressBar(label: url.lastPathComponent, total: length.map { $0 + (response.status == 206 ? offset : 0) },
                                               alreadyDone: response.status == 206 ? offset : 0)
                    }
                }, sink: { chunk in
                    try ImageFetcher.writeAll(fd: fd, chunk, path: path)
                    written += Int64(chunk.count)
                    progress?.advance(by: chunk.count)
                })
                progress?.finish()
                if response.status == 304 {
                    return Download(path: path, etag: response.header("ETag"), maxAge: ImageFetcher.maxAge(response), notModified: true, lockFD: dup(fd))
                }
                if response.status == 416 && offset > 0 {
                    // Our partial file is as long as the image or longer: it cannot be trusted.
                    ftruncate(fd, 0)
                    unlink(path + ".etag")
                    if attempt < options.attempts { continue }
                }
                try response.ensureSuccess("image")
                let seconds = Date().timeIntervalSince(started)
                logger.debug("downloaded \(url.absoluteString): \(written - offset) bytes in \(String(format: "%.3f", seconds)) s (\(ProgressBar.size(Int64(Double(written - offset) / max(seconds, 0.001))))/s)")
                return Download(path: path, etag: response.header("ETag"), maxAge: ImageFetcher.maxAge(response), notModified: false, lockFD: dup(fd))
            } catch {
                let retriable = [.truncated, .io, .timeout, .connect].contains(error.kind)
                guard retriable && attempt < options.attempts else {
                    // A partial file is kept for the next run to resume, unless it is useless.
                    if !retriable || lseek(fd, 0, SEEK_END) <= 0 {
                        unlink(path)
                        unlink(path + ".etag")
                    }
                    throw error
                }
                logger.warning("download of \(url.absoluteString) interrupted after \(written) bytes (\(error)); retrying")
                usleep(UInt32(200_000 * attempt))
            }
        }
    }

    /// Opens `path` and holds an exclusive flock on it, so two rkt processes never download into
    /// the same file. The file is unlinked when done, so after the lock is ours we check it is
    /// still the file at `path` (else we locked a removed one) and retry.
    static func openLocked(_ path: String, url: URL) throws(FetchError) -> Int32 {
        while true {
            let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
            guard fd >= 0 else { throw FetchError(.io, "downloading \(url.absoluteString): creating \(path): \(Errno.last.shortDescription)") }
            while flock(fd, LOCK_EX) != 0 {
                if Errno.last != .interrupted {
                    close(fd)
                    throw FetchError(.io, "downloading \(url.absoluteString): locking \(path): \(Errno.last.shortDescription)")
                }
            }
            var opened = stat()
            var current = stat()
            if fstat(fd, &opened) == 0, stat(path, &current) == 0, opened.st_ino == current.st_ino, opened.st_dev == current.st_dev {
                return fd
            }
            close(fd)
        }
    }

    static func writeAll(fd: Int32, _ chunk: UnsafeRawBufferPointer, path: String) throws {
        var offset = 0
        while offset < chunk.count {
            let n = write(fd, chunk.baseAddress! + offset, chunk.count - offset)
            if n < 0 {
                if Errno.last == .interrupted { continue }
                throw FetchError(.io, "writing \(path): \(Errno.last.shortDescription)")
            }
            offset += n
        }
    }

    /// `Cache-Control: max-age=N` in seconds; 0 for no-cache/no-store; nil when absent.
    static func maxAge(_ response: HTTPResponse) -> Int64? {
        guard let value = response.header("Cache-Control")?.lowercased() else { return nil }
        var result: Int64?
        for directive in value.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            if directive == "no-cache" || directive == "no-store" { return 0 }
            if directive.hasPrefix("max-age="), let seconds = Int64(directive.dropFirst(8)) { result = max(0, seconds) }
        }
        return result
    }

    static func sha256Hex(_ data: Data) -> String {
        var digest = [UInt8](repeating: 0, count: Int(EVP_MAX_MD_SIZE))
        var size: UInt32 = 0
        data.withUnsafeBytes { raw in _ = EVP_Digest(raw.baseAddress, raw.count, &digest, &size, EVP_sha256(), nil) }
        return digest.prefix(Int(size)).map { String(format: "%02x", $0) }.joined()
    }

    private func storeCall<T>(_ body: () throws(StoreError) -> T) throws(FetchError) -> T {
        do { return try body() } catch { throw FetchError(.store, error.description, underlying: error) }
    }
}
