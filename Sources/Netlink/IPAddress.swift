#if canImport(Glibc)
import Glibc
#endif

/// An IPv4 (4 bytes) or IPv6 (16 bytes) address in network byte order, as netlink carries it.
public struct IPAddress: Hashable, Sendable, Comparable, CustomStringConvertible {
    public let bytes: [UInt8]

    public init?(bytes: [UInt8]) {
        guard bytes.count == 4 || bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// Parses dotted-quad IPv4 or any RFC 4291 IPv6 text form (inet_pton).
    public init?(_ text: String) {
        var buffer = [UInt8](repeating: 0, count: 16)
        if text.contains(":") {
            guard inet_pton(AF_INET6, text, &buffer) == 1 else { return nil }
            bytes = buffer
        } else {
            guard inet_pton(AF_INET, text, &buffer) == 1 else { return nil }
            bytes = Array(buffer.prefix(4))
        }
    }

    public var isIPv4: Bool { bytes.count == 4 }
    public var family: UInt8 { isIPv4 ? AddressFamily.inet : AddressFamily.inet6 }
    public var bitCount: Int { bytes.count * 8 }

    public var description: String {
        var buffer = [CChar](repeating: 0, count: 64)
        _ = inet_ntop(isIPv4 ? AF_INET : AF_INET6, bytes, &buffer, socklen_t(buffer.count))
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The next address, wrapping at the top of the address space.
    public func next() -> IPAddress { offset(by: 1) }
    public func previous() -> IPAddress { offset(by: -1) }

    private func offset(by delta: Int) -> IPAddress {
        var result = bytes
        var index = result.count - 1
        while index >= 0 {
            if delta > 0 {
                result[index] &+= 1
                if result[index] != 0 { break }
            } else {
                result[index] &-= 1
                if result[index] != 0xff { break }
            }
            index -= 1
        }
        return IPAddress(uncheckedBytes: result)
    }

    init(uncheckedBytes: [UInt8]) { bytes = uncheckedBytes }

    public static func < (lhs: IPAddress, rhs: IPAddress) -> Bool {
        lhs.bytes.lexicographicallyPrecedes(rhs.bytes)
    }
}

/// An address with a prefix length: "10.1.0.5/24" is the address 10.1.0.5 on network 10.1.0.0/24.
public struct IPPrefix: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int

    public init?(address: IPAddress, length: Int) {
        guard length >= 0, length <= address.bitCount else { return nil }
        self.address = address
        self.length = length
    }

    /// Parses "ADDRESS/LENGTH".
    public init?(_ text: String) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let address = IPAddress(String(parts[0])), let length = Int(parts[1]) else { return nil }
        self.init(address: address, length: length)
    }

    public var description: String { "\(address)/\(length)" }

    /// The network address: host bits cleared.
    public var network: IPAddress { IPAddress(uncheckedBytes: masked { byte, mask in byte & mask }) }
    /// The last address of the network: host bits set.
    public var lastAddress: IPAddress { IPAddress(uncheckedBytes: masked { byte, mask in byte | ~mask }) }
    /// The prefix with host bits cleared ("10.1.0.5/24" -> "10.1.0.0/24").
    public var canonical: IPPrefix { IPPrefix(uncheckedAddress: network, length: length) }

    public func contains(_ other: IPAddress) -> Bool {
        other.bytes.count == address.bytes.count && IPPrefix(uncheckedAddress: other, length: length).network == network
    }

    init(uncheckedAddress: IPAddress, length: Int) {
        self.address = uncheckedAddress
        self.length = length
    }

    private func masked(_ combine: (UInt8, UInt8) -> UInt8) -> [UInt8] {
        address.bytes.enumerated().map { index, byte in
            let bitsInByte = max(0, min(8, length - index * 8))
            let mask: UInt8 = bitsInByte == 0 ? 0 : UInt8(truncatingIfNeeded: 0xff << (8 - bitsInByte))
            return combine(byte, mask)
        }
    }
}
