import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#endif

/// Our own HTTP/1.1 client over BSD sockets and libssl (URLSession needs libcurl, which the static
/// `rkt` cannot carry). One connection per request (`Connection: close`); Content-Length, chunked
/// and read-to-close bodies; redirects that never downgrade https→http unless `allowHTTP`.
///
/// Statuses are returned, not thrown: callers decide what a 304 or 404 means (see
/// `HTTPResponse.ensureSuccess`). Transport failures throw `FetchError` naming the URL.
public final class HTTPClient: Sendable {
    public let options: HTTPClientOptions
    private let logger: Logger
    static let userAgent = "rkt/1.30.0 (swift)"

    public init(options: HTTPClientOptions, logger: Logger) {
        self.options = options
        self.logger = logger
        // SSL_write on a socket the peer closed would raise SIGPIPE and kill rkt; an EPIPE error is
        // what we want. Plain sockets use MSG_NOSIGNAL, but OpenSSL writes with write(2).
        signal(SIGPIPE, SIG_IGN)
    }

    /// Sends `request` (following redirects) and returns the response with its whole body, which
    /// may not exceed `maxBodyBytes`.
    public func fetch(_ request: HTTPRequest, maxBodyBytes: Int = 16 << 20) throws(FetchError) -> (HTTPResponse, Data) {
        var body = Data()
        let response = try perform(request, resumeFrom: 0, streamAnyStatus: true) { chunk, url throws(FetchError) in
            if body.count + chunk.count > maxBodyBytes {
                throw FetchError(.bodyTooLarge, "fetching \(url.absoluteString): response larger than \(maxBodyBytes) bytes")
            }
            body.append(contentsOf: chunk)
        }
        return (response, body)
    }

    /// Sends `request` and streams a 2xx body to `sink`. With `offset > 0` a `Range: bytes=offset-`
    /// header is sent: a 206 answer carries the rest, a 200 answer the whole body (the server
    /// ignored the range; the caller must start over). Non-2xx bodies are discarded, and the
    /// response returned for the caller to judge.
    public func download(_ request: HTTPRequest, resumeFrom offset: Int64 = 0, sink: (UnsafeRawBufferPointer) throws -> Void) throws(FetchError) -> HTTPResponse {
        try download(request, resumeFrom: offset, onResponse: { _ in }, sink: sink)
    }

    /// `download`, with `onResponse` called once with the final response before its body streams
    /// (to size a progress bar or reset a partial file on a 200 answer to a Range request).
    public func download(
        _ request: HTTPRequest, resumeFrom offset: Int64 = 0, onResponse: (HTTPResponse) throws -> Void,
        sink: (UnsafeRawBufferPointer) throws -> Void
    ) throws(FetchError) -> HTTPResponse {
        try perform(request, resumeFrom: offset, streamAnyStatus: false, onResponse: { response throws(FetchError) in
            do {
                try onResponse(response)
            } catch let error as FetchError {
                throw error
            } catch {
                throw FetchError(.sink, "downloading \(response.url.absoluteString): \(error)", underlying: error)
            }
        }) { chunk, url throws(FetchError) in
            do {
                try sink(chunk)
            } catch let error as FetchError {
                throw error
            } catch {
                throw FetchError(.sink, "downloading \(url.absoluteString): \(error)", underlying: error)
            }
        }
    }

    // MARK: The exchange

