#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import RktArchive
import RktStore

/// User name and password for a registry (rkt's `dockerAuth` configuration in `auth.d`).
public struct RegistryCredentials: Sendable, Equatable {
    public var user: String
    public var password: String

    public init(user: String, password: String) {
        self.user = user
        self.password = password
    }
}

/// A client of one repository on a registry speaking the Docker registry HTTP API v2 / OCI
/// distribution spec: manifests and blobs, with anonymous or credentialed bearer tokens
/// (`WWW-Authenticate: Bearer realm=...,service=...,scope=...`) or basic auth.
final class RegistryClient {
    let reference: DockerReference
    let http: HTTPClient
    let credentials: RegistryCredentials?
    let logger: Logger
    let allowHTTP: Bool
    private(set) var base: String
    /// The `Authorization` header value once we have one. Blobs download on several threads, and
    /// any of them may renew it on a 401: `lock` guards it.
    private var authorization: String? {
        get { lock.lock(); defer { lock.unlock() }; return storedAuthorization }
        set { lock.lock(); storedAuthorization = newValue; lock.unlock() }
    }
    private var storedAuthorization: String?
    private let lock = NSLock()

    init(reference: DockerReference, options: HTTPClientOptions, credentials: RegistryCredentials?, logger: Logger) {
        self.reference = reference
        self.http = HTTPClient(options: options, logger: logger)
        self.credentials = credentials
        self.logger = logger
        self.allowHTTP = options.allowHTTP
        self.base = "https://\(reference.registry)"
    }

    private var scope: String { "repository:\(reference.repository):pull" }

    /// `GET /v2/`: finds out whether the registry speaks v2 and how it wants us to authenticate.
    /// With `--insecure-options=http` a registry that does not speak TLS is used over plain HTTP.
    func ping() throws(FetchError) {
        var response: HTTPResponse
        do {
            response = try http.fetch(request("/v2/"), maxBodyBytes: 1 << 16).0
        } catch {
            let tlsProblem: [FetchError.Kind] = [.tls, .connect, .malformedResponse, .io]
            guard allowHTTP, tlsProblem.contains(error.kind) else {
                if tlsProblem.contains(error.kind) && error.kind != .connect {
                    throw FetchError(error.kind, "\(error) (a registry on plain HTTP needs --insecure-options=http)", underlying: error)
                }
                throw error
            }
            logger.debug("registry \(reference.registry) does not answer HTTPS (\(error)); trying plain HTTP")
            base = "http://\(reference.registry)"
            response = try http.fetch(request("/v2/"), maxBodyBytes: 1 << 16).0
        }
        if response.status == 401 {
            try authenticate(challenge: response.header("WWW-Authenticate"))
        } else if response.status != 200 {
            throw FetchError(.httpStatus, "\(reference.registry) is not a Docker registry (v2): GET /v2/ answered HTTP \(response.status)", status: response.status)
        }
    }

    // MARK: Manifests

    /// The image manifest for the reference's tag or digest; an index is resolved to the
    /// host platform's manifest. Returns it with its digest (verified when asked for by digest).
    func manifest() throws(FetchError) -> (OCIManifest, digest: String) {
        var wanted = reference.manifestReference
        for _ in 0..<3 {
            let path = "/v2/\(reference.repository)/manifests/\(wanted)"
            let (response, data) = try fetchAuthorized(path, accept: OCIMediaType.acceptedManifests, maxBytes: 4 << 20)
            if response.status == 404 {
                throw FetchError(.httpStatus, "docker://\(reference): manifest unknown: \(reference.repository):\(wanted) is not on \(reference.registry) (HTTP 404)", status: 404)
            }
            try response.ensureSuccess("manifest of docker://\(reference)")
            let digest = OCIDigest.of(data)
            if OCIDigest.isValid(wanted), digest != wanted {
                throw FetchError(.malformedResponse, "docker://\(reference): the registry sent a manifest with digest \(digest) for \(wanted)")
            }
            switch try ManifestDocument.decode(data, contentType: response.header("Content-Type"), what: "docker://\(reference)") {
            case .manifest(let manifest):
                return (manifest, digest)
            case .index(let index):
                let chosen = try PlatformChoice.choose(from: index, what: "docker://\(reference)")
                logger.debug("image index: chose \(chosen.digest)")
                wanted = chosen.digest
            }
        }
        throw FetchError(.malformedResponse, "docker://\(reference): image indexes nested too deep")
    }

