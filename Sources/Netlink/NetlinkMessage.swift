/// An rtnetlink request under construction: a 16-byte nlmsghdr, a fixed family header
/// (ifinfomsg, ifaddrmsg or rtmsg) and attributes, all in host byte order and 4-byte aligned as
/// the kernel expects. The length and sequence number are filled in when the message is sent.
public struct NetlinkRequest: Sendable, Equatable {
    public private(set) var bytes: [UInt8]

    public init(type: UInt16, flags: UInt16, sequence: UInt32 = 0) {
        bytes = []
        bytes.reserveCapacity(256)
        appendUInt32(0)  // nlmsg_len, patched by `encoded`
        appendUInt16(type)
        appendUInt16(flags)
        appendUInt32(sequence)
        appendUInt32(0)  // nlmsg_pid: 0 addresses the kernel
    }

    public var type: UInt16 { UInt16(bytes[4]) | UInt16(bytes[5]) << 8 }

    /// The bytes to send: length patched in, with `sequence` if given.
    public func encoded(sequence: UInt32? = nil) -> [UInt8] {
        var out = bytes
        out.storeUInt32(UInt32(out.count), at: 0)
        if let sequence { out.storeUInt32(sequence, at: 8) }
        return out
    }

    // MARK: Family headers

    /// struct ifinfomsg (16 bytes).
    public mutating func appendInterfaceInfo(family: UInt8 = AddressFamily.unspecified, index: Int32 = 0, flags: UInt32 = 0, change: UInt32 = 0) {
        bytes.append(family)
        bytes.append(0)
        appendUInt16(0)  // ifi_type
        appendUInt32(UInt32(bitPattern: index))
        appendUInt32(flags)
        appendUInt32(change)
    }

    /// struct ifaddrmsg (8 bytes).
    public mutating func appendAddressInfo(family: UInt8, prefixLength: UInt8, flags: UInt8, scope: UInt8, index: Int32) {
        bytes += [family, prefixLength, flags, scope]
        appendUInt32(UInt32(bitPattern: index))
    }

    /// struct rtmsg (12 bytes).
    public mutating func appendRouteInfo(family: UInt8, destinationLength: UInt8, table: UInt8, protocol: UInt8, scope: UInt8, type: UInt8) {
        bytes += [family, destinationLength, 0, 0, table, `protocol`, scope, type]
        appendUInt32(0)  // rtm_flags
    }

    // MARK: Attributes

    public mutating func appendAttribute(_ type: UInt16, _ payload: [UInt8]) {
        appendUInt16(UInt16(4 + payload.count))
        appendUInt16(type)
        bytes += payload
        pad()
    }

    public mutating func appendAttribute(_ type: UInt16, uint32 value: UInt32) {
        appendAttribute(type, value.littleEndianBytes)
    }

    public mutating func appendAttribute(_ type: UInt16, uint8 value: UInt8) {
        appendAttribute(type, [value])
    }

    /// A NUL-terminated string attribute, as IFLA_IFNAME and IFLA_INFO_KIND are.
    public mutating func appendAttribute(_ type: UInt16, string value: String) {
        appendAttribute(type, Array(value.utf8) + [0])
    }

    /// A nested attribute (NLA_F_NESTED set) whose body `build` appends; its length is patched after.
    public mutating func appendNested(_ type: UInt16, _ build: (inout NetlinkRequest) -> Void) {
        let start = bytes.count
        appendUInt16(0)
        appendUInt16(type | AttributeFlags.nested)
        build(&self)
        bytes.storeUInt16(UInt16(bytes.count - start), at: start)
        pad()
    }

    mutating func appendUInt16(_ value: UInt16) { bytes += value.littleEndianBytes }
    mutating func appendUInt32(_ value: UInt32) { bytes += value.littleEndianBytes }
    private mutating func pad() {
        while bytes.count % 4 != 0 { bytes.append(0) }
    }
}

/// One message received from the kernel, with its payload (family header + attributes).
public struct NetlinkMessage: Sendable, Equatable {
    public let type: UInt16
    public let flags: UInt16
    public let sequence: UInt32
    public let portID: UInt32
    public let payload: [UInt8]

    /// Splits a datagram into messages. Throws on a length that runs past the datagram.
    public static func parse(_ datagram: [UInt8], operation: String) throws(NetlinkError) -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        while offset + 16 <= datagram.count {
            let length = Int(datagram.loadUInt32(at: offset))
            guard length >= 16, offset + length <= datagram.count else {
                throw NetlinkError(operation, errno: 0, detail: "malformed reply: message length \(length) at offset \(offset) of \(datagram.count)")
            }
            messages.append(
                NetlinkMessage(
                    type: datagram.loadUInt16(at: offset + 4), flags: datagram.loadUInt16(at: offset + 6),
                    sequence: datagram.loadUInt32(at: offset + 8), portID: datagram.loadUInt32(at: offset + 12),
                    payload: Array(datagram[(offset + 16)..<(offset + length)])))
            offset += (length + 3) & ~3
        }
        return messages
    }
}

/// The attributes of a message or of a nested attribute, in wire order, keyed by type (flag bits
/// masked off). A later attribute of the same type does not hide the first.
public struct NetlinkAttributes: Sendable {
    public let entries: [(type: UInt16, value: [UInt8])]

    public init(_ bytes: [UInt8], from start: Int = 0) {
        var entries: [(type: UInt16, value: [UInt8])] = []
        var offset = start
        while offset + 4 <= bytes.count {
            let length = Int(bytes.loadUInt16(at: offset))
            guard length >= 4, offset + length <= bytes.count else { break }
            entries.append((bytes.loadUInt16(at: offset + 2) & AttributeFlags.typeMask, Array(bytes[(offset + 4)..<(offset + length)])))
            offset += (length + 3) & ~3
        }
        self.entries = entries
    }

    public subscript(type: UInt16) -> [UInt8]? {
        entries.first { $0.type == type }?.value
    }

    public func uint32(_ type: UInt16) -> UInt32? {
        guard let value = self[type], value.count >= 4 else { return nil }
        return value.loadUInt32(at: 0)
    }

    public func string(_ type: UInt16) -> String? {
        guard let value = self[type] else { return nil }
        return String(decoding: value.prefix { $0 != 0 }, as: UTF8.self)
    }

    public func nested(_ type: UInt16) -> NetlinkAttributes? {
        self[type].map { NetlinkAttributes($0) }
    }
}

extension FixedWidthInteger {
    var littleEndianBytes: [UInt8] {
        withUnsafeBytes(of: littleEndian) { Array($0) }
    }
}

extension Array where Element == UInt8 {
    func loadUInt16(at offset: Int) -> UInt16 {
        UInt16(self[offset]) | UInt16(self[offset + 1]) << 8
    }
    func loadUInt32(at offset: Int) -> UInt32 {
        UInt32(self[offset]) | UInt32(self[offset + 1]) << 8 | UInt32(self[offset + 2]) << 16 | UInt32(self[offset + 3]) << 24
    }
    mutating func storeUInt16(_ value: UInt16, at offset: Int) {
        self[offset] = UInt8(truncatingIfNeeded: value)
        self[offset + 1] = UInt8(truncatingIfNeeded: value >> 8)
    }
    mutating func storeUInt32(_ value: UInt32, at offset: Int) {
        for i in 0..<4 { self[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
    }
}
