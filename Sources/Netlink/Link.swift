import CNetlink

/// A network interface as RTM_NEWLINK describes it.
public struct Link: Sendable, Equatable {
    public let index: Int32
    public let name: String
    public let flags: UInt32
    public let mtu: UInt32
    /// The hardware (MAC) address; empty for devices without one.
    public let hardwareAddress: [UInt8]
    /// The bridge (or bond) this link is enslaved to.
    public let masterIndex: Int32?
    /// IFLA_INFO_KIND: "bridge", "veth", … ; nil for physical and loopback devices.
    public let kind: String?

    public var isUp: Bool { flags & InterfaceFlags.up != 0 }
    public var isPromiscuous: Bool { flags & InterfaceFlags.promiscuous != 0 }

    /// "aa:bb:cc:dd:ee:ff".
    public var hardwareAddressText: String { Link.format(hardwareAddress: hardwareAddress) }

    public static func format(hardwareAddress: [UInt8]) -> String {
        hardwareAddress.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined(separator: ":")
    }

    public static func parse(hardwareAddress text: String) -> [UInt8]? {
        let parts = text.split(separator: ":")
        guard parts.count == 6 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard part.count <= 2, let byte = UInt8(part, radix: 16) else { return nil }
            bytes.append(byte)
        }
        return bytes
    }

    /// Decodes an RTM_NEWLINK message; nil if it is too short to be one.
    public init?(message: NetlinkMessage) {
        guard message.type == NetlinkMessageType.newLink, message.payload.count >= 16 else { return nil }
        let payload = message.payload
        index = Int32(bitPattern: payload.loadUInt32(at: 4))
        flags = payload.loadUInt32(at: 8)
        let attributes = NetlinkAttributes(payload, from: 16)
        name = attributes.string(LinkAttribute.name) ?? ""
        mtu = attributes.uint32(LinkAttribute.mtu) ?? 0
        hardwareAddress = attributes[LinkAttribute.address] ?? []
        masterIndex = attributes.uint32(LinkAttribute.master).map { Int32(bitPattern: $0) }
        kind = attributes.nested(LinkAttribute.linkInfo)?.string(LinkAttribute.infoKind)
    }
}

/// The veth peer's placement when a pair is created.
public struct VethPeer: Sendable {
    public let name: String
    /// An open fd of the network namespace the peer is created in; nil for the caller's own.
    public let namespaceFD: Int32?
    /// Note: the kernel opens the peer before pairing it, so `up` fails with ENOTCONN on current
    /// kernels (veth_open); set the peer up after creation instead.
    public let up: Bool

    public init(name: String, namespaceFD: Int32? = nil, up: Bool = false) {
        self.name = name
        self.namespaceFD = namespaceFD
        self.up = up
    }
}

/// Request builders for links: pure functions, so their bytes can be checked without a kernel.
public enum LinkRequests {
    static let createFlags = NetlinkFlags.request | NetlinkFlags.ack | NetlinkFlags.create | NetlinkFlags.exclusive
    static let changeFlags = NetlinkFlags.request | NetlinkFlags.ack