    private func perform(
        _ original: HTTPRequest, resumeFrom offset: Int64, streamAnyStatus: Bool,
        onResponse: (HTTPResponse) throws(FetchError) -> Void = { _ in },
        body sink: (UnsafeRawBufferPointer, URL) throws(FetchError) -> Void
    ) throws(FetchError) -> HTTPResponse {
        var request = original
        if offset > 0 { request.headers.append((name: "Range", value: "bytes=\(offset)-")) }
        var redirects = 0
        while true {
            let target = try Target(request.url, allowHTTP: options.allowHTTP)
            let connection = try Connection.open(host: target.host, port: target.port, useTLS: target.tls, options: options)
            logger.debug("\(request.method) \(request.url.absoluteString)")
            try connection.write(serialize(request, target: target))
            let head = try readHead(connection, url: request.url)
            logger.debug("HTTP \(head.status) \(request.url.absoluteString)")
            let response = HTTPResponse(status: head.status, headers: head.headers, url: request.url)

            if [301, 302, 303, 307, 308].contains(head.status), let location = response.header("Location") {
                redirects += 1
                if redirects > options.maxRedirects {
                    throw FetchError(.tooManyRedirects, "fetching \(original.url.absoluteString): more than \(options.maxRedirects) redirects")
                }
                guard let next = URL(string: location, relativeTo: request.url)?.absoluteURL else {
                    throw FetchError(.malformedResponse, "fetching \(request.url.absoluteString): invalid redirect Location \(location)")
                }
                if request.url.scheme == "https" && next.scheme == "http" && !options.allowHTTP {
                    throw FetchError(.insecureScheme, "fetching \(request.url.absoluteString): refusing redirect from https to \(next.absoluteString) (use --insecure-options=http to allow)")
                }
                // Credentials are for the host that asked for them (a registry redirecting to a CDN).
                if next.host != request.url.host || next.port != request.url.port || next.scheme != request.url.scheme {
                    request.headers.removeAll { $0.name.caseInsensitiveCompare("Authorization") == .orderedSame }
                }
                if head.status == 303 || ((head.status == 301 || head.status == 302) && request.method == "POST") {
                    request.method = "GET"
                    request.body = nil
                }
                request.url = next
                continue
            }

            try onResponse(response)
            let bodyless = request.method == "HEAD" || head.status == 204 || head.status == 304 || (100..<200).contains(head.status)
            if bodyless { return response }
            if streamAnyStatus || response.isSuccess {
                try readBody(connection, head: head, url: request.url, sink: sink)
            }
            // Otherwise the connection closes with the body unread: we sent `Connection: close`.
            return response
        }
    }

    struct Target {
        let host: String
        let port: Int
        let tls: Bool
        let hostHeader: String
        let requestTarget: String

