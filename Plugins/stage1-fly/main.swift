// stage1-fly: rkt's fly stage1 behind the JSON stage1 protocol (Documentation/stage1-protocol.md).
// One app, chrooted into its rootfs, in the host's namespaces. Synchronous and single-threaded on
// purpose: no Dispatch, no async, so the fork in CFly happens in a one-thread process.
import Stage1Kit

Stage1Plugin.main(
    name: Fly.name, version: Fly.version, features: Fly.features,
    commands: .init(run: RunCommand.execute, enter: EnterCommand.execute, stop: StopCommand.execute, gc: GCCommand.execute))
