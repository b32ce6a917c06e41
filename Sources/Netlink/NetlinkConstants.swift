// Kernel constants for rtnetlink (linux/netlink.h, linux/rtnetlink.h, linux/if_link.h,
// linux/if_addr.h). Swift's Glibc module does not import these headers, so they are re-declared
// here, namespaced, with the kernel's values.

/// Netlink message types and header flags (linux/netlink.h).
public enum NetlinkMessageType {
    public static let noop: UInt16 = 1
    public static let error: UInt16 = 2
    public static let done: UInt16 = 3
    public static let newLink: UInt16 = 16
    public static let deleteLink: UInt16 = 17
    public static let getLink: UInt16 = 18
    public static let setLink: UInt16 = 19
    public static let newAddress: UInt16 = 20
    public static let deleteAddress: UInt16 = 21
    public static let getAddress: UInt16 = 22
    public static let newRoute: UInt16 = 24
    public static let deleteRoute: UInt16 = 25
    public static let getRoute: UInt16 = 26
}

public enum NetlinkFlags {
    public static let request: UInt16 = 0x1
    public static let multipart: UInt16 = 0x2
    public static let ack: UInt16 = 0x4
    public static let dump: UInt16 = 0x300
    public static let replace: UInt16 = 0x100
    public static let exclusive: UInt16 = 0x200
    public static let create: UInt16 = 0x400
    /// On NLMSG_ERROR replies: the echoed request was cut off (NETLINK_CAP_ACK).
    public static let capped: UInt16 = 0x100
    /// On NLMSG_ERROR replies: extended-ack attributes follow.
    public static let ackTLVs: UInt16 = 0x200
}

public enum AddressFamily {
    public static let unspecified: UInt8 = 0
    public static let inet: UInt8 = 2
    public static let bridge: UInt8 = 7
    public static let inet6: UInt8 = 10
    public static let netlink: UInt16 = 16
}

/// IFLA_* attributes of RTM_*LINK messages.
public enum LinkAttribute {
    public static let address: UInt16 = 1
    public static let broadcast: UInt16 = 2
    public static let name: UInt16 = 3
    public static let mtu: UInt16 = 4
    public static let link: UInt16 = 5
    public static let master: UInt16 = 10
    public static let protocolInfo: UInt16 = 12
    public static let operationalState: UInt16 = 16
    public static let linkInfo: UInt16 = 18
    public static let namespacePID: UInt16 = 19
    public static let namespaceFD: UInt16 = 28
    /// Inside IFLA_LINKINFO.
    public static let infoKind: UInt16 = 1
    public static let infoData: UInt16 = 2
    /// Inside IFLA_INFO_DATA of a veth.
    public static let vethPeer: UInt16 = 1
    /// Inside IFLA_PROTINFO of a bridge port (AF_BRIDGE).
    public static let bridgePortHairpin: UInt16 = 4
}

/// IFF_* interface flags (net/if.h).
public enum InterfaceFlags {
    public static let up: UInt32 = 0x1
    public static let loopback: UInt32 = 0x8
    public static let promiscuous: UInt32 = 0x100
    public static let lowerUp: UInt32 = 0x10000
}

/// IFA_* attributes and flags of RTM_*ADDR messages.
public enum AddressAttribute {
    public static let address: UInt16 = 1
    public static let local: UInt16 = 2
    public static let label: UInt16 = 3
    public static let broadcast: UInt16 = 4
    public static let flags: UInt16 = 8
    /// IFA_F_NODAD: skip IPv6 duplicate address detection, so the address is usable at once.
    public static let noDAD: UInt8 = 0x02
    public static let permanent: UInt8 = 0x80
}

/// RTA_* attributes and rtmsg field values of RTM_*ROUTE messages.
public enum RouteAttribute {
    public static let destination: UInt16 = 1
    public static let outputInterface: UInt16 = 4
    public static let gateway: UInt16 = 5
    public static let priority: UInt16 = 6
    public static let table: UInt16 = 15

    public static let mainTable: UInt8 = 254
    public static let protocolBoot: UInt8 = 3
    public static let scopeUniverse: UInt8 = 0
    public static let scopeLink: UInt8 = 253
    public static let scopeNowhere: UInt8 = 255
    public static let typeUnicast: UInt8 = 1
}

/// Attribute header bits (linux/netlink.h).
public enum AttributeFlags {
    public static let nested: UInt16 = 0x8000
    public static let networkByteOrder: UInt16 = 0x4000
    public static let typeMask: UInt16 = 0x3fff
}

/// Socket-level constants (linux/netlink.h, linux/socket.h).
enum NetlinkSocketOption {
    static let protocolRoute: Int32 = 0
    static let level: Int32 = 270  // SOL_NETLINK
    static let capAck: Int32 = 10  // NETLINK_CAP_ACK: do not echo the request in error replies
    static let extendedAck: Int32 = 11  // NETLINK_EXT_ACK: the kernel adds a message to errors
    static let errorMessageAttribute: UInt16 = 1  // NLMSGERR_ATTR_MSG
}

/// clone(2) flag for setns/unshare.
public let cloneNewNetwork: Int32 = 0x4000_0000
