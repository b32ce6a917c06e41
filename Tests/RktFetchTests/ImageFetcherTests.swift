import Foundation
import Logging
import RktOS
import RktStore
import RktTestSupport
import Testing

@testable import RktFetch

/// Fetching ACIs by URL and by name from real servers on 127.0.0.1, into a real store, with
/// signatures checked by gpgv against keys made by gpg.
@Suite(.serialized) struct ImageFetcherTests {
    let logger = Logger(label: "test.fetch")

    /// A store, config dirs and a signing key, all temporary.
    final class Fixture {
        let dir: TemporaryDirectory
        let store: ImageStore
        let gpg: TestGPG
        let keystore: Keystore

        init() throws {
            dir = try TemporaryDirectory(prefix: "rkt-fetch")
            store = try ImageStore(dataDir: dir.path + "/data")
            gpg = try TestGPG()
            keystore = Keystore(systemConfig: dir.path + "/usr-lib", localConfig: dir.path + "/etc")
        }

        func trust(prefix: String?) throws {
            try keystore.store(try OpenPGPKey.parse(try FileSystem.read(gpg.publicKeyPath), source: "test key"), prefix: prefix)
        }

        /// A gzip ACI named `name` (labels from `version`), written to `dir/file`, signed beside it.
        func aci(name: String, version: String? = nil, file: String, marker: String = "", sign: Bool = true) throws -> String {
            let tar = TestACI.busyboxLikeTar(name: name, files: [TestFile("marker", marker)], manifest: TestACI.validManifestJSON(name: name, version: version))
            let path = dir.path + "/" + file
            try TestACI.write(try TestACI.compress(tar, .gzip), to: path)
            if sign { try gpg.sign(path) }
            return path
        }

        func fetcher(policy: PullPolicy = .update, skipSignature: Bool = false, caFile: String? = nil, allowHTTP: Bool = true,
                     port: Int? = nil, attempts: Int = 3) -> ImageFetcher {
            ImageFetcher(store: store, options: ImageFetchOptions(
                http: HTTPClientOptions(allowHTTP: allowHTTP, caFile: caFile, timeoutSeconds: 10), skipSignature: skipSignature, pullPolicy: policy,
                keystore: keystore, showProgress: false, discoveryPort: port, attempts: attempts), logger: Logger(label: "test.fetch"))
        }
    }

    func serve(_ server: TestServer, _ path: String, as name: String, headers: [String: String] = [:]) throws {
        try server.put(name, try FileSystem.read(path), headers: headers)
        if FileManager.default.fileExists(atPath: path + ".asc") { try server.put(name + ".asc", try FileSystem.read(path + ".asc")) }
    }

    func expectFailure(_ kind: FetchError.Kind, _ fragment: String, _ body: () throws(FetchError) -> Void) {
        do throws(FetchError) {
            try body()
            Issue.record("expected a \(kind) error containing \"\(fragment)\"")
        } catch {
            #expect(error.kind == kind, "\(error)")
            #expect(error.description.contains(fragment), "\(error)")
        }
    }

    @Test func signedURLIsFetchedAndCachedByETag() throws {
        let f = try Fixture()
        try f.trust(prefix: "example.com")
        let server = try TestServer()
        try serve(server, try f.aci(name: "example.com/app", file: "app.aci"), as: "app.aci")
        let url = URL(string: server.baseURL + "/app.aci")!

        let first = try f.fetcher().fetchURL(url)
        #expect(first.name == "example.com/app")
        let record = try #require(try f.store.remote(aciURL: url.absoluteString))
        #expect(!record.etag.isEmpty && record.blobKey == first.key && record.signatureURL == url.absoluteString + ".asc")

        // No max-age: the next update asks again with If-None-Match, and a 304 reuses the image.
        server.clearLog()
        let second = try f.fetcher().fetchURL(url)
        #expect(second.key == first.key)
        #expect(server.requests() == ["GET /app.aci 304 -"])
        // Pull policy new: the stored image, no request at all.
        server.clearLog()
        _ = try f.fetcher(policy: .new).fetchURL(url)
        #expect(server.requests().isEmpty)
        // Nothing left in the store's tmp dir.
        #expect(try FileSystem.list(f.store.layout.tmp).isEmpty)
    }

    @Test func freshCacheControlMeansNoRequest() throws {
        let f = try Fixture()
        let server = try TestServer()
        try serve(server, try f.aci(name: "example.com/app", file: "app.aci", sign: false), as: "app.aci", headers: ["Cache-Control": "public, max-age=600"])
        let url = URL(string: server.baseURL + "/app.aci")!
        let first = try f.fetcher(skipSignature: true).fetchURL(url)
        #expect(try f.store.remote(aciURL: url.absoluteString)?.cacheMaxAge == 600)
        server.clearLog()
        #expect(try f.fetcher(skipSignature: true).fetchURL(url).key == first.key)
        #expect(server.requests().isEmpty)
    }

