#if canImport(Glibc)
import Glibc
#endif
import Testing

@testable import Netlink

/// Against the running kernel, as root, inside throwaway network namespaces made by
/// `NetworkNamespace.create()`: each is held only by our fds and sockets, so it disappears with
/// every link in it when the test ends, even on failure.
@Suite struct NetlinkKernelTests {
    static let isRoot = geteuid() == 0

    /// A fresh namespace and a socket in it; closing both destroys it.
    final class Sandbox {
        let namespaceFD: Int32
        let socket: NetlinkSocket
        init() throws {
            namespaceFD = try NetworkNamespace.create()
            socket = try NetlinkSocket(namespaceFD: namespaceFD)
        }
        deinit { close(namespaceFD) }
    }

    @Test func linksBridgesAndVeths() throws {
        guard Self.isRoot else {
            print("skipped: NetlinkKernelTests need root")
            return
        }
        let host = try Sandbox()
        let container = try Sandbox()
        let nl = host.socket

        let loopback = try #require(try nl.link(named: "lo"))
        #expect(loopback.index == 1)
        #expect(try nl.link(named: "nothere0") == nil)
        #expect(try nl.link(index: 999) == nil)

        try nl.createBridge(name: "rkttbr0", mtu: 1400, up: true)
        let bridge = try #require(try nl.link(named: "rkttbr0"))
        #expect(bridge.kind == "bridge")
        #expect(bridge.mtu == 1400)
        #expect(bridge.isUp)
        // Creating it again fails with EEXIST, and the error names the operation.
        do throws(NetlinkError) {
            try nl.createBridge(name: "rkttbr0")
            Issue.record("second bridge creation succeeded")
        } catch {
            #expect(error.errno == EEXIST)
            #expect(error.operation == "create bridge rkttbr0")
        }

        // The peer is created directly in the other namespace, under its final name.
        try nl.createVeth(name: "rkttv0", peer: VethPeer(name: "eth0", namespaceFD: container.namespaceFD), mtu: 1400, masterIndex: bridge.index, up: true)
        let hostEnd = try #require(try nl.link(named: "rkttv0"))
        #expect(hostEnd.kind == "veth")
        #expect(hostEnd.masterIndex == bridge.index)
        #expect(hostEnd.isUp)
        #expect(try nl.link(named: "eth0") == nil)
        let peer = try #require(try container.socket.link(named: "eth0"))
        #expect(peer.kind == "veth")
        #expect(peer.mtu == 1400)
        #expect(!peer.isUp)
        try container.socket.setUp(index: peer.index)
        #expect(try container.socket.link(index: peer.index)?.isUp == true)

        try nl.setHairpin(index: hostEnd.index, true)
        try nl.setPromiscuous(index: bridge.index, true)
        #expect(try nl.link(index: bridge.index)?.isPromiscuous == true)
        try nl.setMTU(index: hostEnd.index, 1300)
        #expect(try nl.link(index: hostEnd.index)?.mtu == 1300)
        try nl.setUp(index: hostEnd.index, false)
        #expect(try nl.link(index: hostEnd.index)?.isUp == false)
        try nl.setMaster(index: hostEnd.index, masterIndex: 0)
        #expect(try nl.link(index: hostEnd.index)?.masterIndex == nil)
        let mac: [UInt8] = [0x02, 0x42, 0x0a, 0xd5, 0x00, 0x07]
        try nl.setHardwareAddress(index: hostEnd.index, mac)
        #expect(try nl.link(index: hostEnd.index)?.hardwareAddress == mac)
        try nl.rename(index: hostEnd.index, to: "rkttv1")
        #expect(try nl.link(named: "rkttv1")?.index == hostEnd.index)
        #expect(try nl.links().contains { $0.name == "rkttv1" && $0.kind == "veth" })

        // Moving a link to another namespace, then deleting it there (which deletes its peer too).
        try nl.setNamespace(index: hostEnd.index, namespaceFD: container.namespaceFD)
        #expect(try nl.link(named: "rkttv1") == nil)
        let moved = try #require(try container.socket.link(named: "rkttv1"))
        try container.socket.deleteLink(index: moved.index)
        #expect(try container.socket.link(named: "eth0") == nil)
        try nl.deleteLink(index: bridge.index)
        #expect(try nl.link(named: "rkttbr0") == nil)
    }

