#if canImport(Glibc)
import Glibc
#endif

/// A failed netlink operation: which one ("create veth veth1a2b3c4d"), the errno the kernel or a
/// syscall returned (0 when the failure is not an errno, e.g. a malformed reply), and the
/// kernel's extended-ack message when it sent one.
public struct NetlinkError: Error, Equatable, Sendable, CustomStringConvertible {
    public let operation: String
    public let errno: Int32
    public let detail: String?

    public init(_ operation: String, errno: Int32, detail: String? = nil) {
        self.operation = operation
        self.errno = errno
        self.detail = detail
    }

    public var description: String {
        var text = operation
        if errno != 0 { text += ": \(String(cString: strerror(errno))) (errno \(errno))" }
        if let detail { text += ": \(detail)" }
        return text
    }
}
