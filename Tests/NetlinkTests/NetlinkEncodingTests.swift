import Testing

@testable import Netlink

/// Parses "40 00 00 00 …" into bytes, so expected messages read like a hex dump.
func hex(_ text: String) -> [UInt8] {
    text.split(whereSeparator: { $0 == " " || $0 == "\n" }).map { UInt8($0, radix: 16)! }
}

/// Encoded requests, byte for byte, against layouts written out by hand from the kernel headers
/// (nlmsghdr 16 bytes, ifinfomsg 16, ifaddrmsg 8, rtmsg 12, attributes 4-byte aligned).
@Suite struct NetlinkEncodingTests {
    @Test func bridgeCreationWithMTUAndUp() {
        let bytes = LinkRequests.createBridge(name: "br0", mtu: 1400, up: true).encoded(sequence: 1)
        #expect(
            bytes
                == hex(
                    """
                    40 00 00 00  10 00  05 06  01 00 00 00  00 00 00 00
                    00 00 00 00  00 00 00 00  01 00 00 00  01 00 00 00
                    08 00 03 00  62 72 30 00
                    08 00 04 00  78 05 00 00
                    10 00 12 80  0b 00 01 00  62 72 69 64 67 65 00 00
                    """))
    }

    @Test func vethWithPeerInAnotherNamespace() {
        let request = LinkRequests.createVeth(name: "veth0", peer: VethPeer(name: "eth0", namespaceFD: 7), masterIndex: 5, up: true)
        #expect(
            request.encoded(sequence: 2)
                == hex(
                    """
                    70 00 00 00  10 00  05 06  02 00 00 00  00 00 00 00
                    00 00 00 00  00 00 00 00  01 00 00 00  01 00 00 00
                    0a 00 03 00  76 65 74 68 30 00 00 00
                    08 00 0a 00  05 00 00 00
                    3c 00 12 80
                       09 00 01 00  76 65 74 68 00 00 00 00
                       2c 00 02 80
                          28 00 01 80
                             00 00 00 00  00 00 00 00  00 00 00 00  00 00 00 00
                             09 00 03 00  65 74 68 30 00 00 00 00
                             08 00 1c 00  07 00 00 00
                    """))
    }

    @Test func linkChanges() {
        #expect(LinkRequests.setUp(index: 3, true).encoded(sequence: 9) == hex("20 00 00 00 13 00 05 00 09 00 00 00 00 00 00 00  00 00 00 00 03 00 00 00 01 00 00 00 01 00 00 00"))
        #expect(LinkRequests.setUp(index: 3, false).encoded(sequence: 9) == hex("20 00 00 00 13 00 05 00 09 00 00 00 00 00 00 00  00 00 00 00 03 00 00 00 00 00 00 00 01 00 00 00"))
        #expect(LinkRequests.setPromiscuous(index: 3, true).encoded(sequence: 9) == hex("20 00 00 00 13 00 05 00 09 00 00 00 00 00 00 00  00 00 00 00 03 00 00 00 00 01 00 00 00 01 00 00"))
        #expect(
            LinkRequests.setMTU(index: 3, 9000).encoded(sequence: 9)
                == hex("28 00 00 00 13 00 05 00 09 00 00 00 00 00 00 00  00 00 00 00 03 00 00 00 00 00 00 00 00 00 00 00  08 00 04 00 28 23 00 00"))
        #expect(
            LinkRequests.setMaster(index: 3, masterIndex: 12).encoded(sequence: 9)
                == hex("28 00 00 00 13 00 05 00 09 00 00 00 00 00 00 00  00 00 00 00 03 00 00 00 00 00 00 00 00 00 00 00  08 00 0a 00 0c 00 00 00"))
        #expect(
            LinkRequests.setNamespace(index: 3, namespaceFD: 4).encoded(sequence: 9)
                == hex("28 00 00 00 13 00 05 00 09 00 00 00 00 00 00 00  00 00 00 00 03 00 00 00 00 00 00 00 00 00 00 00  08 00 1c 00 04 00 00 00"))
        #expect(
            LinkRequests.rename(index: 3, to: "eth1").encoded(sequence: 9)
                == hex("2c 00 00 00 13 00 05 00 09 00 00 00 00 00 00 00  00 00 00 00 03 00 00 00 00 00 00 00 00 00 00 00  09 00 03 00 65 74 68 31 00 00 00 00"))
        #expect(
            LinkRequests.setHardwareAddress(index: 3, [0x02, 0x42, 0xac, 0x11, 0x00, 0x02]).encoded(sequence: 9)
                == hex("2c 00 00 00 13 00 05 00 09 00 00 00 00 00 00 00  00 00 00 00 03 00 00 00 00 00 00 00 00 00 00 00  0a 00 01 00 02 42 ac 11 00 02 00 00"))
        #expect(LinkRequests.delete(index: 3).encoded(sequence: 9) == hex("20 00 00 00 11 00 05 00 09 00 00 00 00 00 00 00  00 00 00 00 03 00 00 00 00 00 00 00 00 00 00 00"))
    }

    /// AF_BRIDGE, and IFLA_PROTINFO must carry NLA_F_NESTED or the kernel reads it as a port state.
    @Test func hairpinIsANestedBridgePortAttribute() {
        #expect(
            LinkRequests.setHairpin(index: 9, true).encoded(sequence: 4)
                == hex("2c 00 00 00 13 00 05 00 04 00 00 00 00 00 00 00  07 00 00 00 09 00 00 00 00 00 00 00 00 00 00 00  0c 00 0c 80 05 00 04 00 01 00 00 00"))
    }

    @Test func getLinkByNameAndDump() {
        #expect(
            LinkRequests.get(name: "lo").encoded(sequence: 1)
                == hex("28 00 00 00 12 00 05 00 01 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00  07 00 03 00 6c 6f 00 00"))
        #expect(LinkRequests.list().encoded(sequence: 1) == hex("20 00 00 00 12 00 01 03 01 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00"))
    }

    @Test func ipv4AddressGetsLocalAddressAndBroadcast() {
        let prefix = IPPrefix("10.1.2.3/24")!
        #expect(
            AddressRequests.add(index: 4, prefix).encoded(sequence: 1)
                == hex(
                    """
                    30 00 00 00  14 00  05 06  01 00 00 00  00 00 00 00
                    02 18 00 00  04 00 00 00
                    08 00 02 00  0a 01 02 03
                    08 00 01 00  0a 01 02 03
                    08 00 04 00  0a 01 02 ff
                    """))
        #expect(
            AddressRequests.delete(index: 4, prefix).encoded(sequence: 1)
                == hex("28 00 00 00 15 00 05 00 01 00 00 00 00 00 00 00  02 18 00 00 04 00 00 00  08 00 02 00 0a 01 02 03  08 00 01 00 0a 01 02 03"))
    }

    @Test func ipv6AddressWithoutDuplicateAddressDetection() {
        #expect(
            AddressRequests.add(index: 2, IPPrefix("fd00::5/64")!, skipDAD: true).encoded(sequence: 1)
                == hex(
                    """
                    2c 00 00 00  14 00  05 06  01 00 00 00  00 00 00 00
                    0a 40 02 00  02 00 00 00
                    14 00 01 00  fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 05
                    """))
    }

    @Test func routes() {
        let defaultRoute = Route(destination: nil, gateway: IPAddress("10.1.2.1"), index: 4)
        #expect(
            RouteRequests.add(defaultRoute).encoded(sequence: 1)
                == hex("2c 00 00 00 18 00 05 06 01 00 00 00 00 00 00 00  02 00 00 00 fe 03 00 01 00 00 00 00  08 00 05 00 0a 01 02 01  08 00 04 00 04 00 00 00"))
        // A directly attached prefix: link scope, RTA_DST, no gateway; host bits are dropped.
        let linkRoute = Route(destination: IPPrefix("192.168.7.9/16"), gateway: nil, index: 4)
        #expect(
            RouteRequests.add(linkRoute).encoded(sequence: 1)
                == hex("2c 00 00 00 18 00 05 06 01 00 00 00 00 00 00 00  02 10 00 00 fe 03 fd 01 00 00 00 00  08 00 01 00 c0 a8 00 00  08 00 04 00 04 00 00 00"))
        #expect(
            RouteRequests.delete(defaultRoute).encoded(sequence: 1)
                == hex("2c 00 00 00 19 00 05 00 01 00 00 00 00 00 00 00  02 00 00 00 fe 03 ff 01 00 00 00 00  08 00 05 00 0a 01 02 01  08 00 04 00 04 00 00 00"))
        let ipv6 = Route(destination: IPPrefix("fd00:1::/64"), gateway: IPAddress("fd00::1"), index: 2)
        #expect(
            RouteRequests.add(ipv6).encoded(sequence: 1)
                == hex(
                    """
                    4c 00 00 00 18 00 05 06 01 00 00 00 00 00 00 00
                    0a 40 00 00 fe 03 00 01 00 00 00 00
                    14 00 01 00 fd 00 00 01 00 00 00 00 00 00 00 00 00 00 00 00
                    14 00 05 00 fd 00 00 00 00 00 00 00 00 00 00 00 00 00 00 01
                    08 00 04 00 02 00 00 00
                    """))
    }
}

