import Foundation
import Logging
import RktTestSupport
import Testing

@testable import RktFetch

/// The HTTP client against real HTTP and HTTPS servers on 127.0.0.1.
@Suite(.serialized) struct HTTPClientTests {
    let logger = Logger(label: "test.http")

    func client(allowHTTP: Bool = true, caFile: String? = nil, insecureTLS: Bool = false, timeout: Int = 10) -> HTTPClient {
        HTTPClient(options: HTTPClientOptions(allowHTTP: allowHTTP, insecureTLS: insecureTLS, caFile: caFile, timeoutSeconds: timeout), logger: logger)
    }

    func get(_ url: String, headers: [(name: String, value: String)] = []) -> HTTPRequest {
        HTTPRequest(url: URL(string: url)!, headers: headers)
    }

    @Test func plainGetHeadAnd404() throws {
        let server = try TestServer()
        let payload = TestACI.garbage(count: 300_000)
        try server.put("a/file.bin", payload, headers: ["Cache-Control": "max-age=60"])
        let (response, body) = try client().fetch(get(server.baseURL + "/a/file.bin"))
        #expect(response.status == 200)
        #expect(body == payload)
        #expect(response.header("cache-control") == "max-age=60")
        #expect(response.header("ETag") != nil)

        let (head, headBody) = try client().fetch(HTTPRequest(method: "HEAD", url: URL(string: server.baseURL + "/a/file.bin")!))
        #expect(head.status == 200 && headBody.isEmpty && head.header("Content-Length") == "300000")

        let (missing, _) = try client().fetch(get(server.baseURL + "/nope"))
        #expect(missing.status == 404)
        #expect(throws: FetchError.self) { try missing.ensureSuccess() }
    }

    @Test func conditionalRequestGives304() throws {
        let server = try TestServer()
        try server.put("x.aci", Data("hello".utf8))
        let (first, _) = try client().fetch(get(server.baseURL + "/x.aci"))
        let etag = try #require(first.header("ETag"))
        var sinkCalls = 0
        let second = try client().download(get(server.baseURL + "/x.aci", headers: [("If-None-Match", etag)])) { _ in sinkCalls += 1 }
        #expect(second.status == 304)
        #expect(sinkCalls == 0)
    }

    @Test func rangeResumeAndChunkedAndRedirects() throws {
        let server = try TestServer()
        let payload = TestACI.garbage(count: 1_000_000, seed: 7)
        try server.put("dir/big.bin", payload)
        var tail = Data()
        let resumed = try client().download(get(server.baseURL + "/dir/big.bin"), resumeFrom: 400_000) { tail.append(contentsOf: $0) }
        #expect(resumed.status == 206)
        #expect(tail == payload.subdata(in: 400_000..<payload.count))
        #expect(server.requests().last?.hasSuffix("bytes=400000-") == true)

        let (chunked, chunkedBody) = try client().fetch(get(server.baseURL + "/chunked/dir/big.bin"))
        #expect(chunked.status == 200 && chunkedBody == payload)

        let (redirected, redirectedBody) = try client().fetch(get(server.baseURL + "/redirect/dir/big.bin"))
        #expect(redirected.status == 200 && redirectedBody == payload)
        #expect(redirected.url.absoluteString == server.baseURL + "/dir/big.bin")
        let (absolute, _) = try client().fetch(get(server.baseURL + "/redirect-abs/dir/big.bin"))
        #expect(absolute.status == 200 && absolute.url.absoluteString == server.baseURL + "/dir/big.bin")
    }

    @Test func truncatedBodyIsAnError() throws {
        let server = try TestServer()
        try server.put("t.bin", TestACI.garbage(count: 200_000))
        do throws(FetchError) {
            _ = try client().download(get(server.baseURL + "/truncate/t.bin")) { _ in }
            Issue.record("a truncated body must fail")
        } catch {
            #expect(error.kind == .truncated)
            #expect(error.description.contains("/truncate/t.bin"))
        }
    }

