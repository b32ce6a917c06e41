import Foundation
import Glibc
import Stage1Kit
import Stage1Protocol
import Testing

/// The pure parts of the systemd integration of our stage1s: machined registration arguments, the
/// sd_booted decision, the sd_notify annotation and environment (Documentation/stage1-nspawn.md).
struct MachinedTests {
    static let uuid = "6f1a2c3e-8b7d-4e1f-9a2b-3c4d5e6f7a8b"

    @Test func registrationFollowsRkt() throws {
        let machine = try #require(MachineRegistration(uuid: Self.uuid, leader: 4242, rootDirectory: "/var/lib/rkt/pods/run/\(Self.uuid)/stage1/rootfs"))
        #expect(machine.name == "rkt-6f1a2c3e-8b7d-4e1f-9a2b-3c4d5e6f7a8b")
        #expect(machine.id == [0x6f, 0x1a, 0x2c, 0x3e, 0x8b, 0x7d, 0x4e, 0x1f, 0x9a, 0x2b, 0x3c, 0x4d, 0x5e, 0x6f, 0x7a, 0x8b])
        #expect(machine.registerArguments == [
            "--system", "--quiet", "--timeout=5", "call", "org.freedesktop.machine1", "/org/freedesktop/machine1",
            "org.freedesktop.machine1.Manager", "RegisterMachine", "sayssus", "rkt-6f1a2c3e-8b7d-4e1f-9a2b-3c4d5e6f7a8b",
            "16", "111", "26", "44", "62", "139", "125", "78", "31", "154", "43", "60", "77", "94", "111", "122", "139",
            "rkt", "container", "4242", "/var/lib/rkt/pods/run/6f1a2c3e-8b7d-4e1f-9a2b-3c4d5e6f7a8b/stage1/rootfs",
        ])
    }

    @Test func upperCaseUUIDsGiveTheSameMachine() throws {
        let upper = try #require(MachineRegistration(uuid: Self.uuid.uppercased(), leader: 1, rootDirectory: "/r"))
        let lower = try #require(MachineRegistration(uuid: Self.uuid, leader: 1, rootDirectory: "/r"))
        #expect(upper == lower)
    }

    @Test(arguments: ["", "6f1a2c3e8b7d4e1f9a2b3c4d5e6f7a8b", "6f1a2c3e-8b7d-4e1f-9a2b-3c4d5e6f7a8", "6f1a2c3e-8b7d-4e1f-9a2b-3c4d5e6f7a8g", "6f1a2c3e-8b7d-4e1f-9a2b-3c4d-5e6f7a8b"])
    func notAUUIDIsRefused(_ text: String) {
        #expect(MachineRegistration(uuid: text, leader: 1, rootDirectory: "/") == nil)
    }

    /// sd_booted: /run/systemd/system/ must be a directory (a symlink to one counts, as for systemd's
    /// check of the path with a trailing slash; a file or a dangling link does not).
    @Test func systemdBootedIsTheRunDirectory() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("machined-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: root) }
        let marker = root + "/run/systemd/system"
        try FileManager.default.createDirectory(atPath: root + "/run/systemd", withIntermediateDirectories: true)
        #expect(!Machined.isSystemdBooted(root: root), "missing")
        try Data().write(to: URL(fileURLWithPath: marker))
        #expect(!Machined.isSystemdBooted(root: root), "a file does not count")
        try FileManager.default.removeItem(atPath: marker)
        try FileManager.default.createSymbolicLink(atPath: marker, withDestinationPath: root + "/nowhere")
        #expect(!Machined.isSystemdBooted(root: root), "a dangling symlink does not count")
        try FileManager.default.removeItem(atPath: marker)
        try FileManager.default.createSymbolicLink(atPath: marker, withDestinationPath: root)
        #expect(Machined.isSystemdBooted(root: root), "a symlink to a directory counts")
        try FileManager.default.removeItem(atPath: marker)
        try FileManager.default.createDirectory(atPath: marker, withIntermediateDirectories: true)
        #expect(Machined.isSystemdBooted(root: root))
    }
}

struct SystemdNotifyTests {
    static func manifest(_ annotations: String) -> Data {
        Data(#"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app","annotations":\#(annotations)}"#.utf8)
    }

    @Test(arguments: ["true", "True", "TRUE", "t", "T", "1"])
    func trueValuesAsRktParsedThem(_ value: String) {
        #expect(SystemdNotify.supportsNotify(imageManifest: Self.manifest(#"[{"name":"appc.io/executor/supports-systemd-notify","value":"\#(value)"}]"#)))
    }

    @Test(arguments: [
        #"[{"name":"appc.io/executor/supports-systemd-notify","value":"false"}]"#,
        #"[{"name":"appc.io/executor/supports-systemd-notify","value":"yes"}]"#,
        #"[{"name":"appc.io/executor/supports-systemd-notify","value":""}]"#,
        #"[{"name":"appc.io/executor/supports-systemd-notify","value":true}]"#,
        #"[{"name":"example.com/supports-systemd-notify","value":"true"}]"#,
        #"[]"#,
    ])
    func otherValuesAreNotSupport(_ annotations: String) {
        #expect(!SystemdNotify.supportsNotify(imageManifest: Self.manifest(annotations)))
    }

    @Test func noAnnotationsOrNoJSON() {
        #expect(!SystemdNotify.supportsNotify(imageManifest: Data(#"{"acKind":"ImageManifest"}"#.utf8)))
        #expect(!SystemdNotify.supportsNotify(imageManifest: Data("not json".utf8)))
    }

    @Test func environmentGetsTheAppsOwnSocketOnly() {
        let given = [NameValue(name: "PATH", value: "/bin"), NameValue(name: "NOTIFY_SOCKET", value: "/run/systemd/notify-of-the-host"), NameValue(name: "A", value: "b")]
        #expect(SystemdNotify.environment(given, supportsNotify: false) == [NameValue(name: "PATH", value: "/bin"), NameValue(name: "A", value: "b")])
        #expect(SystemdNotify.environment(given, supportsNotify: true) == [
            NameValue(name: "PATH", value: "/bin"), NameValue(name: "A", value: "b"), NameValue(name: "NOTIFY_SOCKET", value: "/run/systemd/notify"),
        ])
    }
}

/// `run.notifySocket` on the wire: optional, omitted when absent (older plugins never see it).
struct NotifySocketMemberTests {
    static let app = RunApp(name: "a", stage1Rootfs: "/p/stage1/rootfs", imageID: "sha512-00")

    @Test func roundTripsAndIsOmittedWhenAbsent() throws {
        let with = RunPayload(apps: [Self.app], notifySocket: "/run/systemd/notify")
        let encoded = String(decoding: try JSONEncoder().encode(with), as: UTF8.self)
        #expect(encoded.contains(#""notifySocket":"\/run\/systemd\/notify""#) || encoded.contains(#""notifySocket":"/run/systemd/notify""#), "\(encoded)")
        #expect(try JSONDecoder().decode(RunPayload.self, from: Data(encoded.utf8)) == with)
        let without = String(decoding: try JSONEncoder().encode(RunPayload(apps: [Self.app])), as: UTF8.self)
        #expect(!without.contains("notifySocket"))
        #expect(try JSONDecoder().decode(RunPayload.self, from: Data(without.utf8)).notifySocket == nil)
    }
}
