/// An interface address as RTM_NEWADDR describes it.
public struct InterfaceAddress: Sendable, Equatable {
    public let index: Int32
    public let prefix: IPPrefix
    public let flags: UInt8
    public let scope: UInt8

    /// Decodes an RTM_NEWADDR message; nil if it is not one or has no address.
    public init?(message: NetlinkMessage) {
        guard message.type == NetlinkMessageType.newAddress, message.payload.count >= 8 else { return nil }
        let payload = message.payload
        let attributes = NetlinkAttributes(payload, from: 8)
        // IFA_LOCAL is the interface's own address on IPv4 (IFA_ADDRESS may be a peer's); IPv6 has only IFA_ADDRESS.
        guard let bytes = attributes[AddressAttribute.local] ?? attributes[AddressAttribute.address],
            let address = IPAddress(bytes: bytes), let prefix = IPPrefix(address: address, length: Int(payload[1]))
        else { return nil }
        self.prefix = prefix
        flags = payload[2]
        scope = payload[3]
        index = Int32(bitPattern: payload.loadUInt32(at: 4))
    }
}

public enum AddressRequests {
    /// RTM_NEWADDR as `ip addr add` sends it: IPv4 gets IFA_LOCAL, IFA_ADDRESS and the broadcast
    /// address (below /31); IPv6 gets IFA_ADDRESS, with IFA_F_NODAD when `skipDAD` so it is usable
    /// immediately instead of "tentative" for a second or more.
    public static func add(index: Int32, _ prefix: IPPrefix, skipDAD: Bool = false) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.newAddress, flags: NetlinkFlags.request | NetlinkFlags.ack | NetlinkFlags.create | NetlinkFlags.exclusive)
        appendBody(&request, index: index, prefix, flags: skipDAD && !prefix.address.isIPv4 ? AddressAttribute.noDAD : 0)
        if prefix.address.isIPv4 && prefix.length < 31 {
            request.appendAttribute(AddressAttribute.broadcast, prefix.lastAddress.bytes)
        }
        return request
    }

    public static func delete(index: Int32, _ prefix: IPPrefix) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.deleteAddress, flags: NetlinkFlags.request | NetlinkFlags.ack)
        appendBody(&request, index: index, prefix, flags: 0)
        return request
    }

    /// Dumps addresses of one family (AF_UNSPEC: both); the kernel ignores the index, so callers filter.
    public static func list(family: UInt8 = AddressFamily.unspecified) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.getAddress, flags: NetlinkFlags.request | NetlinkFlags.dump)
        request.appendAddressInfo(family: family, prefixLength: 0, flags: 0, scope: 0, index: 0)
        return request
    }

    private static func appendBody(_ request: inout NetlinkRequest, index: Int32, _ prefix: IPPrefix, flags: UInt8) {
        request.appendAddressInfo(family: prefix.address.family, prefixLength: UInt8(prefix.length), flags: flags, scope: RouteAttribute.scopeUniverse, index: index)
        if prefix.address.isIPv4 { request.appendAttribute(AddressAttribute.local, prefix.address.bytes) }
        request.appendAttribute(AddressAttribute.address, prefix.address.bytes)
    }
}

extension NetlinkSocket {
    public func addAddress(index: Int32, _ prefix: IPPrefix, skipDAD: Bool = false) throws(NetlinkError) {
        try execute(AddressRequests.add(index: index, prefix, skipDAD: skipDAD), operation: "add address \(prefix) to link #\(index)")
    }

    public func deleteAddress(index: Int32, _ prefix: IPPrefix) throws(NetlinkError) {
        try execute(AddressRequests.delete(index: index, prefix), operation: "delete address \(prefix) from link #\(index)")
    }

    /// Addresses of link `index` (nil: of all links), of one family or both.
    public func addresses(index: Int32? = nil, family: UInt8 = AddressFamily.unspecified) throws(NetlinkError) -> [InterfaceAddress] {
        try dump(AddressRequests.list(family: family), operation: "list addresses").compactMap { InterfaceAddress(message: $0) }
            .filter { index == nil || $0.index == index }
    }
}