    @Test func addressesAndRoutes() throws {
        guard Self.isRoot else {
            print("skipped: NetlinkKernelTests need root")
            return
        }
        let sandbox = try Sandbox()
        let nl = sandbox.socket
        try nl.createBridge(name: "rkttbr1", up: true)
        let bridge = try #require(try nl.link(named: "rkttbr1"))
        let v4 = IPPrefix("10.213.200.1/24")!
        let v6 = IPPrefix("fd00:213:200::1/64")!
        try nl.addAddress(index: bridge.index, v4)
        try nl.addAddress(index: bridge.index, v6, skipDAD: true)
        let addresses = try nl.addresses(index: bridge.index)
        #expect(addresses.contains { $0.prefix == v4 })
        let v6Address = try #require(addresses.first { $0.prefix == v6 })
        #expect(v6Address.flags & AddressAttribute.noDAD != 0)
        #expect(try nl.addresses(index: bridge.index, family: AddressFamily.inet).allSatisfy { $0.prefix.address.isIPv4 })
        do throws(NetlinkError) {
            try nl.addAddress(index: bridge.index, v4)
            Issue.record("duplicate address accepted")
        } catch {
            #expect(error.errno == EEXIST)
        }

        let prefixed = Route(destination: IPPrefix("10.213.201.0/24"), gateway: IPAddress("10.213.200.254"), index: bridge.index)
        let defaultRoute = Route(destination: nil, gateway: IPAddress("10.213.200.254"), index: bridge.index)
        let defaultV6 = Route(destination: nil, gateway: IPAddress("fd00:213:200::fe"), index: bridge.index)
        try nl.addRoute(prefixed)
        try nl.addRoute(defaultRoute)
        try nl.addRoute(defaultV6)
        let routes = try nl.routes()
        #expect(routes.contains(prefixed))
        #expect(routes.contains(defaultRoute))
        #expect(routes.contains { $0.destination == nil && $0.gateway == IPAddress("fd00:213:200::fe") })
        try nl.deleteRoute(prefixed)
        try nl.deleteRoute(defaultRoute)
        #expect(!(try nl.routes(family: AddressFamily.inet)).contains(prefixed))
        #expect(!(try nl.routes(family: AddressFamily.inet)).contains(defaultRoute))
        do throws(NetlinkError) {
            try nl.deleteRoute(defaultRoute)
            Issue.record("deleting a missing route succeeded")
        } catch {
            #expect(error.errno == ESRCH)
        }

        try nl.deleteAddress(index: bridge.index, v4)
        try nl.deleteAddress(index: bridge.index, v6)
        #expect(!(try nl.addresses(index: bridge.index)).contains { $0.prefix == v4 || $0.prefix == v6 })
    }

    /// Running a closure inside a namespace switches only the calling thread, and switches back.
    @Test func runInsideNamespace() throws {
        guard Self.isRoot else {
            print("skipped: NetlinkKernelTests need root")
            return
        }
        let sandbox = try Sandbox()
        try sandbox.socket.createBridge(name: "rkttbr2")
        func currentNamespace() -> String {
            var buffer = [CChar](repeating: 0, count: 64)
            let n = readlink("/proc/thread-self/ns/net", &buffer, 63)
            return n > 0 ? String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        }
        let before = currentNamespace()
        let seen = try NetworkNamespace.run(inNamespaceFD: sandbox.namespaceFD) { () throws(NetlinkError) -> Bool in
            try NetlinkSocket().link(named: "rkttbr2") != nil
        }.get()
        #expect(seen)
        #expect(currentNamespace() == before)
        #expect(try NetlinkSocket().link(named: "rkttbr2") == nil)
    }
}
