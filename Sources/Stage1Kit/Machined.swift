import Foundation
import Glibc

/// Registration of a pod with systemd-machined, as rkt's stage1 did through `systemd-nspawn
/// --register=true`: machine `rkt-<uuid>`, class `container`, service `rkt`, the pod's PID 1 as
/// leader, the stage1 rootfs as root directory, the UUID (without dashes) as machine ID. Only on a
/// host booted with systemd; a failure is a warning, never an error (rkt ran without machined).
///
/// Through `busctl` (systemd's own D-Bus client, in the `systemd` package wherever machined can
/// exist) rather than a D-Bus client of ours: registration is one call per pod, only on systemd
/// hosts, and a static stage1 binary would otherwise carry libdbus or an SASL/marshalling
/// implementation for it.
public struct MachineRegistration: Equatable, Sendable {
    public var name: String
    /// The 16 bytes of the pod UUID.
    public var id: [UInt8]
    public var leader: pid_t
    public var rootDirectory: String
    public static let service = "rkt"
    public static let machineClass = "container"

    /// nil when `uuid` is not a UUID (8-4-4-4-12 hex digits).
    public init?(uuid: String, leader: pid_t, rootDirectory: String) {
        let groups = uuid.split(separator: "-", omittingEmptySubsequences: false)
        guard groups.map(\.count) == [8, 4, 4, 4, 12] else { return nil }
        let hex = Array(groups.joined().utf8)
        var bytes: [UInt8] = []
        for i in stride(from: 0, to: hex.count, by: 2) {
            guard let high = Self.nibble(hex[i]), let low = Self.nibble(hex[i + 1]) else { return nil }
            bytes.append(high << 4 | low)
        }
        name = "rkt-" + uuid.lowercased()
        id = bytes
        self.leader = leader
        self.rootDirectory = rootDirectory
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    static let busArguments = ["--system", "--quiet", "--timeout=5", "call", "org.freedesktop.machine1", "/org/freedesktop/machine1", "org.freedesktop.machine1.Manager"]

    /// `busctl` arguments for org.freedesktop.machine1.Manager.RegisterMachine(s name, ay id,
    /// s service, s class, u leader, s root_directory).
    public var registerArguments: [String] {
        Self.busArguments + ["RegisterMachine", "sayssus", name, String(id.count)] + id.map { String($0) }
            + [Self.service, Self.machineClass, String(leader), rootDirectory]
    }

    // UnregisterMachine is called by the pod's waiter once the pod has ended, in C
    // (Plugins/stage1-nspawn/PodInit/machined.c), with the same bus arguments.
}

public enum Machined {
    /// sd_booted(3): the host runs systemd as PID 1 when `/run/systemd/system/` is a directory
    /// (systemd checks the path with a trailing slash, so a symlink to a directory counts).
    /// `root` is prepended to the path (tests pass a fake root).
    public static func isSystemdBooted(root: String = "") -> Bool {
        var st = stat()
        return stat(root + "/run/systemd/system/", &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
    }

    /// Registers the pod when the host runs systemd; returns true when registered. Anything that
    /// goes wrong is printed as a warning.
    public static func register(_ registration: MachineRegistration) -> Bool {
        guard isSystemdBooted() else {
            debug("no systemd as PID 1: the pod is not registered with systemd-machined")
            return false
        }
        let status = runBusctl(registration.registerArguments)
        if status != 0 {
            writeStderr("\(Stage1Kit.pluginName): warning: cannot register the pod with systemd-machined as \(registration.name): "
                + (status < 0 ? "busctl not found" : "busctl exited with status \(status)") + "\n")
            return false
        }
        debug("registered with systemd-machined as \(registration.name)")
        return true
    }

    /// Runs `busctl ARGS` (found through PATH) with stdin/stdout/stderr on /dev/null and waits:
    /// its exit status, 128 + signal, or -1 when it cannot be started.
    static func runBusctl(_ arguments: [String]) -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in [0, 1, 2] { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        let argv = (["busctl"] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        guard posix_spawnp(&pid, "busctl", &actions, nil, argv, environ) == 0 else { return -1 }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }
}
