import ArgumentParser
import Foundation
import RktPods
import Testing
@testable import RktCommands

/// The pod-start shortcut (`rkt [GLOBAL FLAGS] run|prepare ...` without ArgumentParser) must read
/// every command line it accepts exactly as ArgumentParser does, and decline the rest.
@Suite struct AppSyntaxShortcutTests {
    /// Everything a command line sets, from either path.
    struct Reading: Equatable, CustomStringConvertible {
        var command: String
        var arguments: [String]
        var global: [String]

        init(command: String, arguments: [String], global: GlobalOptions) {
            self.command = command
            self.arguments = arguments
            self.global = [
                global.dataDir ?? "<nil>", global.localConfig, global.systemConfig, global.userConfig,
                global.insecureOptions.description, "\(global.trustKeysFromHTTPS)", "\(global.debug)",
            ]
        }

        var description: String { "\(command) \(arguments) \(global)" }
    }

    static func parsedByArgumentParser(_ argv: [String]) throws -> Reading {
        // As RktMain.main and AppSyntaxCommand.launch read it.
        switch try RktMain.parseAsRoot(AppSeparatorEscape.escape(argv)) {
        case let run as Run: return Reading(command: "run", arguments: AppSeparatorEscape.unescape(run.arguments), global: run.root.global)
        case let prepare as Prepare:
            return Reading(command: "prepare", arguments: AppSeparatorEscape.unescape(prepare.arguments), global: prepare.root.global)
        case let other: throw CommandError("parsed as \(type(of: other))")
        }
    }

    static let accepted: [[String]] = [
        ["run", "example.com/busybox"],
        ["prepare", "example.com/busybox"],
        ["--dir=/var/tmp/x", "--insecure-options=image", "run", "--stage1-name=rkt.dev/stage1-fly", "example.com/busybox", "--exec", "/bin/true"],
        ["--debug", "--local-config=/l", "--system-config=/s", "--user-config=/u", "--trust-keys-from-https", "prepare", "img", "--", "-x", "--y"],
        ["--insecure-options=image,tls", "run", "--net=none", "a.aci", "--exec=/bin/sh", "--", "-c", "exit 3"],
        ["--insecure-options=all-run", "run", "--dir=/after", "--debug", "img", "--mount", "volume=v,target=/v"],
        ["--insecure-options=none", "run"],
        // rkt's app separator, with or without app arguments before it (ArgumentParser alone refuses
        // the first form: "Invalid option: ---").
        ["run", "a.aci", "---", "b.aci"],
        ["run", "a.aci", "--", "x", "---", "b.aci", "--exec=/bin/true", "---", "c.aci"],
        ["--dir=/d", "prepare", "---", "a.aci", "---"],
    ]

    @Test(arguments: accepted)
    func readsLikeArgumentParser(_ argv: [String]) throws {
        let shortcut = try #require(AppSyntaxShortcut(argv))
        let mine = Reading(command: shortcut.command.rawValue, arguments: shortcut.arguments, global: shortcut.global)
        #expect(mine == (try Self.parsedByArgumentParser(argv)))
    }

    static let declined: [[String]] = [
        [], ["version"], ["list"], ["run-prepared", "abc"], ["help", "run"],
        ["--dir", "/x", "run", "img"],                  // the space-separated form: left to ArgumentParser
        ["--dir=/a", "--dir=/b", "run", "img"],          // repeated
        ["--dir=", "run", "img"],                        // empty value
        ["--insecure-options=bogus", "run", "img"],      // a value ArgumentParser rejects, with its message
        ["--debug=true", "run", "img"], ["--nosuch=1", "run", "img"], ["-d", "run", "img"],
        ["--help"], ["-h", "run"], ["run", "--help"], ["run", "-h"], ["prepare", "img", "--", "ls", "-lh"],
        ["run", "img", "--version"], ["run", "--generate-completion-script=bash"], ["run", "--experimental-dump-help"],
    ]

    @Test(arguments: declined)
    func leavesTheRestToArgumentParser(_ argv: [String]) {
        #expect(AppSyntaxShortcut(argv) == nil)
    }

    /// The ArgumentParser path (here: a space-separated global flag) reads `---` as rkt does too.
    @Test func separatorWithoutAppArgumentsOnTheArgumentParserPath() throws {
        #expect(AppSyntaxShortcut(["--dir", "/d", "run", "a.aci", "---", "b.aci"]) == nil)
        let reading = try Self.parsedByArgumentParser(["--dir", "/d", "run", "a.aci", "---", "b.aci"])
        #expect(reading.arguments == ["a.aci", "---", "b.aci"])
        #expect(AppSeparatorEscape.escape(["--dir", "/d", "enter", "---"]) == ["--dir", "/d", "enter", "---"])
        #expect(throws: (any Error).self) { try RktMain.parseAsRoot(["run", "a.aci", "---", "b.aci"]) }
        let apps = try AppArguments.parse(reading.arguments, command: .run).apps.map(\.image)
        #expect(apps == ["a.aci", "b.aci"])
    }

    @Test func defaultsAreArgumentParsers() throws {
        let parsed = try GlobalOptions.parse([])
        #expect(Reading(command: "", arguments: [], global: GlobalOptions.defaults) == Reading(command: "", arguments: [], global: parsed))
    }

    /// A global option added without a `GlobalOptions.Name` would make the shortcut decline every
    /// command line that uses it (correct, but slow): keep the table complete.
    @Test func everyGlobalOptionHasAName() {
        #expect(Mirror(reflecting: GlobalOptions()).children.count == GlobalOptions.Name.allCases.count)
        for name in GlobalOptions.Name.allCases {
            #expect(GlobalOptions.helpMessage().contains("--" + name.rawValue), "\(name.rawValue) is not a GlobalOptions flag")
        }
    }
}
