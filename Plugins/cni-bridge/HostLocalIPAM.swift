#if canImport(Glibc)
import Glibc
#endif
import Netlink

/// Built-in IPAM, compatible with the reference `host-local` plugin: the same config keys and
/// the same files under `dataDir/<network>/` — one file per reserved address, named by the
/// address and holding "<containerID>\r\n<ifname>", `last_reserved_ip.<range set>`, and a
/// `lock` file flocked around every change — so either plugin can release the other's leases.
struct HostLocalIPAM {
    struct AddressRange: Equatable {
        var subnet: IPPrefix
        var start: IPAddress
        var end: IPAddress
        var gateway: IPAddress

        func contains(_ address: IPAddress) -> Bool {
            subnet.contains(address) && !(address < start) && !(end < address)
        }
    }

    static let defaultDataDir = "/var/lib/cni/networks"
    /// host-local's separator between the container ID and the interface name.
    static let lineBreak = "\r\n"

    var rangeSets: [[AddressRange]]
    var routes: [CNIResult.RouteConfig]
    var dataDir: String
    var network: String

    var directory: String { dataDir + "/" + network }

    init(ipam: JSONValue, network: String) throws(PluginError) {
        self.network = network
        dataDir = ipam["dataDir"]?.string ?? Self.defaultDataDir
        routes = try CNIResult.parseRoutes(ipam["routes"])
        var sets: [[AddressRange]] = []
        // The legacy single-range keys become the first range set, as in host-local.
        if ipam["subnet"]?.string != nil {
            sets.append([try Self.parseRange(ipam)])
        }
        for set in ipam["ranges"]?.array ?? [] {
            guard let entries = set.array, !entries.isEmpty else { throw PluginError(PluginError.invalidConfig, "invalid ipam: empty range set") }
            var ranges: [AddressRange] = []
            for entry in entries { ranges.append(try Self.parseRange(entry)) }
            guard ranges.allSatisfy({ $0.subnet.address.isIPv4 == ranges[0].subnet.address.isIPv4 }) else {
                throw PluginError(PluginError.invalidConfig, "invalid ipam: mixed address families in one range set")
            }
            sets.append(ranges)
        }
        guard !sets.isEmpty else { throw PluginError(PluginError.invalidConfig, "invalid ipam: no IP ranges specified") }
        rangeSets = sets
    }

    static func parseRange(_ json: JSONValue) throws(PluginError) -> AddressRange {
        guard let text = json["subnet"]?.string, let parsed = IPPrefix(text) else {
            throw PluginError(PluginError.invalidConfig, "invalid ipam: subnet \(json["subnet"]?.string ?? "missing")")
        }
        let subnet = parsed.canonical
        guard subnet.length <= subnet.address.bitCount - 2 else {
            throw PluginError(PluginError.invalidConfig, "invalid ipam: network \(subnet) too small to allocate from")
        }
        func address(_ key: String, default value: IPAddress) throws(PluginError) -> IPAddress {
            guard let text = json[key]?.string else { return value }
            guard let address = IPAddress(text), subnet.contains(address) else {
                throw PluginError(PluginError.invalidConfig, "invalid ipam: \(key) \(text) not in network \(subnet)")
            }
            return address
        }
        // Defaults: from network+1 to the last address (IPv4: before the broadcast address).
        let last = subnet.address.isIPv4 ? subnet.lastAddress.previous() : subnet.lastAddress
        let start = try address("rangeStart", default: subnet.network.next())
        let end = try address("rangeEnd", default: last)
        guard !(end < start) else { throw PluginError(PluginError.invalidConfig, "invalid ipam: rangeEnd before rangeStart in \(subnet)") }
        return AddressRange(subnet: subnet, start: start, end: end, gateway: try address("gateway", default: subnet.network.next()))
    }

    // MARK: Reservations

