import ArgumentParser
import Foundation
import RktPods

/// `rkt rm UUID...`: remove exited (or never started) pods now.
struct Remove: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove all files and resources associated with an exited pod")

    @OptionGroup(title: "Global options") var global: GlobalOptions
    @OptionGroup var selection: PodSelection
    @Argument(help: "pod UUIDs or prefixes") var uuids: [String] = []

    func run() throws {
        try global.requireRoot()
        let store = try global.podStore()
        var (pods, failed) = try selection.resolveMany(uuids, in: store, command: "rm")
        for pod in pods {
            let state = store.state(of: pod)
            guard state.isExited || state == .prepared || state == .abortedPrepare || state == .garbage else {
                FileHandle.standardError.write(Data("rm: pod \(pod.uuid) is \(state.rawValue); only exited or prepared pods can be removed\n".utf8))
                failed = true
                continue
            }
            do {
                try store.remove(pod, stage1GC: { try Stage1Cleanup.run(for: $0, global: global) })
                Output.print("\"\(pod.uuid)\"\n")
            } catch {
                FileHandle.standardError.write(Data("rm: \(error)\n".utf8))
                failed = true
            }
        }
        if failed { throw ExitCode(ExitCodes.failure) }
    }
}

/// `rkt gc`: mark exited and abandoned pods, then remove garbage older than the grace period.
struct GC: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "gc", abstract: "Garbage collect rkt pods no longer in use")

    @OptionGroup(title: "Global options") var global: GlobalOptions

    @Option(name: .customLong("grace-period"), help: "duration to wait before discarding inactive pods from garbage")
    var gracePeriod = GoDuration(seconds: 30 * 60)

    @Option(name: .customLong("expire-prepared"), help: "duration to wait before expiring prepared pods")
    var expirePrepared = GoDuration(seconds: 24 * 3600)

    @Flag(name: .customLong("mark-only"), help: "only move exited pods to the garbage directories, without removing them")
    var markOnly = false

    func run() throws {
        try global.requireRoot()
        let store = try global.podStore()
        for uuid in try store.markGarbage(expirePrepared: expirePrepared.seconds) {
            FileHandle.standardError.write(Data("gc: moving pod \(uuid) to garbage\n".utf8))
        }
        if markOnly { return }
        let report = try store.sweep(gracePeriod: gracePeriod.seconds) { try Stage1Cleanup.run(for: $0, global: global) }
        for uuid in report.removed { FileHandle.standardError.write(Data("gc: garbage collected pod \(uuid)\n".utf8)) }
        for failure in report.failures { FileHandle.standardError.write(Data("gc: \(failure)\n".utf8)) }
        PodNetworking.garbageCollectNetworks(pods: store, global: global, logger: global.makeLogger("rkt.gc"))
        if !report.failures.isEmpty { throw ExitCode(ExitCodes.failure) }
    }
}

/// The stage1 part of removing a pod: its `gc` entrypoint (networks, cgroups, its own mounts).
/// A pod whose stage1 is gone or unmounted (after a reboot) is cleaned by stage0 alone.
enum Stage1Cleanup {
    static func run(for pod: Pod, global: GlobalOptions) throws {
        let logger = global.makeLogger("rkt.gc")
        // stage0 set up the pod's networks, so stage0 tears them down (CNI DEL, netns, ports).
        try PodNetworking.tearDown(pod: pod, global: global, logger: logger)
        let launcher: Stage1Launcher
        do { launcher = try Stage1Launcher(pod: pod, logger: logger, debug: global.debug) } catch {
            logger.debug("no stage1 to call for gc: \(error)", metadata: ["pod": "\(pod.uuid)"])
            return
        }
        guard launcher.entrypoints.gc != nil,
              let path = launcher.entrypoints.hostPath(for: .gc, stage1Rootfs: pod.stage1Rootfs), FileManager.default.fileExists(atPath: path) else {
            logger.debug("stage1 has no reachable gc entrypoint", metadata: ["pod": "\(pod.uuid)"])
            return
        }
        try launcher.gc(localConfig: global.localConfig)
    }
}

/// `rkt cat-manifest UUID`.
struct CatManifest: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "cat-manifest", abstract: "Inspect and print the pod manifest")

    @OptionGroup(title: "Global options") var global: GlobalOptions
    @OptionGroup var selection: PodSelection

    @Option(name: .customLong("pretty-print"), help: "apply indent to format the output")
    var prettyPrint: Bool = true

    @Argument(help: "pod UUID or prefix") var uuid: String?

    func run() throws {
        let store = try global.podStore()
        let pod = try selection.resolve(uuid, in: store)
        let manifest = try pod.manifest()
        Output.print(String(decoding: try manifest.encoded(pretty: prettyPrint), as: UTF8.self) + "\n")
    }
}
