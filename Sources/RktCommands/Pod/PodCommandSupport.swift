import ArgumentParser
import Foundation
import RktPods
import RktStore

extension GlobalOptions {
    func podStore() throws -> PodStore {
        let config = try loadConfiguration()
        return PodStore(dataDir: resolvedDataDir(config: config))
    }

    /// rkt refuses these commands to non-root users, before doing anything.
    func requireRoot() throws {
        if geteuid() != 0 { throw CommandError("cannot run as unprivileged user") }
    }
}

/// A pod named by UUID (or prefix) or by `--uuid-file`, never both.
struct PodSelection: ParsableArguments {
    @Option(name: .customLong("uuid-file"), help: "read the pod UUID from this file")
    var uuidFile: String?

    func resolve(_ uuid: String?, in store: PodStore) throws -> Pod {
        switch (uuid, uuidFile) {
        case (let uuid?, nil): return try store.find(uuid)
        case (nil, let file?): return try store.find(uuidFile: file)
        case (nil, nil): throw ValidationError("provide a pod UUID or --uuid-file")
        case (_?, _?): throw ValidationError("a pod UUID and --uuid-file are mutually exclusive")
        }
    }

    /// For commands over several pods: every pod that resolves, and whether any did not (each
    /// failure is reported on stderr as it happens, and the command carries on with the rest).
    func resolveMany(_ uuids: [String], in store: PodStore, command: String) throws -> (pods: [Pod], failed: Bool) {
        var pods: [Pod] = []
        if uuidFile != nil { pods.append(try resolve(nil, in: store)) }
        if uuids.isEmpty && pods.isEmpty { throw ValidationError("provide at least one pod UUID or --uuid-file") }
        var failed = false
        for uuid in uuids {
            do { pods.append(try store.find(uuid)) } catch {
                FileHandle.standardError.write(Data("\(command): \(error)\n".utf8))
                failed = true
            }
        }
        return (pods, failed)
    }
}

/// Facts shown by `list` and `status`, gathered once per pod.
struct PodSummary {
    let pod: Pod
    let state: PodState
    let apps: [(name: String, imageName: String, imageID: String)]
    let exitStatuses: [String: Int32]
    /// `name:ip4=…` per attached network (net-info.json).
    let networks: [String]

    init(pod: Pod, store: PodStore) {
        self.pod = pod
        state = store.state(of: pod)
        let manifest = try? pod.manifest()
        apps = manifest?.apps.map { app in
            (app.name.rawValue, app.image.name?.rawValue ?? "", app.image.id?.description ?? "")
        } ?? []
        exitStatuses = pod.exitStatuses(appNames: apps.map(\.name))
        networks = PodNetworking.summaries(of: pod)
    }

    static func time(_ date: Date?, full: Bool) -> String {
        guard let date else { return "" }
        return full ? Output.absoluteTime(date) : Output.relativeTime(date)
    }
}
