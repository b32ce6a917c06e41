// stage1-kvm: one virtual machine per pod, through libvirt's embedded QEMU driver
// (`qemu:///embed?root=DIR`, no libvirtd). See Plugins/stage1-kvm/README.md and
// Documentation/stage1-kvm.md. One executable serves every entrypoint; it dispatches on `command`.
import Foundation
import Glibc
import Stage1Kit

Stage1Plugin.main(
    name: KVM.name, version: KVM.version, features: KVM.features,
    commands: .init(run: RunCommand.execute, enter: EnterCommand.execute, stop: StopCommand.execute, gc: GCCommand.execute))
