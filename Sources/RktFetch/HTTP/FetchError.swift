import Foundation

/// The one error type of RktFetch: what went wrong, at which step, for which URL or image.
public struct FetchError: Error, CustomStringConvertible {
    public enum Kind: String, Sendable {
        case invalidURL
        /// A plain-HTTP URL or redirect while `allowHTTP` is off.
        case insecureScheme
        case resolve
        case connect
        case timeout
        case tls
        case io
        /// The server spoke something that is not HTTP/1.x as we know it.
        case malformedResponse
        /// The server answered with a status the caller cannot use.
        case httpStatus
        case tooManyRedirects
        case bodyTooLarge
        /// The connection ended before the announced body did.
        case truncated
        /// The caller's sink refused the data (disk full, digest mismatch...).
        case sink
        /// appc meta discovery found no endpoint, or a fetched manifest does not match the name.
        case discovery
        case labelMismatch
        /// Signature checks: missing, untrusted or bad.
        case signature
        case trust
        case store
        case invalidArgument
    }

    public let kind: Kind
    public let message: String
    /// The HTTP status when `kind == .httpStatus`.
    public let status: Int?
    public let underlying: (any Error)?

    public init(_ kind: Kind, _ message: String, status: Int? = nil, underlying: (any Error)? = nil) {
        self.kind = kind
        self.message = message
        self.status = status
        self.underlying = underlying
    }

    public var description: String { message }
}