    @Test func neverPolicyAnd404() throws {
        let f = try Fixture()
        let server = try TestServer()
        expectFailure(.store, "--pull-policy=never") { () throws(FetchError) in
            _ = try f.fetcher(policy: .never, skipSignature: true).fetchURL(URL(string: server.baseURL + "/app.aci")!)
        }
        expectFailure(.httpStatus, "HTTP 404") { () throws(FetchError) in
            _ = try f.fetcher(skipSignature: true).fetchURL(URL(string: server.baseURL + "/missing.aci")!)
        }
        #expect(try f.store.allImages().isEmpty)
    }

    @Test func interruptedDownloadResumesWithRange() throws {
        let f = try Fixture()
        try f.trust(prefix: "example.com/app")
        let server = try TestServer()
        // Incompressible content so the cut lands mid-file.
        let tar = TestACI.busyboxLikeTar(name: "example.com/app", files: [TestFile("blob", data: TestACI.garbage(count: 3_000_000))])
        let path = f.dir.path + "/big.aci"
        try TestACI.write(tar, to: path)
        try f.gpg.sign(path)
        try serve(server, path, as: "big.aci")
        try server.put("truncate-once/big.aci.asc", try FileSystem.read(path + ".asc"))
        let info = try f.fetcher().fetchURL(URL(string: server.baseURL + "/truncate-once/big.aci")!, signature: .url(URL(string: server.baseURL + "/big.aci.asc")!))
        #expect(info.name == "example.com/app")
        let gets = server.requests().filter { $0.hasPrefix("GET /truncate-once/") }
        #expect(gets.count == 2)
        #expect(gets.last?.contains("206 bytes=") == true, "\(gets)")
    }

    @Test func truncatedDownloadFailsWithNothingStored() throws {
        let f = try Fixture()
        let server = try TestServer()
        try serve(server, try f.aci(name: "example.com/app", file: "app.aci", sign: false), as: "app.aci")
        expectFailure(.truncated, "connection closed") { () throws(FetchError) in
            _ = try f.fetcher(skipSignature: true, attempts: 2).fetchURL(URL(string: server.baseURL + "/truncate/app.aci")!)
        }
        #expect(try f.store.allImages().isEmpty)
    }

    @Test func tamperedUntrustedAndUnsignedImagesAreRejected() throws {
        let f = try Fixture()
        let server = try TestServer()
        let good = try f.aci(name: "example.com/app", file: "app.aci", marker: "good")
        let evil = try f.aci(name: "example.com/app", file: "evil.aci", marker: "evil", sign: false)
        try server.put("app.aci", try FileSystem.read(good))
        try server.put("app.aci.asc", try FileSystem.read(good + ".asc"))
        try server.put("tampered.aci", try FileSystem.read(evil))
        try server.put("tampered.aci.asc", try FileSystem.read(good + ".asc"))
        try server.put("unsigned.aci", try FileSystem.read(evil))

        // No key trusted at all.
        expectFailure(.trust, "no trusted keys") { () throws(FetchError) in _ = try f.fetcher().fetchURL(URL(string: server.baseURL + "/app.aci")!) }
        // A key trusted for another prefix only.
        try f.trust(prefix: "other.example.org")
        expectFailure(.trust, "no trusted keys for prefix \"example.com/app\"") { () throws(FetchError) in
            _ = try f.fetcher().fetchURL(URL(string: server.baseURL + "/app.aci")!)
        }
        // Another key trusted for this prefix: the signer is still unknown.
        let stranger = try TestGPG(user: "stranger <stranger@example.org>")
        try f.keystore.store(try OpenPGPKey.parse(try FileSystem.read(stranger.publicKeyPath), source: "stranger"), prefix: "example.com")
        expectFailure(.trust, "not trusted for prefix \"example.com/app\"") { () throws(FetchError) in
            _ = try f.fetcher().fetchURL(URL(string: server.baseURL + "/app.aci")!)
        }
        try f.trust(prefix: "example.com/app")
        expectFailure(.signature, "BAD signature") { () throws(FetchError) in
            _ = try f.fetcher().fetchURL(URL(string: server.baseURL + "/tampered.aci")!)
        }
        expectFailure(.signature, "no signature at") { () throws(FetchError) in
            _ = try f.fetcher().fetchURL(URL(string: server.baseURL + "/unsigned.aci")!)
        }
        #expect(try f.store.allImages().isEmpty)
        #expect(try f.store.remote(aciURL: server.baseURL + "/tampered.aci") == nil)
        // The genuine one passes, and a local file with its .asc beside it too.
        #expect(try f.fetcher().fetchURL(URL(string: server.baseURL + "/app.aci")!).name == "example.com/app")
        #expect(try f.fetcher().fetchFile(good, signatureFile: nil).name == "example.com/app")
        expectFailure(.signature, "no signature") { () throws(FetchError) in _ = try f.fetcher().fetchFile(evil, signatureFile: nil) }
    }

