import ArgumentParser
import Foundation
import RktPods
import Stage1Protocol

/// `rkt stop UUID...`: ask stage1 to stop each running pod (TERM, or KILL with `--force`).
struct Stop: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "stop", abstract: "Stop a pod")

    @OptionGroup(title: "Global options") var global: GlobalOptions
    @OptionGroup var selection: PodSelection
    @Flag(help: "forced stopping") var force = false
    @Argument(help: "pod UUIDs or prefixes") var uuids: [String] = []

    func run() throws {
        try global.requireRoot()
        let store = try global.podStore()
        var (pods, failed) = try selection.resolveMany(uuids, in: store, command: "stop")
        for pod in pods {
            do {
                guard store.state(of: pod) == .running else { throw CommandError("pod \(pod.uuid) is not running") }
                let launcher = try Stage1Launcher(pod: pod, logger: global.makeLogger("rkt.stop"), debug: global.debug)
                if launcher.entrypoints.stop != nil {
                    try launcher.stop(force: force)
                } else if let pid = pod.pid {
                    // A stage1 without a stop entrypoint: signal its process, as rkt does.
                    guard kill(pid, force ? SIGKILL : SIGTERM) == 0 else { throw CommandError("cannot signal pod \(pod.uuid) (pid \(pid))") }
                } else {
                    throw CommandError("pod \(pod.uuid) has no stop entrypoint and no pid yet")
                }
                Output.print("\"\(pod.uuid)\"\n")
            } catch {
                FileHandle.standardError.write(Data("stop: \(error)\n".utf8))
                failed = true
            }
        }
        if failed { throw ExitCode(ExitCodes.failure) }
    }
}

/// `rkt enter [--app NAME] UUID [CMD ARGS...]`: run a command inside a running app.
struct Enter: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "enter", abstract: "Enter the namespaces of an app within a rkt pod")

    @OptionGroup(title: "Global options") var global: GlobalOptions
    @Option(help: "name of the app to enter within the specified pod") var app: String?
    @Argument(help: "pod UUID or prefix") var uuid: String
    @Argument(parsing: .captureForPassthrough, help: "command and arguments (default: /bin/bash)") var command: [String] = []

    func run() throws {
        try global.requireRoot()
        let store = try global.podStore()
        let pod = try store.find(uuid)
        guard store.state(of: pod) == .running else { throw CommandError("pod \(pod.uuid) is not running") }
        guard let pid = pod.pid else { throw CommandError("pod \(pod.uuid) has no pid yet; try again (or use status --wait-ready)") }
        let apps = try pod.manifest().apps.map(\.name.rawValue)
        let appName: String
        if let app {
            guard apps.contains(app) else { throw CommandError("pod \(pod.uuid) has no app named \(app) (apps: \(apps.joined(separator: ", ")))") }
            appName = app
        } else {
            guard apps.count == 1 else { throw CommandError("pod \(pod.uuid) has \(apps.count) apps; pick one with --app (\(apps.joined(separator: ", ")))") }
            appName = apps[0]
        }
        var argv = command
        if argv.first == "--" { argv.removeFirst() }
        if argv.isEmpty { argv = ["/bin/bash"] }
        let launcher = try Stage1Launcher(pod: pod, logger: global.makeLogger("rkt.enter"), debug: global.debug)
        try launcher.execEnter(EnterPayload(appName: appName, command: argv, pid: pid, interactive: true, tty: isatty(0) != 0))
    }
}
