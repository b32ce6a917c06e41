// stage1-nspawn: the default stage1 behind the JSON stage1 protocol (Documentation/stage1-protocol.md).
// This executable plans (users, environment, volumes, isolators, cgroups, mounts) and hands the
// plan to rkt-pod-init, the pod's PID 1, which it starts in new namespaces. Synchronous and
// single-threaded: no Dispatch, no async.
import Stage1Kit

Stage1Plugin.main(
    name: Nspawn.name, version: Nspawn.version, features: Nspawn.features,
    commands: .init(run: RunCommand.execute, enter: EnterCommand.execute, stop: StopCommand.execute, gc: GCCommand.execute))
