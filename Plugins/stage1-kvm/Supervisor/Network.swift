import CNetlink
import Foundation
import Glibc
import Netlink
import Stage1Protocol
import Stage1Kit

/// A kvm pod's network. stage0 made the pod's network namespace with CNI (any plugin) before
/// exec'ing us; the VM gets the same interfaces the way Kata Containers' "tcfilter" mode does:
///
/// 1. `join`: the calling thread enters the namespace before any thread or QEMU exists (setns
///    is per thread; threads and processes created later inherit it), so libvirt opens the tap
///    and starts QEMU inside it;
/// 2. `prepare`: per CNI interface (`eth0`, …) a persistent tap (`tap0`, …) in the namespace,
///    and two tc ingress filters that redirect every frame from the interface to the tap and
///    back (`u32 match u8 0 0 action mirred egress redirect`), so the namespace's own stack never
///    sees the pod's traffic; the guest NIC gets the interface's MAC, MTU, addresses and routes
///    (read back from the namespace, so whatever the CNI plugins configured is what the guest
///    gets), written to the plan (`network`) for GuestInit/net.c.
///
/// Nothing here needs undoing: the taps and filters live in the pod's namespace and go with it
/// when stage0's gc removes it (after QEMU, the last holder of a tap, is gone).
enum PodNetwork {
    /// One NIC of the guest.
    struct GuestInterface: Equatable {
        /// The CNI interface in the namespace, and the guest's name for its NIC.
        var name: String
        var tap: String
        var mac: String
        var mtu: UInt32
    }

    /// Enters the pod's network namespace on the calling thread; `--net=host` is refused (a VM
    /// has its own kernel and network stack: it cannot share the host's). Without a namespace
    /// (`--net=none`) QEMU stays where it is and the guest has only loopback.
    static func join(_ run: RunPayload) throws(Stage1Error) {
        if run.net == .host {
            throw Stage1Error(
                code: .unsupported,
                msg: "stage1-kvm cannot run a pod in the host's network namespace (--net=host): use --net=none, --net=default or a CNI network",
                details: "a kvm pod is a VM with its own kernel and network stack")
        }
        guard let path = run.networkNamespace else {
            guard run.net == .none else {
                throw Stage1Error(
                    code: .invalidRequest, msg: "run.net is \"\(run.net.rawValue)\" but stage0 set up no network namespace (run.networkNamespace)")
            }
            return
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("open", path, msg: "cannot open the pod's network namespace \(path): \(errnoString(errno))") }
        defer { close(fd) }
        let cloneNewNetwork: Int32 = 0x4000_0000
        guard cnl_setns(fd, cloneNewNetwork) == 0 else {
            throw systemError("setns", path, msg: "cannot join the pod's network namespace \(path): \(errnoString(errno))")
        }
    }

    /// Makes a tap per CNI interface, connects them, and writes `<plan>/network`. Call inside the
    /// namespace (after `join`), before libvirt starts QEMU. Returns the guest's NICs.
    static func prepare(_ run: RunPayload, planDirectory: String) throws(Stage1Error) -> [GuestInterface] {
        var interfaces: [GuestInterface] = []
        var lines: [String] = []
        var gatewayRoutes: [String] = []
        let attachments = run.networkNamespace == nil ? [] : run.networkAttachments ?? []
        if !attachments.isEmpty {
            let netlink = try step("open a netlink socket") { () throws(NetlinkError) in try NetlinkSocket() }
            let routes = try step("list the pod's routes") { () throws(NetlinkError) in try netlink.routes() }
            for (number, attachment) in attachments.enumerated() {
                let tap = "tap\(number)"
                guard let link = try step("find \(attachment.interface)", { () throws(NetlinkError) in try netlink.link(named: attachment.interface) })
                else {
                    throw Stage1Error(
                        code: .ioFailure, msg: "network \(attachment.name): no interface \(attachment.interface) in the pod's namespace")
                }
                try createTap(tap)
                let tapLink = try step("set up \(tap) for \(attachment.interface)") { () throws(NetlinkError) -> Link? in
                    guard let created = try netlink.link(named: tap) else { return nil }
                    try netlink.setMTU(index: created.index, link.mtu)
                    try netlink.setUp(index: created.index)
                    return created
                }
                guard let tapLink else { throw Stage1Error(code: .ioFailure, msg: "the tap \(tap) vanished after its creation") }
                let addresses = try step("list the addresses of \(attachment.interface)") { () throws(NetlinkError) in
                    try netlink.addresses(index: link.index)
                }
                try TrafficControl.connect(link.index, tapLink.index, names: (attachment.interface, tap))
                let mac = link.hardwareAddressText
                debug("network \(attachment.name): \(attachment.interface) (\(mac), mtu \(link.mtu)) <-> \(tap) by tc mirred")
                interfaces.append(GuestInterface(name: attachment.interface, tap: tap, mac: mac, mtu: link.mtu))
                lines.append("link \(attachment.interface) \(mac) \(link.mtu)")
                // The guest makes its own IPv6 link-local address from the same MAC.
                for address in addresses where !(address.prefix.address.bytes.count == 16 && address.prefix.address.bytes[0] == 0xfe
                    && address.prefix.address.bytes[1] & 0xc0 == 0x80)
                {
                    lines.append("addr \(attachment.interface) \(address.prefix)")
                }
                // Directly attached routes first: a gateway must be reachable when its route is added.
                for route in routes where route.index == link.index {
                    let family = route.gateway?.isIPv4 ?? route.destination?.address.isIPv4 ?? true
                    let destination = route.destination?.description ?? (family ? "0.0.0.0/0" : "::/0")
                    if destination.hasPrefix("fe80:") { continue }
                    if let gateway = route.gateway {
                        gatewayRoutes.append("route \(attachment.interface) \(destination) \(gateway)")
                    } else {
                        lines.append("route \(attachment.interface) \(destination) -")
                    }
                }
            }
        }
        try Stage1Files.write(Data((lines + gatewayRoutes).map { $0 + "\n" }.joined().utf8), to: planDirectory + "/network")
        return interfaces
    }

