import Foundation

/// Where everything lives under the data dir (rkt's layout: Documentation/on-disk-format.md).
public struct StoreLayout: Sendable {
    public let dataDir: String

    public init(dataDir: String) { self.dataDir = dataDir }

    public var cas: String { dataDir + "/cas" }
    public var blobs: String { cas + "/blob/sha512" }
    public var manifests: String { cas + "/imageManifest/sha512" }
    public var trees: String { cas + "/tree" }
    public var imageLocks: String { cas + "/imagelocks" }
    public var treeLocks: String { cas + "/treestorelocks" }
    public var tmp: String { cas + "/tmp" }
    public var dbDir: String { cas + "/db" }
    public var dbPath: String { dbDir + "/index.sqlite" }
    public var pods: String { dataDir + "/pods" }

    /// `sha512-<64 hex>` keys are stored in a directory named after their first two hex digits.
    public func blobPath(_ key: String) -> String { "\(blobs)/\(Self.shard(key))/\(key)" }
    public func manifestPath(_ key: String) -> String { "\(manifests)/\(Self.shard(key))/\(key)" }
    public func treePath(_ treeID: String) -> String { "\(trees)/\(treeID)" }

    static func shard(_ key: String) -> String {
        let hex = key.hasPrefix("sha512-") ? key.dropFirst(7) : Substring(key)
        return String(hex.prefix(2))
    }
}
