// stage1-kvm: one virtual machine per pod, through libvirt's embedded QEMU driver
// (`qemu:///embed?root=DIR`, no libvirtd). See Plugins/stage1-kvm/README.md and
// Documentation/stage1-kvm.md. One executable serves every entrypoint; it dispatches on `command`.
import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// The command named in the request file, for choosing where an unparsable request's error goes.
func commandHint() -> Stage1Command? {
    guard let path = ProcessInfo.processInfo.environment[Stage1Protocol.requestEnvironmentVariable],
          let data = readFile(path),
          let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
          let name = object["command"] as? String
    else { return nil }
    return Stage1Command(rawValue: name)
}

Stage1Kit.pluginName = KVM.name
do throws(Stage1Error) {
    let request = try Stage1Request.readFromEnvironment()
    debugEnabled = request.debug
    switch request.payload {
    case .describe:
        Stage1Response.write(DescribeResponse(name: KVM.name, version: KVM.version, features: KVM.features))
    case .run(let payload):
        do throws(Stage1Error) { try RunCommand.execute(request, payload) } catch { error.exit(for: .run) }
    case .enter:
        throw Stage1Error(code: .unsupported, msg: "stage1-kvm does not implement enter yet")
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
