import SystemPackage

/// A failed system call: which step failed, on what path, and the errno.
public struct SystemError: Error, CustomStringConvertible, Sendable, Equatable {
    public let step: String
    public let path: String?
    public let errno: Errno

    public init(_ step: String, path: String? = nil, errno: Errno = .last) {
        self.step = step
        self.path = path
        self.errno = errno
    }

    public var description: String {
        if let path { return "\(step) \(path): \(errno.shortDescription)" }
        return "\(step): \(errno.shortDescription)"
    }
}

extension Errno {
    /// strerror text, without swift-system's "Errno(...)" decoration.
    public var shortDescription: String {
        guard let text = strerror(rawValue) else { return "errno \(rawValue)" }
        return String(cString: text)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs a libc call that returns -1 and sets errno on failure, retrying on EINTR.
@discardableResult
public func sysCall<T: BinaryInteger>(_ step: String, path: String? = nil, _ body: () -> T) throws(SystemError) -> T {
    while true {
        let result = body()
        if result != -1 { return result }
        let err = Errno.last
        if err == .interrupted { continue }
        throw SystemError(step, path: path, errno: err)
    }
}

extension Errno {
    /// The calling thread's errno (swift-system keeps its own accessor internal on Linux).
    public static var last: Errno { Errno(rawValue: Glibc.errno) }
}
