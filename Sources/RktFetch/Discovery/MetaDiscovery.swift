import Foundation
import Logging

/// An image to discover: an AC name and the labels asked for (version, os, arch...).
public struct DiscoveryApp: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var labels: [String: String]
    /// Labels the user typed; the others (os, arch) were filled in from this machine.
    public var requestedLabels: Set<String>

    public init(name: String, labels: [String: String], requestedLabels: Set<String>? = nil) {
        self.name = name
        self.labels = labels
        self.requestedLabels = requestedLabels ?? Set(labels.keys)
    }

    /// The user's labels plus this machine's `os` and `arch` in appc's names, as rkt does.
    public static func withRuntimeDefaults(name: String, labels: [String: String]) -> DiscoveryApp {
        var all = labels
        if all["os"] == nil { all["os"] = "linux" }
        if all["arch"] == nil { all["arch"] = DiscoveryApp.runtimeArch }
        return DiscoveryApp(name: name, labels: all, requestedLabels: Set(labels.keys))
    }

    static var runtimeArch: String {
        #if arch(x86_64)
        return "amd64"
        #elseif arch(arm64)
        return "aarch64"
        #elseif arch(i386)
        return "i386"
        #else
        return "unknown"
        #endif
    }

    public var description: String {
        var text = name
        for (key, value) in labels.sorted(by: { $0.key < $1.key }) { text += ",\(key)=\(value)" }
        return text
    }

    /// appc's rule, with rkt's error wording: every requested label must be in the manifest with
    /// the same value. Labels we filled in ourselves (os, arch) only have to agree when present.
    public func checkLabels(_ manifestLabels: [String: String], imageName: String) throws(FetchError) {
        for (key, wanted) in labels.sorted(by: { $0.key < $1.key }) {
            guard let actual = manifestLabels[key] else {
                if requestedLabels.contains(key) {
                    throw FetchError(.labelMismatch, "image \(imageName): requested label \"\(key)\" not provided by the image manifest")
                }
                continue
            }
            if actual != wanted {
                throw FetchError(.labelMismatch, "image \(imageName): requested value for label \"\(key)\": \"\(wanted)\" differs from fetched aci label value: \"\(actual)\"")
            }
        }
    }
}

/// The URLs discovery found for an image and its detached signature.
public struct ACIEndpoint: Sendable, Equatable {
    public var aci: URL
    public var signature: URL
}

/// appc meta discovery (appc/spec discovery.md): `GET https://<name>?ac-discovery=1`, the
/// `ac-discovery` and `ac-discovery-pubkeys` meta tags, walking up the name one path component at
/// a time until a level yields what we look for. HTTPS first; plain HTTP only when allowed.
public struct MetaDiscovery {
    let http: HTTPClient
    let allowHTTP: Bool
    /// A port appended to the host part of discovery URLs (appc's test hook; rkt never set it).
    let port: Int?
    let logger: Logger

    public init(http: HTTPClient, allowHTTP: Bool, port: Int? = nil, logger: Logger) {
        self.http = http
        self.allowHTTP = allowHTTP
        self.port = port
        self.logger = logger
    }

    struct Meta: Equatable {
        var name: String
        var prefix: String
        var uri: String
    }

    public func discoverACI(_ app: DiscoveryApp) throws(FetchError) -> [ACIEndpoint] {
        var templateApp = app
        if templateApp.labels["version"] == nil { templateApp.labels["version"] = "latest" }
        return try walk(app) { metas throws(FetchError) in
            metas.compactMap { meta -> ACIEndpoint? in
                guard meta.name == "ac-discovery", app.name.hasPrefix(meta.prefix) else { return nil }
                let partial = MetaDiscovery.render(meta.uri, templateApp)
                guard let aci = MetaDiscovery.finish(partial, ext: "aci"), let asc = MetaDiscovery.finish(partial, ext: "aci.asc"),
                      let aciURL = URL(string: aci), let ascURL = URL(string: asc) else { return nil }
                return ACIEndpoint(aci: aciURL, signature: ascURL)
            }
        }
    }

    public func discoverPublicKeys(_ app: DiscoveryApp) throws(FetchError) -> [URL] {
        try walk(app) { metas throws(FetchError) in
            metas.compactMap { meta in
                guard meta.name == "ac-discovery-pubkeys", app.name.hasPrefix(meta.prefix) else { return nil }
                return URL(string: meta.uri)
            }
        }
    }

    /// Tries `name`, then each parent path, returning the first non-empty result of `extract`.
    private func walk<T>(_ app: DiscoveryApp, _ extract: ([Meta]) throws(FetchError) -> [T]) throws(FetchError) -> [T] {
        var parts = app.name.split(separator: "/").map(String.init)
        var failures: [String] = []
        while !parts.isEmpty {
            let prefix = parts.joined(separator: "/")
            parts.removeLast()
            let html: String
            do throws(FetchError) { html = try fetchDiscoveryPage(prefix) } catch {
                failures.append("\(prefix): \(error)")
                continue
            }
            let found = try extract(MetaDiscovery.parseMeta(html))
            if !found.isEmpty { return found }
            failures.append("\(prefix): no matching meta tags")
        }
        throw FetchError(.discovery, "discovery failed for \"\(app.name)\": " + failures.joined(separator: "; "))
    }