    /// A persistent tap (it outlives our descriptor, so libvirt can open it by name: a tap without
    /// IFF_MULTI_QUEUE takes one descriptor at a time). IFF_VNET_HDR as libvirt asks for virtio.
    static func createTap(_ name: String) throws(Stage1Error) {
        let fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { throw systemError("open", "/dev/net/tun", msg: "cannot open /dev/net/tun for the pod's tap: \(errnoString(errno))") }
        defer { close(fd) }
        let tunSetInterface: UInt = 0x4004_54ca  // TUNSETIFF
        let tunSetPersist: UInt = 0x4004_54cb  // TUNSETPERSIST
        let flags: UInt16 = 0x0002 | 0x1000 | 0x4000  // IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
        var request = [UInt8](repeating: 0, count: 40)  // struct ifreq: name[16], then ifr_flags
        for (i, byte) in name.utf8.prefix(15).enumerated() { request[i] = byte }
        request[16] = UInt8(flags & 0xff)
        request[17] = UInt8(flags >> 8)
        guard request.withUnsafeMutableBytes({ ioctl(fd, tunSetInterface, $0.baseAddress!) }) == 0 else {
            throw systemError("ioctl(TUNSETIFF)", name, msg: "cannot create the tap \(name): \(errnoString(errno))")
        }
        guard ioctl(fd, tunSetPersist, UnsafeMutableRawPointer(bitPattern: 1)!) == 0 else {
            throw systemError("ioctl(TUNSETPERSIST)", name, msg: "cannot make the tap \(name) persistent: \(errnoString(errno))")
        }
    }

    /// The `<interface>` elements of the domain: a tap we made (managed='no': libvirt opens it and
    /// changes nothing on it), the CNI interface's MAC, virtio, no option ROM (direct kernel boot).
    static func domainXML(_ interfaces: [GuestInterface]) -> String {
        let e = DomainDescription.escape
        return interfaces.map { nic in
            """
                <interface type='ethernet'>
                  <mac address='\(e(nic.mac))'/>
                  <target dev='\(e(nic.tap))' managed='no'/>
                  <model type='virtio'/>
                  <rom enabled='no'/>
                </interface>

            """
        }.joined()
    }

    /// A Netlink step, its error as ours.
    static func step<T>(_ what: String, _ body: () throws(NetlinkError) -> T) throws(Stage1Error) -> T {
        do throws(NetlinkError) { return try body() } catch {
            throw Stage1Error(code: .ioFailure, msg: "cannot \(what) in the pod's network namespace: \(error)")
        }
    }
}

