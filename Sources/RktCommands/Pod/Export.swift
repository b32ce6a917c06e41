import ArgumentParser
import Foundation
import RktArchive
import RktOS
import RktPods

/// `rkt export UUID OUT.aci`: an exited pod's app, with the changes it made, as a new ACI.
struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "export", abstract: "Export an app from an exited pod to an ACI file")

    @OptionGroup(title: "Global options") var global: GlobalOptions
    @Option(help: "name of the app to export within the specified pod") var app: String?
    @Flag(help: "overwrite output ACI") var overwrite = false
    @Argument(help: "pod UUID or prefix") var uuid: String
    @Argument(help: "output ACI file") var output: String

    func run() throws {
        try global.requireRoot()
        let store = try global.podStore()
        let pod = try store.find(uuid)
        let state = store.state(of: pod)
        guard state.isExited else { throw CommandError("pod \(pod.uuid) is \(state.rawValue); only exited pods can be exported") }
        let apps = try pod.manifest().apps.map(\.name.rawValue)
        let name: String
        if let app {
            guard apps.contains(app) else { throw CommandError("pod \(pod.uuid) has no app named \(app)") }
            name = app
        } else {
            guard apps.count == 1 else { throw CommandError("pod \(pod.uuid) has \(apps.count) apps; pick one with --app (\(apps.joined(separator: ", ")))") }
            name = apps[0]
        }
        if FileSystem.exists(output) && !overwrite { throw CommandError("\(output) already exists (use --overwrite)") }
        // The app's directory is an ACI layout: its image manifest and its rootfs as the app left
        // it (the overlay, or the copy made with --no-overlay).
        let layout = pod.stage1Rootfs + "/opt/stage2/" + name
        guard FileSystem.isDirectory(layout + "/rootfs"), FileSystem.isRegularFile(layout + "/manifest") else {
            throw CommandError("app \(name) of pod \(pod.uuid) has no rootfs to export (was the pod's stage1 unmounted?)")
        }
        // What stage1 mounted inside the app (/proc, /dev, volumes) is not part of the image.
        let rootfs = layout + "/rootfs"
        for point in Mounts.mountPoints(under: rootfs) where point != rootfs {
            _ = umount2(point, Int32(MNT_DETACH))
        }
        try ACIWriter.write(layoutDirectory: layout, to: output, compression: .none)
    }
}
