import ArgumentParser
import Foundation
import RktPods
import Stage1Protocol

/// `rkt logs UUID [--app NAME] [--follow]`: what the pod's apps wrote to stdout and stderr, from the
/// per-app logs the stage1 keeps in the pod directory (`logs/<app>.log`, Documentation/stage1-protocol.md).
/// rkt itself never had this (rkt/rkt#3082).
struct Logs: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "logs", abstract: "Print the output of a pod's apps")

    @OptionGroup(title: "Global options") var global: GlobalOptions
    @OptionGroup var selection: PodSelection

    @Option(help: "only this app's output (default: every app, each line prefixed with its name when there are several)")
    var app: String?

    @Flag(name: [.customShort("f"), .long], help: "keep printing as the apps write, until the pod exits")
    var follow = false

    @Argument(help: "pod UUID or prefix") var uuid: String?

    func run() throws {
        let store = try global.podStore()
        var pod = try selection.resolve(uuid, in: store)
        let names = (try? pod.manifest().apps.map(\.name.rawValue)) ?? []
        if let app, !names.contains(app) { throw CommandError("pod \(pod.uuid) has no app \(app)") }
        let selected = app.map { [$0] } ?? names
        let prefix = selected.count > 1
        var readers = selected.map { LogReader(app: $0, prefix: prefix) }
        if !readers.contains(where: { FileManager.default.fileExists(atPath: PodFiles(podPath: pod.path).logPath(app: $0.app)) }) && !follow {
            throw CommandError("pod \(pod.uuid) has no logs (its stage1 keeps none, or its apps have not started)")
        }
        while true {
            // The pod directory moves between phases (run/, exited-garbage/, …): look it up each round.
            let files = PodFiles(podPath: pod.path)
            var wrote = false
            for i in readers.indices { wrote = readers[i].copyNew(from: files.logPath(app: readers[i].app)) || wrote }
            guard follow else { return }
            if store.state(of: pod).isExited {
                for i in readers.indices { _ = readers[i].copyNew(from: PodFiles(podPath: pod.path).logPath(app: readers[i].app), flush: true) }
                return
            }
            if !wrote { usleep(100_000) }
            if let moved = try? store.find(pod.uuid) { pod = moved }
        }
    }
}

/// Copies what was appended to one app's log since the last call to stdout.
struct LogReader {
    let app: String
    let prefix: Bool
    private var offset: UInt64 = 0
    private var partial = Data()

    init(app: String, prefix: Bool) {
        self.app = app
        self.prefix = prefix
    }

    /// Returns whether anything new was read. With `prefix`, only whole lines are printed (a
    /// trailing partial line waits for its end, or for `flush`).
    mutating func copyNew(from path: String, flush: Bool = false) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        try? handle.seek(toOffset: offset)
        let data = (try? handle.readToEnd()) ?? Data()
        offset += UInt64(data.count)
        guard !data.isEmpty || (flush && !partial.isEmpty) else { return false }
        guard prefix else {
            FileHandle.standardOutput.write(data)
            return true
        }
        partial.append(data)
        var out = Data()
        while let newline = partial.firstIndex(of: UInt8(ascii: "\n")) {
            out.append(Data((app + ": ").utf8))
            out.append(partial[partial.startIndex...newline])
            partial = Data(partial[partial.index(after: newline)...])
        }
        if flush && !partial.isEmpty {
            out.append(Data((app + ": ").utf8) + partial + Data("\n".utf8))
            partial = Data()
        }
        FileHandle.standardOutput.write(out)
        return true
    }
}
