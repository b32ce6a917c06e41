import Foundation

/// One image in the store index (rkt's `aciinfo` row).
public struct ImageInfo: Sendable, Equatable {
    public var key: String
    public var name: String
    public var importTime: Date
    public var lastUsed: Date
    /// The image was fetched by name without an explicit version.
    public var latest: Bool
    /// Size of the stored (uncompressed) ACI.
    public var size: Int64
    /// Disk usage of its rendered trees.
    public var treeStoreSize: Int64

    public var totalSize: Int64 { size + treeStoreSize }
}

/// What was recorded about a remote fetch, for HTTP caching (rkt's `remote` row).
public struct RemoteRecord: Sendable, Equatable {
    public var aciURL: String
    public var signatureURL: String
    public var etag: String
    public var blobKey: String
    public var cacheMaxAge: Int64
    public var downloadTime: Date

    public init(aciURL: String, signatureURL: String = "", etag: String = "", blobKey: String, cacheMaxAge: Int64 = 0, downloadTime: Date = Date()) {
        self.aciURL = aciURL
        self.signatureURL = signatureURL
        self.etag = etag
        self.blobKey = blobKey
        self.cacheMaxAge = cacheMaxAge
        self.downloadTime = downloadTime
    }
}