        init(_ url: URL, allowHTTP: Bool) throws(FetchError) {
            guard let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
                throw FetchError(.invalidURL, "fetching \(url.absoluteString): not an http or https URL")
            }
            guard let components = URLComponents(url: url, resolvingAgainstBaseURL: true),
                  var host = components.host, !host.isEmpty else {
                throw FetchError(.invalidURL, "fetching \(url.absoluteString): no host in URL")
            }
            if scheme == "http" && !allowHTTP {
                throw FetchError(.insecureScheme, "fetching \(url.absoluteString): plain HTTP is not allowed (use --insecure-options=http)")
            }
            if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self.host = host
            tls = scheme == "https"
            let defaultPort = tls ? 443 : 80
            port = components.port ?? defaultPort
            let bracketed = host.contains(":") ? "[\(host)]" : host
            hostHeader = port == defaultPort ? bracketed : "\(bracketed):\(port)"
            var path = components.percentEncodedPath
            if path.isEmpty { path = "/" }
            if let query = components.percentEncodedQuery { path += "?" + query }
            requestTarget = path
        }
    }

    private func serialize(_ request: HTTPRequest, target: Target) -> Data {
        var text = "\(request.method) \(target.requestTarget) HTTP/1.1\r\n"
        var has = Set<String>()
        for header in request.headers {
            has.insert(header.name.lowercased())
            text += "\(header.name): \(header.value)\r\n"
        }
        if !has.contains("host") { text += "Host: \(target.hostHeader)\r\n" }
        if !has.contains("user-agent") { text += "User-Agent: \(HTTPClient.userAgent)\r\n" }
        if !has.contains("accept") { text += "Accept: */*\r\n" }
        // We verify digests of exactly what the server stores: no transparent compression.
        if !has.contains("accept-encoding") { text += "Accept-Encoding: identity\r\n" }
        text += "Connection: close\r\n"
        if let body = request.body {
            if !has.contains("content-length") { text += "Content-Length: \(body.count)\r\n" }
        } else if request.method == "POST" || request.method == "PUT" {
            text += "Content-Length: 0\r\n"
        }
        text += "\r\n"
        var data = Data(text.utf8)
        if let body = request.body { data.append(body) }
        return data
    }

    struct Head {
        var status: Int
        var headers: [(name: String, value: String)]
    }

    private func readHead(_ connection: Connection, url: URL) throws(FetchError) -> Head {
        while true {
            guard let statusLine = try connection.readLine() else {
                throw FetchError(.malformedResponse, "fetching \(url.absoluteString): connection closed before a response")
            }
            let parts = statusLine.split(separator: " ", maxSplits: 2, omittingEmptySubsequences: true)
            guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]), (100...599).contains(status) else {
                throw FetchError(.malformedResponse, "fetching \(url.absoluteString): bad status line \"\(statusLine.prefix(80))\"")
            }
            var headers: [(name: String, value: String)] = []
            while true {
                guard let line = try connection.readLine() else {
                    throw FetchError(.truncated, "fetching \(url.absoluteString): connection closed in the response headers")
                }
                if line.isEmpty { break }
                if line.first == " " || line.first == "\t", !headers.isEmpty {
                    headers[headers.count - 1].value += " " + line.trimmingCharacters(in: .whitespaces)
                    continue
                }
                guard let colon = line.firstIndex(of: ":") else {
                    throw FetchError(.malformedResponse, "fetching \(url.absoluteString): bad header line \"\(line.prefix(80))\"")
                }
                headers.append((name: String(line[..<colon]), value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
                if headers.count > 200 { throw FetchError(.malformedResponse, "fetching \(url.absoluteString): too many headers") }
            }
            // 1xx interim answers (100 Continue) are followed by the real one.
            if (100..<200).contains(status) && status != 101 { continue }
            return Head(status: status, headers: headers)
        }
    }

    private func readBody(_ connection: Connection, head: Head, url: URL, sink: (UnsafeRawBufferPointer, URL) throws(FetchError) -> Void) throws(FetchError) {
        let response = HTTPResponse(status: head.status, headers: head.headers, url: url)
        let encoding = response.header("Transfer-Encoding")?.lowercased() ?? ""
        if encoding.contains("chunked") {
            try readChunked(connection, url: url, sink: sink)
            return
        }
        if let lengthText = response.header("Content-Length") {
            guard let length = Int64(lengthText.trimmingCharacters(in: .whitespaces)), length >= 0 else {
                throw FetchError(.malformedResponse, "fetching \(url.absoluteString): bad Content-Length \(lengthText)")
            }
            var remaining = length
            while remaining > 0 {
                let n = try connection.readChunk(limit: Int(min(remaining, Int64(Connection.bufferSize)))) { chunk throws(FetchError) in try sink(chunk, url) }
                if n == 0 {
                    throw FetchError(.truncated, "fetching \(url.absoluteString): connection closed after \(length - remaining) of \(length) bytes")
                }
                remaining -= Int64(n)
            }
            return
        }
        // No framing: the body runs to the end of the connection.
        while try connection.readChunk(limit: Connection.bufferSize, { chunk throws(FetchError) in try sink(chunk, url) }) > 0 {}
    }

    private func readChunked(_ connection: Connection, url: URL, sink: (UnsafeRawBufferPointer, URL) throws(FetchError) -> Void) throws(FetchError) {
        while true {
            guard let sizeLine = try connection.readLine() else {
                throw FetchError(.truncated, "fetching \(url.absoluteString): connection closed inside a chunked body")
            }
            let sizeText = sizeLine.split(separator: ";", maxSplits: 1).first.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
            guard let size = Int64(sizeText, radix: 16), size >= 0 else {
                throw FetchError(.malformedResponse, "fetching \(url.absoluteString): bad chunk size \"\(sizeLine.prefix(40))\"")
            }
            if size == 0 {
                // Trailers, up to the blank line.
                while let trailer = try connection.readLine(), !trailer.isEmpty {}
                return
            }
            var remaining = size
            while remaining > 0 {
                let n = try connection.readChunk(limit: Int(min(remaining, Int64(Connection.bufferSize)))) { chunk throws(FetchError) in try sink(chunk, url) }
                if n == 0 { throw FetchError(.truncated, "fetching \(url.absoluteString): connection closed inside a chunk") }
                remaining -= Int64(n)
            }
            guard let end = try connection.readLine(), end.isEmpty else {
                throw FetchError(.malformedResponse, "fetching \(url.absoluteString): chunk not followed by CRLF")
            }
        }
    }
}
