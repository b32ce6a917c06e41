import ArgumentParser
import Foundation
import RktPods

/// `rkt status UUID`: `key=value` lines, or JSON.
struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Check the status of a rkt pod")

    @OptionGroup(title: "Global options") var global: GlobalOptions
    @OptionGroup var selection: PodSelection

    @Option(help: "wait up to this long for the pod to exit (Go duration; 0 = forever)")
    var wait: GoDuration?

    @Option(name: .customLong("wait-ready"), help: "wait up to this long for the pod to be running with its pid known")
    var waitReady: GoDuration?

    @Option(help: "choose the output format: json or json-pretty") var format: OutputFormat = .table

    @Argument(help: "pod UUID or prefix") var uuid: String?

    struct Entry: Encodable {
        let name: String
        let state: String
        let networks: [String]
        let app_names: [String]
        let pid: Int32?
        let exit_code: [String: Int32]
        let created_at: Int64?
        let started_at: Int64?
    }

    func run() throws {
        let store = try global.podStore()
        var pod = try selection.resolve(uuid, in: store)
        if let wait { pod = try waitFor(pod, store: store, timeout: wait.seconds) { $0.isExited } }
        if let waitReady { pod = try waitFor(pod, store: store, timeout: waitReady.seconds) { $0 == .running && pod.pid != nil } }
        let summary = PodSummary(pod: pod, store: store)
        switch format {
        case .table:
            var lines = ["state=\(summary.state.rawValue)"]
            if let created = pod.createdAt { lines.append("created=\(Output.absoluteTime(created))") }
            if let started = pod.startedAt { lines.append("started=\(Output.absoluteTime(started))") }
            lines.append("networks=" + summary.networks.joined(separator: ","))
            if let pid = pod.pid { lines.append("pid=\(pid)") }
            lines.append("exited=\(summary.state.isExited)")
            for app in summary.apps {
                if let status = summary.exitStatuses[app.name] { lines.append("app-\(app.name)=\(status)") }
            }
            Output.print(lines.joined(separator: "\n") + "\n")
        case .json, .jsonPretty:
            let entry = Entry(name: pod.uuid, state: summary.state.rawValue, networks: summary.networks, app_names: summary.apps.map(\.name), pid: pod.pid,
                              exit_code: summary.exitStatuses,
                              created_at: pod.createdAt.map { Int64($0.timeIntervalSince1970 * 1e9) },
                              started_at: pod.startedAt.map { Int64($0.timeIntervalSince1970 * 1e9) })
            Output.print(try Output.render(header: [], rows: [], json: entry, format: format, legend: false))
        }
    }

    /// Polls (the pod may move between phase directories while we wait) until `done` or timeout.
    private func waitFor(_ pod: Pod, store: PodStore, timeout: TimeInterval, _ done: (PodState) -> Bool) throws -> Pod {
        let deadline = timeout > 0 ? Date().addingTimeInterval(timeout) : .distantFuture
        var current = pod
        while true {
            current = (try? store.find(pod.uuid)) ?? current
            if done(store.state(of: current)) { return current }
            if Date() >= deadline { throw CommandError("timed out waiting for pod \(pod.uuid)") }
            usleep(50_000)
        }
    }
}
