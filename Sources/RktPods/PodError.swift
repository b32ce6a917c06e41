import RktOS

/// Errors of the pod layer, one line each; the cause is kept for --debug.
public struct PodError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        case notFound, ambiguous, invalidState, busy, io, invalidManifest, invalidArgument
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

    static func io(_ error: SystemError) -> PodError { PodError(.io, error.description, cause: error) }
}