    @Test func maskedVendorKeyIsNotTrusted() throws {
        let f = try Fixture()
        let key = try OpenPGPKey.parse(try FileSystem.read(f.gpg.publicKeyPath), source: "test key")
        let vendor = Keystore(systemConfig: f.dir.path + "/usr-lib", localConfig: f.dir.path + "/usr-lib")
        try vendor.store(key, prefix: nil)
        #expect(try f.keystore.trustedKeys(for: "example.com/app").keys.sorted() == [key.fingerprint])
        try FileSystem.makeDirectories(f.dir.path + "/etc/trustedkeys/root.d")
        try FileSystem.writeAtomically(Data(), to: f.dir.path + "/etc/trustedkeys/root.d/" + key.fingerprint)
        #expect(try f.keystore.trustedKeys(for: "example.com/app").isEmpty)
        let server = try TestServer()
        try serve(server, try f.aci(name: "example.com/app", file: "app.aci"), as: "app.aci")
        expectFailure(.trust, "no trusted keys") { () throws(FetchError) in _ = try f.fetcher().fetchURL(URL(string: server.baseURL + "/app.aci")!) }
    }

    @Test func discoveryOverHTTPSWithLabels() throws {
        let f = try Fixture()
        try f.trust(prefix: "localhost/app")
        let ca = try TestCA()
        let server = try TestServer(certificate: ca.serverCertificate())
        try serve(server, try f.aci(name: "localhost/app", version: "1.0", file: "v1.aci"), as: "images/localhost/app-1.0-linux-amd64.aci")
        // A 2.0 URL that serves the 1.0 image: its labels must be refused.
        try serve(server, try f.aci(name: "localhost/app", version: "1.0", file: "v1b.aci", marker: "liar"), as: "images/localhost/app-2.0-linux-amd64.aci")
        // Only the host level has a page, so discovery has to walk up from localhost/app.
        try server.putDiscovery("", html: """
            <html><head>
            <meta name="ac-discovery" content="localhost https://localhost:\(server.port)/images/{name}-{version}-{os}-{arch}.{ext}">
            <meta name="ac-discovery" content="localhost https://localhost:\(server.port)/needs/{unknown}/{name}.{ext}">
            <meta name='ac-discovery-pubkeys' content='localhost https://localhost:\(server.port)/pubkeys.gpg'/>
            <meta name="ac-discovery" content="other.example.org https://elsewhere/{name}.{ext}">
            </head></html>
            """)
        let fetcher = f.fetcher(caFile: ca.certPath, allowHTTP: false, port: server.port)
        let info = try fetcher.fetchName("localhost/app:1.0", signatureFile: nil)
        #expect(info.name == "localhost/app")
        #expect(server.requests().contains("GET /app?ac-discovery=1 404 -"))
        #expect(server.requests().contains("GET /images/localhost/app-1.0-linux-amd64.aci 200 -"))

        expectFailure(.labelMismatch, "requested value for label \"version\": \"2.0\" differs from fetched aci label value: \"1.0\"") { () throws(FetchError) in
            _ = try fetcher.fetchName("localhost/app,version=2.0", signatureFile: nil)
        }
        #expect(try f.store.allImages().count == 1)
        // Policy new finds the stored 1.0 without the network.
        server.clearLog()
        #expect(try f.fetcher(policy: .new, caFile: ca.certPath, port: server.port).fetchName("localhost/app:1.0", signatureFile: nil).key == info.key)
        #expect(server.requests().isEmpty)
        // Public keys are found the same way.
        let keys = try MetaDiscovery(http: fetcher.http, allowHTTP: false, port: server.port, logger: logger).discoverPublicKeys(DiscoveryApp(name: "localhost/app", labels: [:]))
        #expect(keys.map(\.absoluteString) == ["https://localhost:\(server.port)/pubkeys.gpg"])
        // The template matches, but the server has no such image.
        expectFailure(.httpStatus, "localhost/none-latest-linux-amd64.aci): HTTP 404") { () throws(FetchError) in
            _ = try f.fetcher(caFile: ca.certPath, allowHTTP: false, port: server.port).fetchName("localhost/none", signatureFile: nil)
        }
        // No meta tag for this name at any level.
        expectFailure(.discovery, "discovery failed for \"127.0.0.1/none\"") { () throws(FetchError) in
            _ = try f.fetcher(caFile: ca.certPath, allowHTTP: false, port: server.port).fetchName("127.0.0.1/none", signatureFile: nil)
        }
        #expect(try f.store.allImages().count == 1)
    }
}
