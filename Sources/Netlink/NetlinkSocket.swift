#if canImport(Glibc)
import Glibc
#endif
import CNetlink

/// An AF_NETLINK/NETLINK_ROUTE socket. A netlink socket stays bound to the network namespace it
/// was created in, so a socket opened inside a container's namespace (`init(namespacePath:)`)
/// configures that namespace for its whole life, while the process stays where it is.
///
/// Requests are synchronous: send, then read until the kernel's ACK (or NLMSG_DONE for dumps).
/// Not thread-safe; use one socket per thread.
public final class NetlinkSocket {
    private let descriptor: Int32
    private var sequence: UInt32
    private var buffer: [UInt8]

    /// Opens a socket in the calling thread's network namespace.
    public convenience init() throws(NetlinkError) {
        self.init(descriptor: try Self.openDescriptor())
    }

    /// Opens a socket inside the network namespace at `namespacePath` (e.g. /var/run/netns/x or
    /// /proc/PID/ns/net). The calling thread enters it only for the socket() call.
    public convenience init(namespacePath: String) throws(NetlinkError) {
        let namespaceFD = open(namespacePath, O_RDONLY | O_CLOEXEC)
        guard namespaceFD >= 0 else { throw NetlinkError("open network namespace \(namespacePath)", errno: Glibc.errno) }
        defer { close(namespaceFD) }
        try self.init(namespaceFD: namespaceFD)
    }

    public convenience init(namespaceFD: Int32) throws(NetlinkError) {
        let opened = try NetworkNamespace.run(inNamespaceFD: namespaceFD) { () throws(NetlinkError) -> Int32 in try Self.openDescriptor() }
        self.init(descriptor: try opened.get())
    }

    private init(descriptor: Int32) {
        self.descriptor = descriptor
        var seed: UInt32 = 0
        _ = cnl_getrandom(&seed, 4)
        sequence = seed
        buffer = [UInt8](repeating: 0, count: 1 << 16)
    }

    private static func openDescriptor() throws(NetlinkError) -> Int32 {
        let fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), NetlinkSocketOption.protocolRoute)
        guard fd >= 0 else { throw NetlinkError("open netlink socket", errno: Glibc.errno) }
        // Errors then carry the kernel's explanation and not a copy of our whole request.
        var on: Int32 = 1
        _ = setsockopt(fd, NetlinkSocketOption.level, NetlinkSocketOption.extendedAck, &on, socklen_t(MemoryLayout<Int32>.size))
        _ = setsockopt(fd, NetlinkSocketOption.level, NetlinkSocketOption.capAck, &on, socklen_t(MemoryLayout<Int32>.size))
        return fd
    }

    deinit {
        close(descriptor)
    }

    /// Sends a request that expects only an acknowledgement. `operation` names it in errors.
    public func execute(_ request: NetlinkRequest, operation: String) throws(NetlinkError) {
        _ = try exchange(request, operation: operation, isDump: false)
    }

    /// Sends a request (GET of one object) and returns the kernel's reply messages before the ACK.
    public func query(_ request: NetlinkRequest, operation: String) throws(NetlinkError) -> [NetlinkMessage] {
        try exchange(request, operation: operation, isDump: false)
    }

    /// Sends a dump request and returns every message up to NLMSG_DONE.
    public func dump(_ request: NetlinkRequest, operation: String) throws(NetlinkError) -> [NetlinkMessage] {
        try exchange(request, operation: operation, isDump: true)
    }

    private func exchange(_ request: NetlinkRequest, operation: String, isDump: Bool) throws(NetlinkError) -> [NetlinkMessage] {
        sequence &+= 1
        let expected = sequence
        let bytes = request.encoded(sequence: expected)
        var kernel = [UInt8](repeating: 0, count: 12)
        kernel.storeUInt16(AddressFamily.netlink, at: 0)  // sockaddr_nl: family, pad, pid 0, groups 0
        let sent = bytes.withUnsafeBytes { message in
            kernel.withUnsafeBytes { address in
                sendto(descriptor, message.baseAddress, message.count, 0, address.baseAddress?.assumingMemoryBound(to: sockaddr.self), socklen_t(12))
            }
        }
        guard sent == bytes.count else { throw NetlinkError(operation, errno: sent < 0 ? Glibc.errno : EIO, detail: sent < 0 ? "send" : "short send") }

        var replies: [NetlinkMessage] = []
        while true {
            // MSG_TRUNC makes recv return the datagram's real length, so a cut-off reply is detected.
            let received = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, Int32(MSG_TRUNC)) }
            if received < 0 {
                if Glibc.errno == EINTR { continue }
                throw NetlinkError(operation, errno: Glibc.errno, detail: "receive")
            }
            if received > buffer.count {
                throw NetlinkError(operation, errno: EMSGSIZE, detail: "reply of \(received) bytes exceeds the \(buffer.count)-byte buffer")
            }
            for message in try NetlinkMessage.parse(Array(buffer[0..<received]), operation: operation) where message.sequence == expected {
                switch message.type {
                case NetlinkMessageType.error:
                    try Self.checkAcknowledgement(message, operation: operation)
                    if !isDump { return replies }
                case NetlinkMessageType.done:
                    if isDump { return replies }
                case NetlinkMessageType.noop:
                    continue
                default:
                    replies.append(message)
                }
            }
        }
    }

    /// An NLMSG_ERROR payload is a negative errno (0 for an ACK), the request's header, and with
    /// extended ACKs, attributes that may carry the kernel's message.
    static func checkAcknowledgement(_ message: NetlinkMessage, operation: String) throws(NetlinkError) {
        guard message.payload.count >= 4 else { throw NetlinkError(operation, errno: 0, detail: "malformed reply: short error message") }
        let code = Int32(bitPattern: message.payload.loadUInt32(at: 0))
        guard code != 0 else { return }
        var detail: String? = nil
        if message.flags & NetlinkFlags.ackTLVs != 0, message.payload.count >= 20 {
            var attributesStart = 20  // errno + the echoed nlmsghdr
            if message.flags & NetlinkFlags.capped == 0 {
                attributesStart = 4 + Int(message.payload.loadUInt32(at: 4))  // the whole request was echoed
            }
            if attributesStart <= message.payload.count {
                detail = NetlinkAttributes(message.payload, from: attributesStart).string(NetlinkSocketOption.errorMessageAttribute)
            }
        }
        throw NetlinkError(operation, errno: -code, detail: detail)
    }
}