    public static func get(name: String) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.getLink, flags: changeFlags)
        request.appendInterfaceInfo()
        request.appendAttribute(LinkAttribute.name, string: name)
        return request
    }

    public static func get(index: Int32) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.getLink, flags: changeFlags)
        request.appendInterfaceInfo(index: index)
        return request
    }

    public static func list() -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.getLink, flags: NetlinkFlags.request | NetlinkFlags.dump)
        request.appendInterfaceInfo()
        return request
    }

    /// A bridge, optionally up at once (the kernel applies ifinfomsg flags on creation).
    public static func createBridge(name: String, mtu: UInt32? = nil, up: Bool = false) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.newLink, flags: createFlags)
        request.appendInterfaceInfo(flags: up ? InterfaceFlags.up : 0, change: up ? InterfaceFlags.up : 0)
        request.appendAttribute(LinkAttribute.name, string: name)
        if let mtu { request.appendAttribute(LinkAttribute.mtu, uint32: mtu) }
        request.appendNested(LinkAttribute.linkInfo) { info in
            info.appendAttribute(LinkAttribute.infoKind, string: "bridge")
        }
        return request
    }

    /// A veth pair in one message: this end (optionally enslaved to `masterIndex` and up) and the
    /// peer, which the kernel creates directly in the peer's namespace.
    public static func createVeth(name: String, peer: VethPeer, mtu: UInt32? = nil, masterIndex: Int32? = nil, up: Bool = false) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.newLink, flags: createFlags)
        request.appendInterfaceInfo(flags: up ? InterfaceFlags.up : 0, change: up ? InterfaceFlags.up : 0)
        request.appendAttribute(LinkAttribute.name, string: name)
        if let mtu { request.appendAttribute(LinkAttribute.mtu, uint32: mtu) }
        if let masterIndex { request.appendAttribute(LinkAttribute.master, uint32: UInt32(bitPattern: masterIndex)) }
        request.appendNested(LinkAttribute.linkInfo) { info in
            info.appendAttribute(LinkAttribute.infoKind, string: "veth")
            info.appendNested(LinkAttribute.infoData) { data in
                data.appendNested(LinkAttribute.vethPeer) { peerMessage in
                    peerMessage.appendInterfaceInfo(flags: peer.up ? InterfaceFlags.up : 0, change: peer.up ? InterfaceFlags.up : 0)
                    peerMessage.appendAttribute(LinkAttribute.name, string: peer.name)
                    if let mtu { peerMessage.appendAttribute(LinkAttribute.mtu, uint32: mtu) }
                    if let fd = peer.namespaceFD { peerMessage.appendAttribute(LinkAttribute.namespaceFD, uint32: UInt32(bitPattern: fd)) }
                }
            }
        }
        return request
    }

    /// RTM_SETLINK for `index` with ifinfomsg flags and any attributes `build` adds.
    public static func set(index: Int32, flags: UInt32 = 0, change: UInt32 = 0, _ build: (inout NetlinkRequest) -> Void = { _ in }) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.setLink, flags: changeFlags)
        request.appendInterfaceInfo(index: index, flags: flags, change: change)
        build(&request)
        return request
    }

    public static func setUp(index: Int32, _ up: Bool) -> NetlinkRequest {
        set(index: index, flags: up ? InterfaceFlags.up : 0, change: InterfaceFlags.up)
    }

    public static func setPromiscuous(index: Int32, _ on: Bool) -> NetlinkRequest {
        set(index: index, flags: on ? InterfaceFlags.promiscuous : 0, change: InterfaceFlags.promiscuous)
    }

    public static func setMTU(index: Int32, _ mtu: UInt32) -> NetlinkRequest {
        set(index: index) { $0.appendAttribute(LinkAttribute.mtu, uint32: mtu) }
    }

    /// Enslaves to a bridge; master 0 releases.
    public static func setMaster(index: Int32, masterIndex: Int32) -> NetlinkRequest {
        set(index: index) { $0.appendAttribute(LinkAttribute.master, uint32: UInt32(bitPattern: masterIndex)) }
    }

    public static func setNamespace(index: Int32, namespaceFD: Int32) -> NetlinkRequest {
        set(index: index) { $0.appendAttribute(LinkAttribute.namespaceFD, uint32: UInt32(bitPattern: namespaceFD)) }
    }

    public static func rename(index: Int32, to name: String) -> NetlinkRequest {
        set(index: index) { $0.appendAttribute(LinkAttribute.name, string: name) }
    }

    public static func setHardwareAddress(index: Int32, _ address: [UInt8]) -> NetlinkRequest {
        set(index: index) { $0.appendAttribute(LinkAttribute.address, address) }
    }

    /// Hairpin mode of a bridge port: an AF_BRIDGE RTM_SETLINK with IFLA_PROTINFO nested (the
    /// kernel reads a non-nested IFLA_PROTINFO as the old port-state byte).
    public static func setHairpin(index: Int32, _ on: Bool) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.setLink, flags: changeFlags)
        request.appendInterfaceInfo(family: AddressFamily.bridge, index: index)
        request.appendNested(LinkAttribute.protocolInfo) { info in
            info.appendAttribute(LinkAttribute.bridgePortHairpin, uint8: on ? 1 : 0)
        }
        return request
    }

    public static func delete(index: Int32) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.deleteLink, flags: changeFlags)
        request.appendInterfaceInfo(index: index)
        return request
    }
}