    // MARK: Blobs

    func blobData(_ descriptor: OCIDescriptor, maxBytes: Int, what: String) throws(FetchError) -> Data {
        let (response, data) = try fetchAuthorized("/v2/\(reference.repository)/blobs/\(descriptor.digest)", accept: [], maxBytes: maxBytes)
        try response.ensureSuccess(what)
        let actual = OCIDigest.of(data)
        if actual != descriptor.digest { throw FetchError(.malformedResponse, "\(what): digest mismatch: content has \(actual)") }
        return data
    }

    /// Streams a blob into `path`, hashing it on the way; the file is complete and verified on return.
    func downloadBlob(_ descriptor: OCIDescriptor, to path: String, what: String) throws(FetchError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw FetchError(.io, "\(what): cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        var hasher = StreamingDigest(.sha256)
        var total: Int64 = 0
        var retried = false
        while true {
            let response = try http.download(request("/v2/\(reference.repository)/blobs/\(descriptor.digest)", accept: [])) { chunk in
                hasher.update(chunk)
                total += Int64(chunk.count)
                var offset = 0
                while offset < chunk.count {
                    let n = write(fd, chunk.baseAddress! + offset, chunk.count - offset)
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw FetchError(.io, "\(what): writing \(path): \(String(cString: strerror(errno)))")
                    }
                    offset += n
                }
            }
            if response.status == 401 && !retried {
                retried = true
                try authenticate(challenge: response.header("WWW-Authenticate"))
                continue
            }
            if response.status == 404 {
                throw FetchError(.httpStatus, "\(what): blob unknown to the registry (HTTP 404)", status: 404)
            }
            try response.ensureSuccess(what)
            break
        }
        try DigestCheck.compare(hasher.finalizeHex(), size: total, digest: descriptor.digest,
                                expectedSize: descriptor.size > 0 ? descriptor.size : nil, what: what)
    }

    // MARK: Requests and authentication

    private func request(_ path: String, accept: [String] = []) throws(FetchError) -> HTTPRequest {
        guard let url = URL(string: base + path) else { throw FetchError(.invalidURL, "invalid registry URL \(base + path)") }
        var headers: [(name: String, value: String)] = []
        if !accept.isEmpty { headers.append((name: "Accept", value: accept.joined(separator: ", "))) }
        if let authorization { headers.append((name: "Authorization", value: authorization)) }
        return HTTPRequest(url: url, headers: headers)
    }

    /// A GET with the current credentials; on 401 authenticates once by the challenge and retries.
    private func fetchAuthorized(_ path: String, accept: [String], maxBytes: Int) throws(FetchError) -> (HTTPResponse, Data) {
        var result = try http.fetch(request(path, accept: accept), maxBodyBytes: maxBytes)
        if result.0.status == 401 {
            try authenticate(challenge: result.0.header("WWW-Authenticate"))
            result = try http.fetch(request(path, accept: accept), maxBodyBytes: maxBytes)
        }
        if result.0.status == 401 || result.0.status == 403 {
            let who = credentials == nil ? "anonymously" : "as \(credentials!.user)"
            throw FetchError(.httpStatus, "docker://\(reference): access denied \(who) (HTTP \(result.0.status)); credentials go in a dockerAuth file in auth.d", status: result.0.status)
        }
        return result
    }

