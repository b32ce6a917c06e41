import ArgumentParser
import Foundation
import RktPods
import RktStore

/// `rkt list`: one row per app, pod columns on the pod's first row.
struct List: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List pods")

    @OptionGroup(title: "Global options") var global: GlobalOptions

    @Flag(help: "use long output format") var full = false
    @Flag(name: .customLong("no-legend"), help: "suppress a legend with the list") var noLegend = false
    @Option(help: "choose the output format: json or json-pretty (default: a table)") var format: OutputFormat = .table

    struct Entry: Encodable {
        let name: String
        let state: String
        let networks: [String]
        let app_names: [String]
        let created_at: Int64?
        let started_at: Int64?
    }

    func run() throws {
        let store = try global.podStore()
        let summaries = try store.allPods()
            .map { PodSummary(pod: $0, store: store) }
            .sorted { ($0.pod.createdAt ?? .distantPast) < ($1.pod.createdAt ?? .distantPast) }
        var header = ["UUID", "APP", "IMAGE NAME"]
        if full { header.append("IMAGE ID") }
        header += ["STATE", "CREATED", "STARTED", "NETWORKS"]
        var rows: [[String]] = []
        for summary in summaries {
            let apps = summary.apps.isEmpty ? [(name: "-", imageName: "-", imageID: "-")] : summary.apps
            for (index, app) in apps.enumerated() {
                var row = [index == 0 ? (full ? summary.pod.uuid : String(summary.pod.uuid.prefix(8))) : "", app.name, app.imageName]
                if full { row.append(ImageKey.short(app.imageID)) }
                if index == 0 {
                    row += [summary.state.rawValue, PodSummary.time(summary.pod.createdAt, full: full), PodSummary.time(summary.pod.startedAt, full: full), summary.networks.joined(separator: ",")]
                } else {
                    row += ["", "", "", ""]
                }
                rows.append(row)
            }
        }
        let json = summaries.map {
            Entry(name: $0.pod.uuid, state: $0.state.rawValue, networks: $0.networks, app_names: $0.apps.map(\.name),
                  created_at: $0.pod.createdAt.map { Int64($0.timeIntervalSince1970 * 1e9) },
                  started_at: $0.pod.startedAt.map { Int64($0.timeIntervalSince1970 * 1e9) })
        }
        Output.print(try Output.render(header: header, rows: rows, json: json, format: format, legend: !noLegend))
    }
}