/// tc through rtnetlink (Netlink's request builders know no tcmsg, hence this small encoder and
/// exchange): what `tc qdisc add dev X ingress` and `tc filter add dev X parent ffff: protocol all
/// u32 match u8 0 0 action mirred egress redirect dev Y` send. No dependency on iproute2 and no
/// process to spawn from a threaded supervisor.
enum TrafficControl {
    static let newQdisc: UInt16 = 36  // RTM_NEWQDISC
    static let newFilter: UInt16 = 44  // RTM_NEWTFILTER
    static let createFlags: UInt16 = 0x1 | 0x4 | 0x200 | 0x400  // REQUEST | ACK | EXCL | CREATE
    static let ingressHandle: UInt32 = 0xFFFF_0000  // ffff:
    static let ingressParent: UInt32 = 0xFFFF_FFF1  // TC_H_INGRESS

    /// Both directions between `a` and `b` (interface indexes).
    static func connect(_ a: Int32, _ b: Int32, names: (String, String)) throws(Stage1Error) {
        let socket = try RawNetlinkSocket()
        for (index, name) in [(a, names.0), (b, names.1)] {
            try socket.execute(ingressQdisc(index: index), operation: "add an ingress qdisc to \(name)")
        }
        try socket.execute(redirect(from: a, to: b), operation: "redirect \(names.0) to \(names.1)")
        try socket.execute(redirect(from: b, to: a), operation: "redirect \(names.1) to \(names.0)")
    }

    static func ingressQdisc(index: Int32) -> [UInt8] {
        var message = RawNetlinkMessage(type: newQdisc, flags: createFlags)
        message.trafficControlHeader(index: index, handle: ingressHandle, parent: ingressParent, info: 0)
        message.attribute(1, string: "ingress")  // TCA_KIND
        return message.bytes
    }

    static func redirect(from source: Int32, to target: Int32) -> [UInt8] {
        var message = RawNetlinkMessage(type: newFilter, flags: createFlags)
        // tcm_info: priority 1 in the high half, the protocol (ETH_P_ALL, network order) in the low.
        let info = UInt32(1) << 16 | UInt32(UInt16(0x0003).bigEndian)
        message.trafficControlHeader(index: source, handle: 0, parent: ingressHandle, info: info)
        message.attribute(1, string: "u32")  // TCA_KIND
        message.nested(2) { options in  // TCA_OPTIONS
            // TCA_U32_SEL: struct tc_u32_sel {flags = TC_U32_TERMINAL, offshift, nkeys = 1, offmask,
            // off, offoff, hoff, hmask} + one tc_u32_key {mask 0, val 0, off 0, offmask 0}: matches all.
            options.attribute(5, [1, 0, 1] + [UInt8](repeating: 0, count: 13) + [UInt8](repeating: 0, count: 16))
            options.nested(7) { actions in  // TCA_U32_ACT
                actions.nested(1) { action in  // the first action
                    action.attribute(1, string: "mirred")  // TCA_ACT_KIND
                    action.nested(2) { mirred in  // TCA_ACT_OPTIONS
                        // TCA_MIRRED_PARMS: struct tc_mirred {index, capab, action = TC_ACT_STOLEN,
                        // refcnt, bindcnt, eaction = TCA_EGRESS_REDIR, ifindex}.
                        var parameters: [UInt8] = []
                        for value in [0, 0, 4, 0, 0, 1, UInt32(bitPattern: target)] as [UInt32] { parameters += netlinkBytes(value) }
                        mirred.attribute(2, parameters)
                    }
                }
            }
        }
        return message.bytes
    }
}

/// An integer's bytes in host (little-endian) order, as netlink carries them.
func netlinkBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

/// An rtnetlink message as bytes (host order): nlmsghdr, a family header, attributes. Nested
/// attributes carry no NLA_F_NESTED, as iproute2's tc sends them.
struct RawNetlinkMessage {
    var bytes: [UInt8] = []

    init(type: UInt16, flags: UInt16) {
        append32(0)  // nlmsg_len, patched when sent
        bytes += netlinkBytes(type) + netlinkBytes(flags)
        append32(0)  // nlmsg_seq, patched when sent
        append32(0)  // nlmsg_pid
    }

    /// struct tcmsg: family, pads, ifindex, handle, parent, info.
    mutating func trafficControlHeader(index: Int32, handle: UInt32, parent: UInt32, info: UInt32) {
        bytes += [0, 0, 0, 0]
        append32(UInt32(bitPattern: index))
        append32(handle)
        append32(parent)
        append32(info)
    }

    mutating func attribute(_ type: UInt16, _ payload: [UInt8]) {
        bytes += netlinkBytes(UInt16(4 + payload.count)) + netlinkBytes(type) + payload
        pad()
    }

    mutating func attribute(_ type: UInt16, string: String) { attribute(type, Array(string.utf8) + [0]) }

