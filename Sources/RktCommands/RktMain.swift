import ArgumentParser
import Foundation

/// The `rkt` command tree. The executable only calls `RktMain.main()`.
public struct RktMain: ParsableCommand {
    public static let configuration = CommandConfiguration(
        // Every command names itself: ArgumentParser otherwise derives the name with
        // String(describing:) on the type, a conformance scan per command at every start.
        commandName: "rkt",
        abstract: "rkt, the pod-native App Container runtime",
        version: RktVersion.rkt,
        subcommands: [
            Run.self,
            Prepare.self,
            RunPrepared.self,
            Enter.self,
            Stop.self,
            Logs.self,
            Export.self,
            Fetch.self,
            Trust.self,
            Image.self,
            List.self,
            Status.self,
            Remove.self,
            GC.self,
            CatManifest.self,
            Version.self,
            Config.self,
        ])

    @OptionGroup public var global: GlobalOptions

    public init() {}

    public mutating func run() throws {
        // `rkt` alone: print usage and exit 2 as rkt does for a missing command.
        FileHandle.standardError.write(Data(RktMain.helpMessage().utf8 + Data("\n".utf8)))
        throw ExitCode(ExitCodes.usage)
    }

    /// Parses, runs, and maps every error to one line on stderr and rkt's exit codes.
    public static func main(arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        let debug = arguments.contains("--debug")
        // The pod-start path (`run`, `prepare`) skips ArgumentParser where it can (AppSyntaxShortcut).
        if let shortcut = AppSyntaxShortcut(arguments) {
            finish(command: shortcut.command.rawValue, debug: debug) { try shortcut.execute() }
        }
        var command: ParsableCommand
        do {
            command = try parseAsRoot(AppSeparatorEscape.escape(arguments))
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                exit(withError: error)
            }
            // Usage errors: one line, no usage dump (rkt prints the error and exits 254).
            let text = fullMessage(for: error).split(separator: "\n").first.map(String.init) ?? "invalid arguments"
            FileHandle.standardError.write(Data("rkt: \(text.replacingOccurrences(of: "Error: ", with: ""))\n".utf8))
            Foundation.exit(ExitCodes.failure)
        }
        finish(command: type(of: command)._commandName, debug: debug) { try command.run() }
    }

    /// Runs a parsed command and exits: 0, its `ExitCode`, or one line `NAME: message` and 254.
    static func finish(command name: String, debug: Bool, _ body: () throws -> Void) -> Never {
        do {
            try body()
            Foundation.exit(0)
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch {
            // Help requested through `rkt help ...` or a command that shows its help.
            if exitCode(for: error) == .success { exit(withError: error) }
            FileHandle.standardError.write(Data("\(name): \(message(for: error, debug: debug))\n".utf8))
            Foundation.exit(ExitCodes.failure)
        }
    }
}

public enum RktVersion {
    public static let rkt = "1.30.0+swift"
    public static let appc = "0.8.11"
    public static let stage1Protocol = "none yet"
}