    private func fetchDiscoveryPage(_ prefix: String) throws(FetchError) -> String {
        var host = prefix
        var path = ""
        if let slash = prefix.firstIndex(of: "/") {
            host = String(prefix[..<slash])
            path = String(prefix[slash...])
        }
        if let port { host += ":\(port)" }
        var lastError: FetchError?
        for scheme in allowHTTP ? ["https", "http"] : ["https"] {
            guard let url = URL(string: "\(scheme)://\(host)\(path)?ac-discovery=1") else {
                throw FetchError(.invalidURL, "invalid discovery URL for \(prefix)")
            }
            do throws(FetchError) {
                let (response, body) = try http.fetch(HTTPRequest(url: url), maxBodyBytes: 1 << 20)
                try response.ensureSuccess("discovery page")
                return String(decoding: body, as: UTF8.self)
            } catch {
                logger.debug("discovery: \(error)")
                lastError = error
            }
        }
        throw lastError ?? FetchError(.discovery, "no discovery page for \(prefix)")
    }

    /// Substitutes `{name}` and every label; `{ext}` is left for `finish`.
    static func render(_ template: String, _ app: DiscoveryApp) -> String {
        var text = template.replacingOccurrences(of: "{name}", with: app.name)
        for (key, value) in app.labels { text = text.replacingOccurrences(of: "{\(key)}", with: value) }
        return text
    }

    /// Fills `{ext}`; nil when a variable is left that we have no value for (appc: skip that template).
    static func finish(_ partial: String, ext: String) -> String? {
        let text = partial.replacingOccurrences(of: "{ext}", with: ext)
        if let open = text.firstIndex(of: "{"), text[open...].contains("}") { return nil }
        return text
    }

    /// `<meta name="ac-..." content="prefix uri">` tags of an HTML page, in order.
    static func parseMeta(_ html: String) -> [Meta] {
        var result: [Meta] = []
        let chars = Array(html.unicodeScalars)
        var i = 0
        func lower(_ c: Unicode.Scalar) -> Unicode.Scalar { c.properties.isUppercase ? Unicode.Scalar(c.value + 32)! : c }
        while i < chars.count {
            guard chars[i] == "<", i + 5 < chars.count,
                  lower(chars[i + 1]) == "m", lower(chars[i + 2]) == "e", lower(chars[i + 3]) == "t", lower(chars[i + 4]) == "a",
                  chars[i + 5] == " " || chars[i + 5] == "\t" || chars[i + 5] == "\n" || chars[i + 5] == "\r" || chars[i + 5] == "/" else {
                i += 1
                continue
            }
            i += 5
            var attributes: [String: String] = [:]
            while i < chars.count && chars[i] != ">" {
                while i < chars.count && (chars[i] == " " || chars[i] == "\t" || chars[i] == "\n" || chars[i] == "\r" || chars[i] == "/") { i += 1 }
                var key = ""
                while i < chars.count, !" \t\n\r=>/".unicodeScalars.contains(chars[i]) {
                    key.unicodeScalars.append(lower(chars[i]))
                    i += 1
                }
                while i < chars.count && (chars[i] == " " || chars[i] == "\t" || chars[i] == "\n" || chars[i] == "\r") { i += 1 }
                var value = ""
                if i < chars.count && chars[i] == "=" {
                    i += 1
                    while i < chars.count && (chars[i] == " " || chars[i] == "\t" || chars[i] == "\n" || chars[i] == "\r") { i += 1 }
                    if i < chars.count && (chars[i] == "\"" || chars[i] == "'") {
                        let quote = chars[i]
                        i += 1
                        while i < chars.count && chars[i] != quote {
                            value.unicodeScalars.append(chars[i])
                            i += 1
                        }
                        i += 1
                    } else {
                        while i < chars.count, !" \t\n\r>".unicodeScalars.contains(chars[i]) {
                            value.unicodeScalars.append(chars[i])
                            i += 1
                        }
                    }
                }
                if !key.isEmpty && attributes[key] == nil { attributes[key] = decodeEntities(value) }
                if key.isEmpty && i < chars.count && chars[i] != ">" { i += 1 }
            }
            guard let name = attributes["name"], name.hasPrefix("ac-"), let content = attributes["content"] else { continue }
            let parts = content.trimmingCharacters(in: .whitespaces).split(separator: " ", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { continue }
            let uri = parts[1].trimmingCharacters(in: .whitespaces)
            guard !parts[0].isEmpty, !uri.isEmpty else { continue }
            result.append(Meta(name: name, prefix: parts[0], uri: uri))
        }
        return result
    }

    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        return text.replacingOccurrences(of: "&quot;", with: "\"").replacingOccurrences(of: "&#39;", with: "'")
            .replacingOccurrences(of: "&lt;", with: "<").replacingOccurrences(of: "&gt;", with: ">").replacingOccurrences(of: "&amp;", with: "&")
    }
}