    @Test func bodyLimitAndRefusedHTTP() throws {
        let server = try TestServer()
        try server.put("big", TestACI.garbage(count: 100_000))
        do throws(FetchError) {
            _ = try client().fetch(get(server.baseURL + "/big"), maxBodyBytes: 1000)
            Issue.record("the body limit must hold")
        } catch { #expect(error.kind == .bodyTooLarge) }
        do throws(FetchError) {
            _ = try client(allowHTTP: false).fetch(get(server.baseURL + "/big"))
            Issue.record("plain HTTP must be refused")
        } catch { #expect(error.kind == .insecureScheme && error.description.contains("--insecure-options=http")) }
    }

    @Test func connectionRefusedIsAnError() throws {
        // A port nobody listens on: bind one, note it, close it.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var size = socklen_t(MemoryLayout<sockaddr_in>.size)
        withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { _ = bind(fd, $0, size); _ = getsockname(fd, $0, &size) } }
        let port = Int(UInt16(bigEndian: address.sin_port))
        close(fd)
        do throws(FetchError) {
            _ = try client().fetch(get("http://127.0.0.1:\(port)/x"))
            Issue.record("connecting to a closed port must fail")
        } catch { #expect(error.kind == .connect) }
    }

    @Test func httpsVerifiesAgainstTheGivenCA() throws {
        let ca = try TestCA()
        let server = try TestServer(certificate: ca.serverCertificate())
        let payload = TestACI.garbage(count: 2_000_000, seed: 3)
        try server.put("s.bin", payload)
        let (response, body) = try client(allowHTTP: false, caFile: ca.certPath).fetch(get(server.baseURL + "/s.bin"), maxBodyBytes: 4 << 20)
        #expect(response.status == 200 && body == payload)

        // Without our CA the system store does not know the server.
        do throws(FetchError) {
            _ = try client(allowHTTP: false).fetch(get(server.baseURL + "/s.bin"), maxBodyBytes: 4 << 20)
            Issue.record("an unknown CA must fail verification")
        } catch {
            #expect(error.kind == .tls)
            #expect(error.description.contains("certificate verification failed"))
        }
        // `--insecure-options=tls` skips verification.
        let (insecure, _) = try client(allowHTTP: false, insecureTLS: true).fetch(get(server.baseURL + "/s.bin"), maxBodyBytes: 4 << 20)
        #expect(insecure.status == 200)

        // Hostname verification: the certificate names 127.0.0.1 and localhost, not 127.0.0.2's name.
        let other = try TestServer(certificate: ca.serverCertificate(name: "other"))
        let (viaName, _) = try client(allowHTTP: false, caFile: ca.certPath).fetch(get("https://localhost:\(other.port)/missing"))
        #expect(viaName.status == 404)
    }

    @Test func httpsRefusesDowngradeRedirect() throws {
        let ca = try TestCA()
        let tlsServer = try TestServer(certificate: ca.serverCertificate())
        let plain = try TestServer()
        try plain.put("x", Data("x".utf8))
        do throws(FetchError) {
            // The test server's redirect hook keeps the scheme; build the downgrade by hand.
            _ = try client(allowHTTP: false, caFile: ca.certPath).fetch(get(plain.baseURL + "/x"))
            Issue.record("http must be refused")
        } catch { #expect(error.kind == .insecureScheme) }
    }

    @Test func wrongHostnameFailsVerification() throws {
        let ca = try TestCA()
        let dir = ca.directory.path
        // A certificate for a name that is not the one we connect to.
        try Data("subjectAltName=DNS:example.invalid\n".utf8).write(to: URL(fileURLWithPath: dir + "/wrong.ext"))
        try TestCA.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=example.invalid",
                            "-keyout", "\(dir)/wrong.key", "-out", "\(dir)/wrong.csr"], in: dir)
        try TestCA.openssl(["x509", "-req", "-in", "\(dir)/wrong.csr", "-CA", ca.certPath, "-CAkey", "\(dir)/ca.key", "-CAcreateserial",
                            "-days", "2", "-extfile", "\(dir)/wrong.ext", "-out", "\(dir)/wrong.pem"], in: dir)
        let server = try TestServer(certificate: .init(certPath: "\(dir)/wrong.pem", keyPath: "\(dir)/wrong.key"))
        do throws(FetchError) {
            _ = try client(allowHTTP: false, caFile: ca.certPath).fetch(get(server.baseURL + "/x"))
            Issue.record("a certificate for another host must fail")
        } catch {
            #expect(error.kind == .tls)
            #expect(error.description.contains("mismatch") || error.description.contains("verification failed"))
        }
    }
}
