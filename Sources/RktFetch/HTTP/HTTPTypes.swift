import Foundation

public struct HTTPRequest: Sendable {
    public var method: String
    public var url: URL
    public var headers: [(name: String, value: String)]
    public var body: Data?

    public init(method: String = "GET", url: URL, headers: [(name: String, value: String)] = [], body: Data? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// The first header with this name, case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }
}

public struct HTTPResponse: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    /// The final URL, after redirects.
    public var url: URL

    public init(status: Int, headers: [(name: String, value: String)], url: URL) {
        self.status = status
        self.headers = headers
        self.url = url
    }

    /// The first header with this name, case-insensitively.
    public func header(_ name: String) -> String? {
        headers.first { $0.name.caseInsensitiveCompare(name) == .orderedSame }?.value
    }

    public var isSuccess: Bool { (200..<300).contains(status) }

    /// Throws `.httpStatus` naming the URL unless the status is 2xx.
    public func ensureSuccess(_ what: String? = nil) throws(FetchError) {
        guard !isSuccess else { return }
        let subject = what.map { "\($0) (\(url.absoluteString))" } ?? url.absoluteString
        throw FetchError(.httpStatus, "fetching \(subject): HTTP \(status) \(HTTPResponse.reason(status))", status: status)
    }

    static func reason(_ status: Int) -> String {
        switch status {
        case 304: "Not Modified"
        case 400: "Bad Request"
        case 401: "Unauthorized"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 416: "Range Not Satisfiable"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        default: ""
        }
    }
}

public struct HTTPClientOptions: Sendable {
    /// Allow `http://` URLs and https→http redirects (`--insecure-options=http`).
    public var allowHTTP: Bool
    /// Skip certificate and hostname verification (`--insecure-options=tls`).
    public var insecureTLS: Bool
    /// An extra PEM CA bundle trusted beside the system store (tests use it for their own CA).
    public var caFile: String?
    /// Connect timeout, and the longest a single read or write may stall.
    public var timeoutSeconds: Int
    public var maxRedirects: Int

    public init(allowHTTP: Bool = false, insecureTLS: Bool = false, caFile: String? = nil, timeoutSeconds: Int = 60, maxRedirects: Int = 10) {
        self.allowHTTP = allowHTTP
        self.insecureTLS = insecureTLS
        self.caFile = caFile
        self.timeoutSeconds = timeoutSeconds
        self.maxRedirects = maxRedirects
    }
}