/// Running code inside another network namespace.
public enum NetworkNamespace {
    /// Runs `body` with the calling thread switched into the network namespace `namespaceFD`, and
    /// switches back afterwards. setns(CLONE_NEWNET) affects only the calling thread; call this from
    /// a synchronous context (not across an `await`) so the body runs on this thread. If the thread
    /// cannot be switched back the process aborts, since everything after would run in the wrong
    /// namespace.
    public static func run<T, E: Error>(inNamespaceFD namespaceFD: Int32, _ body: () throws(E) -> T) throws(NetlinkError) -> Result<T, E> {
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { throw NetlinkError("open current network namespace", errno: Glibc.errno) }
        defer { close(original) }
        guard cnl_setns(namespaceFD, cloneNewNetwork) == 0 else { throw NetlinkError("enter network namespace", errno: Glibc.errno) }
        defer {
            if cnl_setns(original, cloneNewNetwork) != 0 {
                fatalError("cannot return to the original network namespace: errno \(Glibc.errno)")
            }
        }
        do throws(E) { return .success(try body()) } catch { return .failure(error) }
    }

    /// Creates a new, empty network namespace and returns an fd that holds it (close it, and every
    /// socket opened in it, to destroy it with its links). The calling thread unshares into it only
    /// to open the fd, then returns to its namespace.
    public static func create() throws(NetlinkError) -> Int32 {
        let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        guard original >= 0 else { throw NetlinkError("open current network namespace", errno: Glibc.errno) }
        defer { close(original) }
        guard cnl_unshare(cloneNewNetwork) == 0 else { throw NetlinkError("create network namespace", errno: Glibc.errno) }
        let created = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
        let openErrno = Glibc.errno
        if cnl_setns(original, cloneNewNetwork) != 0 {
            fatalError("cannot return to the original network namespace: errno \(Glibc.errno)")
        }
        guard created >= 0 else { throw NetlinkError("open new network namespace", errno: openErrno) }
        return created
    }

    /// Same, for a namespace given by path.
    public static func run<T, E: Error>(inNamespaceAt path: String, _ body: () throws(E) -> T) throws(NetlinkError) -> Result<T, E> {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw NetlinkError("open network namespace \(path)", errno: Glibc.errno) }
        defer { close(fd) }
        return try run(inNamespaceFD: fd, body)
    }
}