extension NetlinkSocket {
    /// The link named `name`, or nil if there is none (ENODEV).
    public func link(named name: String) throws(NetlinkError) -> Link? {
        try oneLink(LinkRequests.get(name: name), operation: "get link \(name)")
    }

    public func link(index: Int32) throws(NetlinkError) -> Link? {
        try oneLink(LinkRequests.get(index: index), operation: "get link #\(index)")
    }

    public func links() throws(NetlinkError) -> [Link] {
        try dump(LinkRequests.list(), operation: "list links").compactMap { Link(message: $0) }
    }

    private func oneLink(_ request: NetlinkRequest, operation: String) throws(NetlinkError) -> Link? {
        let replies: [NetlinkMessage]
        do throws(NetlinkError) {
            replies = try query(request, operation: operation)
        } catch {
            if error.errno == ENODEV_ { return nil }
            throw error
        }
        guard let link = replies.lazy.compactMap({ Link(message: $0) }).first else {
            throw NetlinkError(operation, errno: 0, detail: "no RTM_NEWLINK in the reply")
        }
        return link
    }

    public func createBridge(name: String, mtu: UInt32? = nil, up: Bool = false) throws(NetlinkError) {
        try execute(LinkRequests.createBridge(name: name, mtu: mtu, up: up), operation: "create bridge \(name)")
    }

    public func createVeth(name: String, peer: VethPeer, mtu: UInt32? = nil, masterIndex: Int32? = nil, up: Bool = false) throws(NetlinkError) {
        try execute(LinkRequests.createVeth(name: name, peer: peer, mtu: mtu, masterIndex: masterIndex, up: up), operation: "create veth \(name) (peer \(peer.name))")
    }

    public func setUp(index: Int32, _ up: Bool = true) throws(NetlinkError) {
        try execute(LinkRequests.setUp(index: index, up), operation: "set link #\(index) \(up ? "up" : "down")")
    }

    public func setPromiscuous(index: Int32, _ on: Bool) throws(NetlinkError) {
        try execute(LinkRequests.setPromiscuous(index: index, on), operation: "set link #\(index) promisc \(on ? "on" : "off")")
    }

    public func setMTU(index: Int32, _ mtu: UInt32) throws(NetlinkError) {
        try execute(LinkRequests.setMTU(index: index, mtu), operation: "set link #\(index) mtu \(mtu)")
    }

    public func setMaster(index: Int32, masterIndex: Int32) throws(NetlinkError) {
        try execute(LinkRequests.setMaster(index: index, masterIndex: masterIndex), operation: "set link #\(index) master #\(masterIndex)")
    }

    public func setNamespace(index: Int32, namespaceFD: Int32) throws(NetlinkError) {
        try execute(LinkRequests.setNamespace(index: index, namespaceFD: namespaceFD), operation: "move link #\(index) to another network namespace")
    }

    public func rename(index: Int32, to name: String) throws(NetlinkError) {
        try execute(LinkRequests.rename(index: index, to: name), operation: "rename link #\(index) to \(name)")
    }

    public func setHardwareAddress(index: Int32, _ address: [UInt8]) throws(NetlinkError) {
        try execute(LinkRequests.setHardwareAddress(index: index, address), operation: "set link #\(index) address \(Link.format(hardwareAddress: address))")
    }

    public func setHairpin(index: Int32, _ on: Bool) throws(NetlinkError) {
        try execute(LinkRequests.setHairpin(index: index, on), operation: "set link #\(index) hairpin \(on ? "on" : "off")")
    }

    public func deleteLink(index: Int32) throws(NetlinkError) {
        try execute(LinkRequests.delete(index: index), operation: "delete link #\(index)")
    }
}

/// ENODEV, without importing Glibc into every caller.
let ENODEV_: Int32 = 19

extension Link {
    /// `prefix` + 8 random hex digits, e.g. "veth1a2b3c4d": unique enough for host-side veth names
    /// (the kernel's EEXIST catches the rare clash).
    public static func randomName(prefix: String) -> String {
        var bytes = [UInt8](repeating: 0, count: 4)
        _ = cnl_getrandom(&bytes, 4)
        return prefix + bytes.map { byte in
            let hex = String(byte, radix: 16)
            return hex.count == 1 ? "0" + hex : hex
        }.joined()
    }
}
