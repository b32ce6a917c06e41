/// A route of the main table: to `destination` (nil: the default route) via `gateway` and/or
/// out of link `index`.
public struct Route: Sendable, Equatable {
    public let destination: IPPrefix?
    public let gateway: IPAddress?
    public let index: Int32?

    public init(destination: IPPrefix?, gateway: IPAddress?, index: Int32?) {
        self.destination = destination.map { $0.canonical }
        self.gateway = gateway
        self.index = index
    }

    var family: UInt8 { (destination?.address ?? gateway)?.family ?? AddressFamily.inet }

    /// Decodes an RTM_NEWROUTE message of the main table; nil for others.
    public init?(message: NetlinkMessage) {
        guard message.type == NetlinkMessageType.newRoute, message.payload.count >= 12 else { return nil }
        let payload = message.payload
        let attributes = NetlinkAttributes(payload, from: 12)
        let table = attributes.uint32(RouteAttribute.table) ?? UInt32(payload[4])
        guard table == UInt32(RouteAttribute.mainTable) else { return nil }
        if let bytes = attributes[RouteAttribute.destination], let address = IPAddress(bytes: bytes) {
            destination = IPPrefix(address: address, length: Int(payload[1]))
        } else {
            destination = nil
        }
        gateway = attributes[RouteAttribute.gateway].flatMap { IPAddress(bytes: $0) }
        index = attributes.uint32(RouteAttribute.outputInterface).map { Int32(bitPattern: $0) }
    }
}

public enum RouteRequests {
    /// RTM_NEWROUTE in the main table; link scope when there is no gateway (a directly attached network).
    public static func add(_ route: Route) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.newRoute, flags: NetlinkFlags.request | NetlinkFlags.ack | NetlinkFlags.create | NetlinkFlags.exclusive)
        appendBody(&request, route, scope: route.gateway == nil ? RouteAttribute.scopeLink : RouteAttribute.scopeUniverse)
        return request
    }

    /// RTM_DELROUTE; scope "nowhere" matches a route of any scope.
    public static func delete(_ route: Route) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.deleteRoute, flags: NetlinkFlags.request | NetlinkFlags.ack)
        appendBody(&request, route, scope: RouteAttribute.scopeNowhere)
        return request
    }

    public static func list(family: UInt8 = AddressFamily.unspecified) -> NetlinkRequest {
        var request = NetlinkRequest(type: NetlinkMessageType.getRoute, flags: NetlinkFlags.request | NetlinkFlags.dump)
        request.appendRouteInfo(family: family, destinationLength: 0, table: 0, protocol: 0, scope: 0, type: 0)
        return request
    }

    private static func appendBody(_ request: inout NetlinkRequest, _ route: Route, scope: UInt8) {
        request.appendRouteInfo(
            family: route.family, destinationLength: UInt8(route.destination?.length ?? 0), table: RouteAttribute.mainTable,
            protocol: RouteAttribute.protocolBoot, scope: scope, type: RouteAttribute.typeUnicast)
        if let destination = route.destination, destination.length > 0 {
            request.appendAttribute(RouteAttribute.destination, destination.address.bytes)
        }
        if let gateway = route.gateway { request.appendAttribute(RouteAttribute.gateway, gateway.bytes) }
        if let index = route.index { request.appendAttribute(RouteAttribute.outputInterface, uint32: UInt32(bitPattern: index)) }
    }
}

extension NetlinkSocket {
    public func addRoute(_ route: Route) throws(NetlinkError) {
        try execute(RouteRequests.add(route), operation: "add route \(Self.describe(route))")
    }

    public func deleteRoute(_ route: Route) throws(NetlinkError) {
        try execute(RouteRequests.delete(route), operation: "delete route \(Self.describe(route))")
    }

    /// Routes of the main table, of one family or both.
    public func routes(family: UInt8 = AddressFamily.unspecified) throws(NetlinkError) -> [Route] {
        try dump(RouteRequests.list(family: family), operation: "list routes").compactMap { Route(message: $0) }
    }

    static func describe(_ route: Route) -> String {
        var text = route.destination?.description ?? "default"
        if let gateway = route.gateway { text += " via \(gateway)" }
        if let index = route.index { text += " dev #\(index)" }
        return text
    }
}
