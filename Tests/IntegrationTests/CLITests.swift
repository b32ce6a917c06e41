import Foundation
import Testing

/// Global behaviour of the CLI: exit codes, one-line errors, version and config.
@Suite struct CLITests {
    @Test func exitCodes() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let none = try rkt.run([], globalFlags: false)
        #expect(none.status == 2, "no command exits 2, as rkt")
        let unknownCommand = try rkt.run(["frobnicate"])
        #expect(unknownCommand.status == 254)
        let unknownFlag = try rkt.run(["image", "list", "--bogus"])
        #expect(unknownFlag.status == 254)
        #expect(unknownFlag.stderr.split(separator: "\n").count == 1, "one line: \(unknownFlag.stderr)")
        let badInsecure = try rkt.run(["--insecure-options=nonsense", "image", "list"])
        #expect(badInsecure.status == 254)
        let missingFile = try rkt.run(["fetch", "--insecure-options=image", rkt.root + "/nope.aci"])
        #expect(missingFile.status == 254)
        #expect(missingFile.stderr.contains("nope.aci"))
        #expect(missingFile.stderr.split(separator: "\n").count == 1, "one line: \(missingFile.stderr)")
        let noImages = try rkt.run(["fetch"])
        #expect(noImages.status == 254)
        let help = try rkt.run(["image", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("cat-manifest"))
    }

    @Test func globalFlagsGoBeforeOrAfterTheCommand() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let image = RktRunner.image("busybox.aci")
        let before = try rkt.run(["--dir=\(rkt.dataDir)", "--insecure-options=image", "fetch", image], globalFlags: false)
        #expect(before.status == 0, "\(before.stderr)")
        let after = try rkt.run(["image", "list", "--no-legend", "--dir", rkt.dataDir], globalFlags: false)
        #expect(after.lines.count == 1)
    }

    @Test func version() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let out = try rkt.ok(["version"]).stdout
        #expect(out.contains("rkt Version: "))
        #expect(out.contains("appc Version: 0.8.11"))
    }

    @Test func configMergesSystemLocalAndUserDirectories() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let fm = FileManager.default
        func write(_ dir: String, _ kind: String, _ name: String, _ json: String) throws {
            try fm.createDirectory(atPath: dir + "/" + kind, withIntermediateDirectories: true)
            try json.write(toFile: dir + "/" + kind + "/" + name, atomically: true, encoding: .utf8)
        }
        let user = rkt.root + "/user"
        try write(rkt.systemConfig, "stage1.d", "a.json", #"{"rktKind":"stage1","rktVersion":"v1","name":"example.com/stage1","version":"1.0","location":"/usr/lib/rkt/s1.aci"}"#)
        try write(rkt.localConfig, "stage1.d", "b.json", #"{"rktKind":"stage1","rktVersion":"v1","location":"/etc/rkt/s1.aci"}"#)
        try write(rkt.systemConfig, "auth.d", "a.json", #"{"rktKind":"auth","rktVersion":"v1","domains":["example.com"],"type":"basic","credentials":{"user":"sys","password":"p"}}"#)
        try write(user, "auth.d", "a.json", #"{"rktKind":"auth","rktVersion":"v1","domains":["example.com"],"type":"oauth","credentials":{"token":"t"}}"#)
        try write(rkt.localConfig, "paths.d", "p.json", #"{"rktKind":"paths","rktVersion":"v1","data":"\#(rkt.root)/from-config"}"#)
        // A directory named like a config file is ignored.
        try fm.createDirectory(atPath: rkt.localConfig + "/auth.d/dir.json", withIntermediateDirectories: true)

        let out = try rkt.run(["--local-config=\(rkt.localConfig)", "--system-config=\(rkt.systemConfig)", "--user-config=\(user)", "config"], globalFlags: false)
        #expect(out.status == 0, "\(out.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(out.stdout.utf8)) as? [String: Any])
        let entries = try #require(object["stage0"] as? [[String: Any]])
        let stage1 = try #require(entries.first { $0["rktKind"] as? String == "stage1" })
        #expect(stage1["name"] as? String == "example.com/stage1")
        #expect(stage1["location"] as? String == "/etc/rkt/s1.aci", "local overrides system per field")
        let auth = try #require(entries.first { $0["rktKind"] as? String == "auth" })
        #expect(auth["type"] as? String == "oauth", "user overrides system per domain")
        let paths = try #require(entries.first { $0["rktKind"] as? String == "paths" })
        #expect(paths["data"] as? String == rkt.root + "/from-config", "paths.d data sets the data dir")

        try write(rkt.localConfig, "paths.d", "q.json", #"{"rktKind":"paths"}"#)
        let broken = try rkt.run(["--local-config=\(rkt.localConfig)", "config"], globalFlags: false)
        #expect(broken.status == 254)
        #expect(broken.stderr.contains("q.json"))
    }
}
