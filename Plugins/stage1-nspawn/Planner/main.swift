// stage1-nspawn: the default stage1 behind the JSON stage1 protocol (Documentation/stage1-protocol.md).
// This executable plans (users, environment, volumes, isolators, cgroups, mounts) and hands the
// plan to rkt-pod-init, the pod's PID 1, which it starts in new namespaces. Synchronous and
// single-threaded: no Dispatch, no async.
import Foundation
import Glibc
import Stage1Kit
import Stage1Protocol

Stage1Kit.pluginName = Nspawn.name

/// The command named in the request file, for choosing where an unparsable request's error goes.
func commandHint() -> Stage1Command? {
    guard let path = ProcessInfo.processInfo.environment[Stage1Protocol.requestEnvironmentVariable],
          let data = readFile(path),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let name = object["command"] as? String
    else { return nil }
    return Stage1Command(rawValue: name)
}

do throws(Stage1Error) {
    let request = try Stage1Request.readFromEnvironment()
    debugEnabled = request.debug
    switch request.payload {
    case .describe:
        Stage1Response.write(DescribeResponse(name: Nspawn.name, version: Nspawn.version, features: Nspawn.features))
    case .run(let payload):
        do throws(Stage1Error) { try RunCommand.execute(request, payload) } catch { error.exit(for: .run) }
    case .enter(let payload):
        do throws(Stage1Error) { try EnterCommand.execute(request, payload) } catch { error.exit(for: .enter) }
    case .stop(let payload):
        try StopCommand.execute(request, payload)
        Stage1Response.write(OKResponse())
    case .gc:
        try GCCommand.execute(request)
        Stage1Response.write(OKResponse())
    }
    exit(0)
} catch {
    error.exit(for: commandHint())
}