    private func authenticate(challenge: String?) throws(FetchError) {
        guard let challenge, let parsed = AuthChallenge.parse(challenge) else {
            throw FetchError(.httpStatus, "docker://\(reference): the registry wants authentication but sent no usable WWW-Authenticate challenge", status: 401)
        }
        switch parsed.scheme {
        case "basic":
            guard let credentials else {
                throw FetchError(.httpStatus, "docker://\(reference): the registry wants a user name and password (HTTP 401); put them in a dockerAuth file in auth.d", status: 401)
            }
            authorization = "Basic " + Data("\(credentials.user):\(credentials.password)".utf8).base64EncodedString()
        case "bearer":
            authorization = "Bearer " + (try bearerToken(parsed.parameters))
        default:
            throw FetchError(.httpStatus, "docker://\(reference): unsupported authentication scheme \(parsed.scheme)", status: 401)
        }
    }

    /// Asks the token server named by the challenge for a pull token (docker's token protocol).
    private func bearerToken(_ parameters: [String: String]) throws(FetchError) -> String {
        guard let realm = parameters["realm"], var components = URLComponents(string: realm) else {
            throw FetchError(.malformedResponse, "docker://\(reference): bearer challenge without a realm")
        }
        var query = components.queryItems ?? []
        if let service = parameters["service"] { query.append(URLQueryItem(name: "service", value: service)) }
        query.append(URLQueryItem(name: "scope", value: parameters["scope"] ?? scope))
        components.queryItems = query
        guard let url = components.url else { throw FetchError(.invalidURL, "docker://\(reference): invalid token realm \(realm)") }
        var headers: [(name: String, value: String)] = []
        if let credentials {
            headers.append((name: "Authorization", value: "Basic " + Data("\(credentials.user):\(credentials.password)".utf8).base64EncodedString()))
        }
        logger.debug("requesting a registry token from \(url.absoluteString)")
        let (response, data) = try http.fetch(HTTPRequest(url: url, headers: headers), maxBodyBytes: 1 << 20)
        if response.status == 401 || response.status == 403 {
            throw FetchError(.httpStatus, "docker://\(reference): the token server refused \(credentials == nil ? "anonymous access" : "the credentials of \(credentials!.user)") (HTTP \(response.status))", status: response.status)
        }
        try response.ensureSuccess("registry token for docker://\(reference)")
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
              let token = (object["token"] as? String) ?? (object["access_token"] as? String), !token.isEmpty else {
            throw FetchError(.malformedResponse, "docker://\(reference): the token server's answer has no token")
        }
        return token
    }
}

/// `WWW-Authenticate: Bearer realm="https://auth.example/token",service="registry",scope="..."`.
struct AuthChallenge: Equatable {
    var scheme: String
    var parameters: [String: String]

    static func parse(_ header: String) -> AuthChallenge? {
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard let space = trimmed.firstIndex(of: " ") else {
            return trimmed.isEmpty ? nil : AuthChallenge(scheme: trimmed.lowercased(), parameters: [:])
        }
        let scheme = trimmed[..<space].lowercased()
        var parameters: [String: String] = [:]
        var rest = Substring(trimmed[trimmed.index(after: space)...])
        while !rest.isEmpty {
            rest = rest.drop { $0 == " " || $0 == "," }
            guard let equals = rest.firstIndex(of: "=") else { break }
            let key = rest[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            rest = rest[rest.index(after: equals)...]
            var value = ""
            if rest.first == "\"" {
                rest = rest.dropFirst()
                while let c = rest.first, c != "\"" {
                    if c == "\\" { rest = rest.dropFirst() }
                    if let next = rest.first { value.append(next); rest = rest.dropFirst() }
                }
                rest = rest.dropFirst()
            } else {
                let end = rest.firstIndex(of: ",") ?? rest.endIndex
                value = rest[..<end].trimmingCharacters(in: .whitespaces)
                rest = rest[end...]
            }
            parameters[key] = value
        }
        return AuthChallenge(scheme: scheme, parameters: parameters)
    }
}

/// Blobs of an image on a registry.
struct RegistryBlobSource: BlobSource {
    let client: RegistryClient

