#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Netlink
import RktOS

/// Runs the built `cni-bridge` (and Debian's plugins) as a CNI runtime would, and makes the
/// namespaces, bridges and data directories the tests need, each removed by `cleanUp()`.
enum Harness {
    static let isRoot = geteuid() == 0
    static let debianPlugins = "/usr/lib/cni"

    /// The plugin under test: $CNI_BRIDGE_BINARY, else the one built next to this test bundle
    /// (same scratch path, same configuration), else the newest of .build/{debug,release}, and
    /// only then any .build-*/ scratch directory.
    static let pluginPath: String? = {
        if let path = ProcessInfo.processInfo.environment["CNI_BRIDGE_BINARY"], !path.isEmpty { return path }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var directory = URL(fileURLWithPath: exe).deletingLastPathComponent()
            // Inside a bundle directory (rktPackageTests.xctest/...) step out of it.
            while directory.path.contains(".xctest") { directory.deleteLastPathComponent() }
            let sibling = directory.appendingPathComponent("cni-bridge").path
            if FileManager.default.isExecutableFile(atPath: sibling) { return sibling }
        }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path
        func newest(_ paths: [String]) -> String? {
            paths.filter { FileManager.default.isExecutableFile(atPath: $0) }
                .max { modified($0) < modified($1) }
        }
        if let found = newest(["\(root)/.build/debug/cni-bridge", "\(root)/.build/release/cni-bridge"]) { return found }
        let scratch = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).filter { $0.hasPrefix(".build-") }
        return newest(scratch.flatMap { ["\(root)/\($0)/debug/cni-bridge", "\(root)/\($0)/release/cni-bridge"] })
    }()

    static func modified(_ path: String) -> Date {
        ((try? FileManager.default.attributesOfItem(atPath: path))?[.modificationDate] as? Date) ?? .distantPast
    }

    /// Why a root test cannot run here, or nil.
    static var skipReason: String? {
        if !isRoot { return "needs root" }
        if pluginPath == nil { return "no built cni-bridge found (set CNI_BRIDGE_BINARY)" }
        return nil
    }

    static func randomSuffix() -> String { String(UInt32.random(in: 0..<UInt32.max), radix: 16) }

    struct Output {
        var status: Int32
        var stdout: String
        var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: Data(stdout.utf8))) as? [String: Any]) ?? [:] }
    }

    /// One plugin call: CNI_* in the environment, `config` on stdin (through a file and sh's `<`,
    /// since RktOS.Spawn gives children /dev/null as stdin).
    static func call(
        _ plugin: String, _ command: String, config: [String: Any], containerID: String = "", netns: String = "", ifname: String = "eth0",
        cniPath: String = debianPlugins, args: String = ""
    ) throws -> Output {
        let data = try JSONSerialization.data(withJSONObject: config)
        let configFile = NSTemporaryDirectory() + "cni-config-\(randomSuffix()).json"
        try data.write(to: URL(fileURLWithPath: configFile))
        defer { try? FileManager.default.removeItem(atPath: configFile) }
        var environment = ["CNI_COMMAND": command, "CNI_PATH": cniPath, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        if !containerID.isEmpty { environment["CNI_CONTAINERID"] = containerID }
        if !netns.isEmpty { environment["CNI_NETNS"] = netns }
        if !ifname.isEmpty { environment["CNI_IFNAME"] = ifname }
        if !args.isEmpty { environment["CNI_ARGS"] = args }
        let result = try Spawn.run("/bin/sh", arguments: ["-c", "exec \"$0\" < \"$1\"", plugin, configFile], environment: environment, directory: nil)
        return Output(status: result.status, stdout: String(decoding: result.stdout, as: UTF8.self))
    }

    static func bridge(
        _ command: String, config: [String: Any], containerID: String = "", netns: String = "", ifname: String = "eth0", cniPath: String = debianPlugins, args: String = ""
    ) throws -> Output {
        try call(pluginPath!, command, config: config, containerID: containerID, netns: netns, ifname: ifname, cniPath: cniPath, args: args)
    }

    /// Runs a tool (test setup only: the plugin itself never shells out to `ip`).
    @discardableResult
    static func run(_ executable: String, _ arguments: [String]) throws -> Spawn.Result {
        try Spawn.run(executable, arguments: arguments, environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], directory: nil)
    }

    /// `ping -c1 -W1` from inside a namespace, a few attempts (the first may wait on ARP/ND).
    static func ping(from namespace: String, _ address: String) throws -> Bool {
        let family = address.contains(":") ? ["-6"] : []
        for _ in 0..<3 {
            if try run("/usr/sbin/ip", ["netns", "exec", namespace, "/bin/busybox", "ping"] + family + ["-c1", "-W1", address]).status == 0 { return true }
        }
        return false
    }

    static func natRules(ipv6: Bool = false) throws -> String {
        String(decoding: try run(ipv6 ? "/usr/sbin/ip6tables" : "/usr/sbin/iptables", ["-w", "-t", "nat", "-S"]).stdout, as: UTF8.self)
    }
}

/// Everything one test creates, torn down in reverse order by `cleanUp()` (call it in a defer).
final class Scratch {
    let bridge = "rktt" + Harness.randomSuffix()
    let dataDir = NSTemporaryDirectory() + "cni-bridge-test-" + Harness.randomSuffix()
    private(set) var namespaces: [String] = []
    private var cleanups: [() -> Void] = []

    /// A named network namespace (`ip netns add`), its path under /var/run/netns.
    func namespace() throws -> String {
        let name = "rkttns" + Harness.randomSuffix()
        let result = try Harness.run("/usr/sbin/ip", ["netns", "add", name])
        guard result.status == 0 else { throw SystemError("ip netns add", path: name) }
        namespaces.append(name)
        cleanups.append { _ = try? Harness.run("/usr/sbin/ip", ["netns", "del", name]) }
        return "/var/run/netns/" + name
    }

    func onCleanUp(_ action: @escaping () -> Void) { cleanups.append(action) }

    func cleanUp() {
        for action in cleanups.reversed() { action() }
        if let nl = try? NetlinkSocket(), let link = try? nl.link(named: bridge) { try? nl.deleteLink(index: link.index) }
        try? FileManager.default.removeItem(atPath: dataDir)
    }

    /// A bridge network config in `version`, built-in host-local IPAM on 10.213.`octet`.0/24.
    func config(version: String = "1.0.0", octet: Int, name: String? = nil, extra: [String: Any] = [:], ipam: [String: Any]? = nil) -> [String: Any] {
        var config: [String: Any] = [
            "cniVersion": version, "name": name ?? "net-\(bridge)", "type": "cni-bridge", "bridge": bridge, "isGateway": true,
            "ipam": ipam ?? ["type": "host-local", "subnet": "10.213.\(octet).0/24", "dataDir": dataDir],
        ]
        for (key, value) in extra { config[key] = value }
        return config
    }
}