    /// Reserves one address per range set for (containerID, ifname) and returns them with their
    /// gateways and the configured routes. All-or-nothing. `requested` addresses (CNI_ARGS
    /// `IP=`, `args.cni.ips`, runtimeConfig `ips`) are claimed in the range set containing them.
    func allocate(containerID: String, ifname: String, requested: [IPAddress] = []) throws(PluginError) -> CNIResult {
        try Files.createDirectories(directory)
        let lock = try Files.lock(directory + "/lock")
        defer { close(lock) }
        let existing = try reservations()
        var result = CNIResult()
        var claimed: [IPAddress] = []
        var unplaced = requested
        do throws(PluginError) {
            for (setIndex, set) in rangeSets.enumerated() {
                if let wantedIndex = unplaced.firstIndex(where: { wanted in set.contains { $0.contains(wanted) } }) {
                    let wanted = unplaced.remove(at: wantedIndex)
                    let range = set.first { $0.contains(wanted) }!
                    guard wanted != range.gateway,
                        try Files.createExclusive(directory + "/" + wanted.description, contents: containerID.trimmingWhitespace + Self.lineBreak + ifname)
                    else {
                        throw PluginError(PluginError.internalFailure, "requested IP address \(wanted) is not available in range set \(set.map { "\($0.start)-\($0.end)" }.joined(separator: ","))")
                    }
                    claimed.append(wanted)
                    result.ips.append(CNIResult.IPConfig(address: IPPrefix(address: wanted, length: range.subnet.length)!, gateway: range.gateway, interface: nil))
                    continue
                }
                if let duplicate = existing.first(where: { reservation in reservation.containerID == containerID && reservation.ifname == ifname && set.contains { $0.contains(reservation.address) } }) {
                    throw PluginError(PluginError.internalFailure, "\(duplicate.address) has been allocated to \(containerID), duplicate allocation is not allowed")
                }
                guard let (address, range) = try reserveNext(in: set, setIndex: setIndex, containerID: containerID, ifname: ifname) else {
                    throw PluginError(PluginError.internalFailure, "no IP addresses available in range set: \(set.map { "\($0.start)-\($0.end)" }.joined(separator: ","))")
                }
                claimed.append(address)
                result.ips.append(CNIResult.IPConfig(address: IPPrefix(address: address, length: range.subnet.length)!, gateway: range.gateway, interface: nil))
            }
            if !unplaced.isEmpty {
                throw PluginError(PluginError.internalFailure, "requested IPs \(unplaced.map(\.description)) were not allocated")
            }
        } catch {
            for address in claimed { try? Files.remove(directory + "/" + address.description) }
            throw error
        }
        result.routes = routes
        return result
    }

    /// host-local's iteration: start after `last_reserved_ip.N` (or at the first range's start),
    /// walk the set's ranges in order, wrap around, skip gateways, claim the first free address.
    private func reserveNext(in set: [AddressRange], setIndex: Int, containerID: String, ifname: String) throws(PluginError) -> (IPAddress, AddressRange)? {
        let lastPath = directory + "/last_reserved_ip.\(setIndex)"
        let last = try Files.read(lastPath).flatMap { IPAddress(String(decoding: $0, as: UTF8.self).trimmingWhitespace) }
        var rangeIndex = 0
        var current: IPAddress? = nil
        if let last, let index = set.firstIndex(where: { $0.contains(last) }) {
            rangeIndex = index
            current = last
        }
        var first: IPAddress? = nil
        while true {
            var range = set[rangeIndex]
            if let position = current {
                if position == range.end {
                    rangeIndex = (rangeIndex + 1) % set.count
                    range = set[rangeIndex]
                    current = range.start
                } else {
                    current = position.next()
                }
            } else {
                current = range.start
            }
            guard let candidate = current else { return nil }
            if let first {
                if candidate == first { return nil }  // wrapped around: the set is full
            } else {
                first = candidate
            }
            if candidate == range.gateway { continue }
            if try Files.createExclusive(directory + "/" + candidate.description, contents: containerID.trimmingWhitespace + Self.lineBreak + ifname) {
                try Files.write(lastPath, contents: candidate.description)
                return (candidate, range)
            }
        }
    }

    struct Reservation: Equatable {
        var address: IPAddress
        var containerID: String
        var ifname: String
    }

    /// Every reservation on disk (call with the lock held).
    func reservations() throws(PluginError) -> [Reservation] {
        var found: [Reservation] = []
        for name in try Files.list(directory) {
            guard let address = IPAddress(name), let bytes = try Files.read(directory + "/" + name) else { continue }
            let text = String(decoding: bytes, as: UTF8.self).trimmingWhitespace
            // "<id>\r\n<ifname>"; files written by old host-local versions hold only the ID.
            let parts = text.split(omittingEmptySubsequences: true, whereSeparator: { $0.isNewline })
            found.append(Reservation(address: address, containerID: parts.first.map(String.init) ?? "", ifname: parts.count > 1 ? String(parts[1]) : ""))
        }
        return found
    }

    /// Releases the addresses of (containerID, ifname); nothing reserved is not an error.
    func release(containerID: String, ifname: String) throws(PluginError) {
        guard Files.exists(directory) else { return }
        let lock = try Files.lock(directory + "/lock")
        defer { close(lock) }
        for reservation in try reservations() where reservation.containerID == containerID && (reservation.ifname == ifname || reservation.ifname.isEmpty) {
            try Files.remove(directory + "/" + reservation.address.description)
        }
    }

    /// GC: releases every reservation whose attachment is not in `valid`.
    func collectGarbage(valid: [(containerID: String, ifname: String)]) throws(PluginError) {
        guard Files.exists(directory) else { return }
        let lock = try Files.lock(directory + "/lock")
        defer { close(lock) }
        for reservation in try reservations() where !valid.contains(where: { $0.containerID == reservation.containerID && $0.ifname == reservation.ifname }) {
            try Files.remove(directory + "/" + reservation.address.description)
        }
    }

    /// The addresses reserved for (containerID, ifname), for CHECK.
    func reserved(containerID: String, ifname: String) throws(PluginError) -> [IPAddress] {
        guard Files.exists(directory) else { return [] }
        let lock = try Files.lock(directory + "/lock")
        defer { close(lock) }
        return try reservations().filter { $0.containerID == containerID && $0.ifname == ifname }.map(\.address)
    }
}

extension String {
    var trimmingWhitespace: String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}