/// Replies captured from a 6.18 kernel (python, raw AF_NETLINK socket, in a fresh namespace).
@Suite struct NetlinkDecodingTests {
    /// RTM_GETLINK of a missing name: NLMSG_ERROR -19 (ENODEV), capped, no extended ack.
    @Test func errorReplyCarriesErrnoAndOperation() throws {
        let reply = hex("24 00 00 00 02 00 00 01 02 00 00 00 a7 23 00 00 ed ff ff ff 30 00 00 00 12 00 05 00 02 00 00 00 00 00 00 00")
        let messages = try NetlinkMessage.parse(reply, operation: "get link nothere0")
        #expect(messages.count == 1)
        #expect(messages[0].type == NetlinkMessageType.error)
        #expect(messages[0].sequence == 2)
        #expect(throws: NetlinkError("get link nothere0", errno: 19)) {
            try NetlinkSocket.checkAcknowledgement(messages[0], operation: "get link nothere0")
        }
    }

    /// RTM_NEWLINK of an unknown kind: -95 (EOPNOTSUPP) with the kernel's message in NLMSGERR_ATTR_MSG.
    @Test func extendedAckMessageBecomesTheDetail() throws {
        let reply = hex(
            "3c 00 00 00 02 00 00 03 05 00 00 00 07 24 00 00 a1 ff ff ff 3c 00 00 00 10 00 05 06 05 00 00 00 00 00 00 00 18 00 01 00 55 6e 6b 6e 6f 77 6e 20 64 65 76 69 63 65 20 74 79 70 65 00"
        )
        let message = try NetlinkMessage.parse(reply, operation: "create")[0]
        do throws(NetlinkError) {
            try NetlinkSocket.checkAcknowledgement(message, operation: "create link x0")
            Issue.record("an error reply was accepted")
        } catch {
            #expect(error.errno == 95)
            #expect(error.detail == "Unknown device type")
            #expect(error.description == "create link x0: Operation not supported (errno 95): Unknown device type")
        }
    }

    /// RTM_GETADDR dump of `lo` (up): one RTM_NEWADDR then NLMSG_DONE, in two datagrams.
    @Test func addressDump() throws {
        let datagram = hex(
            "4c 00 00 00 14 00 02 00 03 00 00 00 a7 23 00 00 02 08 80 fe 01 00 00 00 08 00 01 00 7f 00 00 01 08 00 02 00 7f 00 00 01 07 00 03 00 6c 6f 00 00 08 00 08 00 80 00 00 00 14 00 06 00 ff ff ff ff ff ff ff ff 25 11 10 00 25 11 10 00"
        )
        let messages = try NetlinkMessage.parse(datagram, operation: "list addresses")
        #expect(messages.count == 1)
        #expect(messages[0].flags & NetlinkFlags.multipart != 0)
        let address = try #require(InterfaceAddress(message: messages[0]))
        #expect(address.prefix == IPPrefix("127.0.0.1/8"))
        #expect(address.index == 1)
        #expect(address.scope == 254)
        #expect(NetlinkAttributes(messages[0].payload, from: 8).string(AddressAttribute.label) == "lo")
        let done = try NetlinkMessage.parse(hex("14 00 00 00 03 00 02 00 03 00 00 00 a7 23 00 00 00 00 00 00"), operation: "list addresses")
        #expect(done.map(\.type) == [NetlinkMessageType.done])
    }

    @Test func truncatedDatagramIsRejected() {
        #expect(throws: NetlinkError.self) {
            try NetlinkMessage.parse(hex("40 00 00 00 10 00 00 00 01 00 00 00 00 00 00 00 00 00"), operation: "x")
        }
    }

    @Test func ipPrefixArithmetic() {
        let prefix = IPPrefix("10.213.5.77/24")!
        #expect(prefix.network.description == "10.213.5.0")
        #expect(prefix.lastAddress.description == "10.213.5.255")
        #expect(prefix.contains(IPAddress("10.213.5.1")!))
        #expect(!prefix.contains(IPAddress("10.213.6.1")!))
        #expect(IPAddress("10.0.0.255")!.next().description == "10.0.1.0")
        #expect(IPAddress("10.0.1.0")!.previous().description == "10.0.0.255")
        let v6 = IPPrefix("fd00:1:2:3::9/64")!
        #expect(v6.network.description == "fd00:1:2:3::")
        #expect(v6.lastAddress.description == "fd00:1:2:3:ffff:ffff:ffff:ffff")
        #expect(IPPrefix("10.0.0.1/33") == nil)
        #expect(IPAddress("10.0.0.256") == nil)
        #expect(Link.format(hardwareAddress: [0x02, 0x0a, 0xff, 0, 1, 2]) == "02:0a:ff:00:01:02")
        #expect(Link.parse(hardwareAddress: "02:0a:ff:00:01:02") == [0x02, 0x0a, 0xff, 0, 1, 2])
    }
}
