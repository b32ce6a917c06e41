import RktArchive
import RktOS
import RktTypes

/// Errors of the image store layer: what went wrong, in one line, with the cause kept for --debug.
public struct StoreError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        case notFound, ambiguous, invalidImage, invalidReference, database, io, busy, exists, dependency, unsupported
    }
    public let kind: Kind
    public let message: String
    public let cause: (any Error & Sendable)?

    public init(_ kind: Kind, _ message: String, cause: (any Error & Sendable)? = nil) {
        self.kind = kind
        self.message = message
        self.cause = cause
    }

    public var description: String { message }

    static func io(_ error: SystemError) -> StoreError { StoreError(.io, error.description, cause: error) }
    static func archive(_ error: ArchiveError) -> StoreError { StoreError(.invalidImage, error.description, cause: error) }
}