    mutating func nested(_ type: UInt16, _ build: (inout RawNetlinkMessage) -> Void) {
        let start = bytes.count
        bytes += [0, 0] + netlinkBytes(type)
        build(&self)
        let length = netlinkBytes(UInt16(bytes.count - start))
        bytes[start] = length[0]
        bytes[start + 1] = length[1]
        pad()
    }

    private mutating func append32(_ value: UInt32) { bytes += netlinkBytes(value) }
    private mutating func pad() { while bytes.count % 4 != 0 { bytes.append(0) } }
}

/// A NETLINK_ROUTE socket in the calling thread's namespace, for requests answered by an ACK.
final class RawNetlinkSocket {
    private let fd: Int32
    private var sequence: UInt32 = 1

    init() throws(Stage1Error) {
        fd = socket(AF_NETLINK, Int32(SOCK_RAW.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw systemError("socket", "AF_NETLINK") }
    }

    deinit { close(fd) }

    func execute(_ message: [UInt8], operation: String) throws(Stage1Error) {
        sequence += 1
        var out = message
        for (offset, value) in [(0, UInt32(out.count)), (8, sequence)] {
            for (i, byte) in netlinkBytes(value).enumerated() { out[offset + i] = byte }
        }
        guard out.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == out.count else {
            throw systemError("send", "netlink", msg: "cannot \(operation): \(errnoString(errno))")
        }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let received = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if received < 0 {
                if errno == EINTR { continue }
                throw systemError("recv", "netlink", msg: "cannot \(operation): \(errnoString(errno))")
            }
            var offset = 0
            while offset + 20 <= received {
                func load32(_ at: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(buffer[at + $1]) << (8 * $1) } }
                let length = Int(load32(offset))
                let type = UInt16(buffer[offset + 4]) | UInt16(buffer[offset + 5]) << 8
                if length < 16 { break }
                if type == 2 && load32(offset + 8) == sequence {  // NLMSG_ERROR: 0 is the ACK
                    let code = -Int32(bitPattern: load32(offset + 16))
                    guard code == 0 else {
                        throw Stage1Error(
                            code: .ioFailure, msg: "cannot \(operation) in the pod's network namespace: \(errnoString(code))",
                            details: "rtnetlink answered errno \(code)")
                    }
                    return
                }
                offset += (length + 3) & ~3
            }
        }
    }
}

/// The apps' `/etc/hosts` and `/etc/resolv.conf`, as stage0 asks (the same rules as
/// stage1-nspawn's): written into each app's rootfs on the host before the boot; the guest sees
/// them through 9p. `host` modes copy the host's file (a VM cannot bind-mount it).
enum GuestEtcFiles {
    static func write(_ run: RunPayload, rootfses: [String], hostname: String) throws(Stage1Error) {
        for rootfs in rootfses {
            let etc = try RootPath.resolve(root: rootfs, path: "/etc", create: .directory)
            let hosts: String? = try? RootPath.resolve(root: rootfs, path: "/etc/hosts")
            let localhost = "127.0.0.1\tlocalhost \(hostname)\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            switch run.hostsMode {
            case .host:
                try Stage1Files.write(readFile("/etc/hosts") ?? Data(localhost.utf8), to: hosts ?? etc + "/hosts")
            case .stage0:
                var merged: [(ip: String, names: [String])] = []
                for entry in run.hostsEntries {
                    if let i = merged.firstIndex(where: { $0.ip == entry.ip }) { merged[i].names += entry.hostnames } else {
                        merged.append((entry.ip, entry.hostnames))
                    }
                }
                let text = localhost + merged.map { $0.ip + "\t" + $0.names.joined(separator: " ") + "\n" }.joined()
                try Stage1Files.write(Data(text.utf8), to: hosts ?? etc + "/hosts")
            default:
                // The image's own file, else rkt's fallback: localhost and the pod's hostname.
                var st = stat()
                if hosts == nil || stat(hosts!, &st) != 0 || st.st_size == 0 {
                    try Stage1Files.write(Data(localhost.utf8), to: hosts ?? etc + "/hosts")
                }
            }
            switch run.dns.mode {
            case .host:
                let target = try RootPath.resolve(root: rootfs, path: "/etc/resolv.conf", create: .file)
                try Stage1Files.write(readFile("/etc/resolv.conf") ?? Data(), to: target)
            case .stage0:
                let target = try RootPath.resolve(root: rootfs, path: "/etc/resolv.conf", create: .file)
                try Stage1Files.write(Data(run.dns.resolvConf.utf8), to: target)
            default:
                break
            }
        }
    }
}
