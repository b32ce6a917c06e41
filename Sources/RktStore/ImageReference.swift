/// An image named as `name[:version][,label=value...]` (appc's app string), as in `rkt image rm example.com/app:1.0`.
public struct ImageReference: Sendable, Equatable, CustomStringConvertible {
    public var name: String
    public var labels: [String: String]

    public init(name: String, labels: [String: String] = [:]) {
        self.name = name
        self.labels = labels
    }

    public static func parse(_ text: String) throws(StoreError) -> ImageReference {
        var parts = text.split(separator: ",", omittingEmptySubsequences: false).map(String.init)
        guard !parts.isEmpty else { throw StoreError(.invalidReference, "empty image name") }
        var head = parts.removeFirst()
        var labels: [String: String] = [:]
        if let colon = head.firstIndex(of: ":") {
            let version = String(head[head.index(after: colon)...])
            head = String(head[..<colon])
            guard !version.isEmpty else { throw StoreError(.invalidReference, "invalid image name \(text): empty version") }
            labels["version"] = version
        }
        guard !head.isEmpty else { throw StoreError(.invalidReference, "invalid image name \(text): empty name") }
        for part in parts {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            guard kv.count == 2, !kv[0].isEmpty else {
                throw StoreError(.invalidReference, "invalid image name \(text): label \"\(part)\" is not NAME=VALUE")
            }
            if labels[kv[0]] != nil { throw StoreError(.invalidReference, "invalid image name \(text): label \(kv[0]) given twice") }
            labels[kv[0]] = kv[1]
        }
        return ImageReference(name: head, labels: labels)
    }

    public var description: String {
        var s = name
        if let v = labels["version"] { s += ":" + v }
        for (k, v) in labels.sorted(by: { $0.key < $1.key }) where k != "version" { s += ",\(k)=\(v)" }
        return s
    }
}
