import CSSL
import Foundation
import RktOS
import SystemPackage

#if canImport(Glibc)
import Glibc
#endif

/// One TCP connection, optionally wrapped in TLS, with a read buffer for HTTP framing.
/// Blocking I/O with SO_RCVTIMEO/SO_SNDTIMEO: a stalled peer becomes `.timeout`, not a hang.
final class Connection {
    private let fd: Int32
    private var tls: TLSSession?
    private let endpoint: String
    private var buffer: [UInt8]
    private var start = 0
    private var end = 0
    static let bufferSize = 256 << 10

    private init(fd: Int32, endpoint: String) {
        self.fd = fd
        self.endpoint = endpoint
        self.buffer = [UInt8](repeating: 0, count: Connection.bufferSize)
    }

    deinit {
        tls?.shutdown()
        tls = nil
        close(fd)
    }

    /// Resolves `host`, connects to the first address that answers within the timeout, and starts
    /// TLS when asked.
    static func open(host: String, port: Int, useTLS: Bool, options: HTTPClientOptions) throws(FetchError) -> Connection {
        let endpoint = "\(host):\(port)"
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_ADDRCONFIG
        var list: UnsafeMutablePointer<addrinfo>?
        let rc = getaddrinfo(host, String(port), &hints, &list)
        if rc != 0 {
            // AI_ADDRCONFIG hides ::1/127.0.0.1 on hosts with only loopback configured: retry without.
            hints.ai_flags = 0
            let retry = getaddrinfo(host, String(port), &hints, &list)
            if retry != 0 {
                throw FetchError(.resolve, "resolving \(host): \(String(cString: gai_strerror(retry)))")
            }
        }
        defer { freeaddrinfo(list) }
        var lastError = FetchError(.connect, "connecting to \(endpoint): no addresses")
        var entry = list
        while let info = entry {
            entry = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), info.pointee.ai_protocol)
            if fd < 0 {
                lastError = FetchError(.connect, "connecting to \(endpoint): socket: \(Errno.last.shortDescription)")
                continue
            }
            do throws(FetchError) {
                try connect(fd: fd, address: info.pointee.ai_addr, length: info.pointee.ai_addrlen, timeout: options.timeoutSeconds, endpoint: endpoint)
            } catch {
                close(fd)
                lastError = error
                continue
            }
            setTimeouts(fd: fd, seconds: options.timeoutSeconds)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            let connection = Connection(fd: fd, endpoint: endpoint)
            if useTLS {
                connection.tls = try TLSSession(fd: fd, host: host, options: options)
            }
            return connection
        }
        throw lastError
    }

    private static func connect(fd: Int32, address: UnsafeMutablePointer<sockaddr>?, length: socklen_t, timeout: Int, endpoint: String) throws(FetchError) {
        let flags = fcntl(fd, F_GETFL)
        _ = fcntl(fd, F_SETFL, flags | O_NONBLOCK)
        if Glibc.connect(fd, address, length) != 0 {
            let err = Errno.last
            guard err == .nowInProgress || err == .interrupted else {
                throw FetchError(.connect, "connecting to \(endpoint): \(err.shortDescription)")
            }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            let deadline = Date().addingTimeInterval(TimeInterval(timeout))
            while true {
                let remaining = Int32(max(0, deadline.timeIntervalSinceNow * 1000))
                let ready = poll(&pfd, 1, remaining)
                if ready > 0 { break }
                if ready == 0 { throw FetchError(.timeout, "connecting to \(endpoint): timed out after \(timeout)s") }
                if Errno.last != .interrupted { throw FetchError(.connect, "connecting to \(endpoint): poll: \(Errno.last.shortDescription)") }
            }
            var soError: Int32 = 0
            var size = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &size)
            if soError != 0 {
                throw FetchError(.connect, "connecting to \(endpoint): \(Errno(rawValue: soError).shortDescription)")
            }
        }
        _ = fcntl(fd, F_SETFL, flags)
    }

    private static func setTimeouts(fd: Int32, seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    // MARK: Writing

    func write(_ data: Data) throws(FetchError) {
        var failure: FetchError?
        data.withUnsafeBytes { (raw: UnsafeRawBufferPointer) in
            guard let base = raw.baseAddress else { return }
            var offset = 0
            while offset < raw.count {
                let n: Int
                if let tls {
                    do throws(FetchError) { n = try tls.write(base + offset, raw.count - offset, endpoint: endpoint) } catch {
                        failure = error
                        return
                    }
                } else {
                    n = send(fd, base + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                    if n < 0 {
                        let err = Errno.last
                        if err == .interrupted { continue }
                        failure = Connection.ioError("sending to", endpoint, err)
                        return
                    }
                }
                offset += n
            }
        }
        if let failure { throw failure }
    }

    static func ioError(_ step: String, _ endpoint: String, _ err: Errno) -> FetchError {
        if err == .wouldBlock || err == .resourceTemporarilyUnavailable || err == .timedOut {
            return FetchError(.timeout, "\(step) \(endpoint): timed out")
        }
        return FetchError(.io, "\(step) \(endpoint): \(err.shortDescription)")
    }

    // MARK: Reading

    /// Refills the buffer; returns false at end of stream.
    private func fill() throws(FetchError) -> Bool {
        if start == end {
            start = 0
            end = 0
        } else if end == buffer.count {
            // Compact so a line longer than what is left still fits.
            buffer.withUnsafeMutableBytes { raw in
                let base = raw.baseAddress!
                memmove(base, base + start, end - start)
            }
            end -= start
            start = 0
            if end == buffer.count { throw FetchError(.malformedResponse, "reading from \(endpoint): header line too long") }
        }
        let n = try readRaw(into: end, count: buffer.count - end)
        if n == 0 { return false }
        end += n
        return true
    }

    private func readRaw(into offset: Int, count: Int) throws(FetchError) -> Int {
        var result: Result<Int, FetchError> = .success(0)
        let endpoint = self.endpoint
        buffer.withUnsafeMutableBytes { raw in
            let dest = raw.baseAddress! + offset
            if let tls {
                do throws(FetchError) { result = .success(try tls.read(dest, count, endpoint: endpoint)) } catch { result = .failure(error) }
                return
            }
            while true {
                let n = recv(fd, dest, count, 0)
                if n >= 0 {
                    result = .success(n)
                    return
                }
                let err = Errno.last
                if err == .interrupted { continue }
                result = .failure(Connection.ioError("reading from", endpoint, err))
                return
            }
        }
        return try result.get()
    }

    /// One CRLF- (or LF-) terminated line, without the terminator; nil at a clean end of stream.
    func readLine() throws(FetchError) -> String? {
        var scanFrom = start
        while true {
            if let newline = buffer[scanFrom..<end].firstIndex(of: UInt8(ascii: "\n")) {
                var lineEnd = newline
                if lineEnd > start && buffer[lineEnd - 1] == UInt8(ascii: "\r") { lineEnd -= 1 }
                let line = String(decoding: buffer[start..<lineEnd], as: UTF8.self)
                start = newline + 1
                return line
            }
            let consumed = end - start
            if try !fill() {
                if end > start { throw FetchError(.truncated, "reading from \(endpoint): connection closed mid-line") }
                return nil
            }
            scanFrom = start + consumed
        }
    }

    /// Up to `limit` buffered-or-fresh bytes handed to `body` without copying; 0 bytes means end of stream.
    func readChunk(limit: Int, _ body: (UnsafeRawBufferPointer) throws(FetchError) -> Void) throws(FetchError) -> Int {
        if start == end {
            if try !fill() { return 0 }
        }
        let count = min(limit, end - start)
        var failure: FetchError?
        buffer.withUnsafeBytes { raw in
            do throws(FetchError) { try body(UnsafeRawBufferPointer(rebasing: raw[start..<(start + count)])) } catch { failure = error }
        }
        if let failure { throw failure }
        start += count
        return count
    }
}

/// An OpenSSL client session on a connected socket: SNI, the system CA store plus an optional
/// bundle, hostname (or IP) verification.
final class TLSSession {
    private let context: OpaquePointer
    private let ssl: OpaquePointer

    init(fd: Int32, host: String, options: HTTPClientOptions) throws(FetchError) {
        guard let context = SSL_CTX_new(TLS_client_method()) else {
            throw FetchError(.tls, "TLS setup for \(host): \(TLSSession.lastError())")
        }
        // TLS 1.2 at least (SSL_CTX_set_min_proto_version is a macro over SSL_CTX_ctrl).
        SSL_CTX_ctrl(context, SSL_CTRL_SET_MIN_PROTO_VERSION, Int(TLS1_2_VERSION), nil)
        // Servers that close without close_notify after a Content-Length body are common; framing
        // errors are still caught by Content-Length and chunk accounting.
        SSL_CTX_set_options(context, UInt64(1) << 7)  // SSL_OP_IGNORE_UNEXPECTED_EOF: a macro Swift cannot import
        if !options.insecureTLS {
            SSL_CTX_set_default_verify_paths(context)
            // Debian's bundle, in case the library's OPENSSLDIR differs from the host (static builds).
            for bundle in ["/etc/ssl/certs/ca-certificates.crt"] where FileManager.default.fileExists(atPath: bundle) {
                SSL_CTX_load_verify_locations(context, bundle, nil)
            }
            SSL_CTX_load_verify_locations(context, nil, "/etc/ssl/certs")
            if let caFile = options.caFile, SSL_CTX_load_verify_locations(context, caFile, nil) != 1 {
                SSL_CTX_free(context)
                throw FetchError(.tls, "TLS setup for \(host): loading CA file \(caFile): \(TLSSession.lastError())")
            }
            SSL_CTX_set_verify(context, SSL_VERIFY_PEER, nil)
        } else {
            SSL_CTX_set_verify(context, SSL_VERIFY_NONE, nil)
        }
        guard let ssl = SSL_new(context) else {
            SSL_CTX_free(context)
            throw FetchError(.tls, "TLS setup for \(host): \(TLSSession.lastError())")
        }
        self.context = context
        self.ssl = ssl
        let isIPLiteral = TLSSession.isIPLiteral(host)
        if !isIPLiteral {
            // SNI (SSL_set_tlsext_host_name is a macro over SSL_ctrl); RFC 6066 forbids IP literals here.
            _ = host.withCString { SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, Int(TLSEXT_NAMETYPE_host_name), UnsafeMutableRawPointer(mutating: $0)) }
        }
        if !options.insecureTLS {
            let param = SSL_get0_param(ssl)
            if isIPLiteral {
                X509_VERIFY_PARAM_set1_ip_asc(param, host)
            } else {
                SSL_set_hostflags(ssl, UInt32(X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS))
                SSL_set1_host(ssl, host)
            }
        }
        SSL_set_fd(ssl, fd)
        ERR_clear_error()
        let rc = SSL_connect(ssl)
        if rc != 1 {
            let verify = SSL_get_verify_result(ssl)
            var reason: String
            if verify != X509_V_OK {
                reason = "certificate verification failed: " + String(cString: X509_verify_cert_error_string(verify))
            } else {
                let code = SSL_get_error(ssl, rc)
                reason = code == SSL_ERROR_SYSCALL && ERR_peek_error() == 0
                    ? "handshake: \(Errno.last == Errno(rawValue: 0) ? "connection closed" : Errno.last.shortDescription)"
                    : "handshake: \(TLSSession.lastError())"
            }
            throw FetchError(.tls, "TLS with \(host): \(reason)")
        }
    }

    deinit {
        SSL_free(ssl)
        SSL_CTX_free(context)
    }

    func shutdown() { SSL_shutdown(ssl) }

    func read(_ dest: UnsafeMutableRawPointer, _ count: Int, endpoint: String) throws(FetchError) -> Int {
        while true {
            ERR_clear_error()
            let n = SSL_read(ssl, dest, Int32(min(count, Int(Int32.max))))
            if n > 0 { return Int(n) }
            let code = SSL_get_error(ssl, n)
            switch code {
            case SSL_ERROR_ZERO_RETURN: return 0
            case SSL_ERROR_WANT_READ, SSL_ERROR_WANT_WRITE: continue
            case SSL_ERROR_SYSCALL:
                let err = Errno.last
                if ERR_peek_error() == 0 && (n == 0 || err.rawValue == 0) { return 0 }
                if err == .interrupted { continue }
                throw Connection.ioError("reading from", endpoint, err)
            default:
                throw FetchError(.tls, "reading from \(endpoint): \(TLSSession.lastError())")
            }
        }
    }

    func write(_ source: UnsafeRawPointer, _ count: Int, endpoint: String) throws(FetchError) -> Int {
        while true {
            ERR_clear_error()
            let n = SSL_write(ssl, source, Int32(min(count, Int(Int32.max))))
            if n > 0 { return Int(n) }
            let code = SSL_get_error(ssl, n)
            if code == SSL_ERROR_WANT_READ || code == SSL_ERROR_WANT_WRITE { continue }
            if code == SSL_ERROR_SYSCALL { throw Connection.ioError("sending to", endpoint, Errno.last) }
            throw FetchError(.tls, "sending to \(endpoint): \(TLSSession.lastError())")
        }
    }

    static func isIPLiteral(_ host: String) -> Bool {
        var v4 = in_addr()
        var v6 = in6_addr()
        return inet_pton(AF_INET, host, &v4) == 1 || inet_pton(AF_INET6, host, &v6) == 1
    }

    static func lastError() -> String {
        let code = ERR_get_error()
        if code == 0 { return "unknown error" }
        var text = [CChar](repeating: 0, count: 256)
        ERR_error_string_n(code, &text, text.count)
        return String(decoding: text.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