    func blobData(_ descriptor: OCIDescriptor, what: String) throws(FetchError) -> Data {
        try client.blobData(descriptor, maxBytes: OCIImageImporter.configLimit, what: what)
    }

    func blobFile(_ descriptor: OCIDescriptor, work: StoreWorkDirectory, what: String) throws(FetchError) -> String {
        let path = work.path + "/" + OCIDigest.hex(descriptor.digest)
        try client.downloadBlob(descriptor, to: path, what: what)
        return path
    }
}

/// The entry points the CLI uses for Docker and OCI images.
public enum DockerImages {
    /// Fetches `text` if it names a Docker/OCI image (`docker://...`, a `docker save` tarball,
    /// an OCI layout or one of skopeo's `oci:`/`oci-archive:`/`docker-archive:` names) and
    /// returns the stored image; nil when it is something else (an ACI, an appc name).
    public static func fetchIfDocker(
        _ text: String, store: ImageStore, pullPolicy: PullPolicy = .update, allowUnsigned: Bool, allowHTTP: Bool, insecureTLS: Bool,
        credentials: [String: RegistryCredentials], logger: Logger
    ) throws(FetchError) -> ImageInfo? {
        // As rkt: Docker images carry no signature we could check, so they need the user's consent.
        let unsigned = FetchError(.signature, "\(text): Docker and OCI images cannot be verified (there is no signature to check): use --insecure-options=image")
        if text.hasPrefix("docker://") {
            let reference = try DockerReference.parse(text)
            guard allowUnsigned else { throw unsigned }
            // `new` and `never` take a stored image of that name and tag (or manifest digest).
            if pullPolicy != .update {
                if let stored = try storedImage(reference, store: store) { return stored }
                if pullPolicy == .never {
                    throw FetchError(.store, "docker://\(reference) is not in the store and --pull-policy=never")
                }
            }
            let options = HTTPClientOptions(allowHTTP: allowHTTP, insecureTLS: insecureTLS)
            // Docker Hub's credentials are conventionally filed under its index name.
            let credential = credentials[reference.registry]
                ?? (reference.registry == DockerReference.defaultRegistry ? credentials["index.docker.io"] ?? credentials["docker.io"] : nil)
            let client = RegistryClient(reference: reference, options: options, credentials: credential, logger: logger)
            try client.ping()
            let (manifest, digest) = try client.manifest()
            var annotations: [(String, String)] = [
                (DockerAnnotations.originalName, text), (DockerAnnotations.registry, reference.registry),
                (DockerAnnotations.repository, reference.repository),
            ]
            if let tag = reference.tag { annotations.append((DockerAnnotations.tag, tag)) }
            let origin = ImageOrigin(name: reference.appcName, version: reference.tag, annotations: annotations)
            return try OCIImageImporter(store: store, logger: logger).importImage(
                manifest: manifest, manifestDigest: digest, source: RegistryBlobSource(client: client), origin: origin, latest: false)
        }
        guard let archive = LocalImageArchive.detect(text) else { return nil }
        guard allowUnsigned else { throw unsigned }
        return try archive.importImage(store: store, logger: logger)
    }

    static func storedImage(_ reference: DockerReference, store: ImageStore) throws(FetchError) -> ImageInfo? {
        do {
            if let digest = reference.digest {
                for image in try store.findImages(ImageReference(name: reference.appcName)) {
                    let manifest = try store.manifest(key: image.key)
                    if manifest.annotations.contains(where: { $0.name.rawValue == DockerAnnotations.manifestDigest && $0.value == digest }) { return image }
                }
                return nil
            }
            return try store.findImages(ImageReference(name: reference.appcName, labels: ["version": reference.tag ?? "latest"])).first
        } catch {
            throw FetchError(.store, "looking up docker://\(reference) in the store: \(error)", underlying: error)
        }
    }
}
