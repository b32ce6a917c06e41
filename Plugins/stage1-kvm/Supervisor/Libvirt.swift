import CLibvirt
import Foundation
import Glibc
import Stage1Protocol
import Stage1Kit

/// libvirt's embedded QEMU driver, in this process: no libvirtd, virtlogd or dbus. Only one
/// process at a time may open an embed root (libvirt takes a pid-file lock on it).
final class EmbeddedLibvirt {
    let root: String
    private var connection: virConnectPtr

    /// The last libvirt error, as text.
    static func lastError() -> String {
        guard let error = virGetLastError(), let message = error.pointee.message else { return "unknown libvirt error" }
        return String(cString: message)
    }

    /// Writes the settings the embed mode needs into `root/etc/qemu.conf`, starts libvirt's event
    /// loop on a thread (the driver talks to QEMU's monitor through it) and connects.
    init(root: String) throws(Stage1Error) {
        self.root = root
        try makeDirectories(root + "/etc")
        Self.seedCapabilities(root: root, shared: KVM.capabilitiesCache)
        // stdio_handler "file": QEMU's output goes to a file, not to virtlogd (which is not running).
        // root and no security driver: 9p passthrough needs QEMU to act with root's rights on the
        // app's files, as the other stage1s do.
        let settings = """
            stdio_handler = "file"
            user = "root"
            group = "root"
            dynamic_ownership = 0
            security_driver = "none"
            namespaces = []
            cgroup_controllers = []

            """
        try Stage1Files.write(Data(settings.utf8), to: root + "/etc/qemu.conf")
        // libvirt logs warnings to stderr, which belongs to the apps: into a file instead, unless
        // the user asked for debug output (the environment is read when libvirt initializes).
        if !debugEnabled { setenv("LIBVIRT_LOG_OUTPUTS", "3:file:" + root + "/libvirt.log", 1) }
        // libvirt prints its errors on stderr by default; ours carry them instead.
        virSetErrorFunc(nil) { _, _ in }
        guard virEventRegisterDefaultImpl() == 0 else {
            throw Stage1Error(code: .ioFailure, msg: "cannot start libvirt's event loop", details: Self.lastError())
        }
        let loop = Thread {
            while true { if virEventRunDefaultImpl() < 0 { break } }
        }
        loop.start()
        let uri = "qemu:///embed?root=" + root
        guard let connection = virConnectOpen(uri) else {
            throw Stage1Error(
                code: .ioFailure, msg: "cannot open libvirt's embedded QEMU driver (\(uri))",
                details: Self.lastError() + " (needs libvirt-daemon-driver-qemu and qemu-system-x86)")
        }
        self.connection = connection
    }

    /// Seeds this root's capabilities cache from the shared one (before connecting).
    static func seedCapabilities(root: String, shared: String) {
        let own = root + "/cache/qemu/capabilities"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: shared), !names.isEmpty else { return }
        try? makeDirectories(own)
        for name in names where name.hasSuffix(".xml") {
            if let data = readFile(shared + "/" + name) { try? Stage1Files.write(data, to: own + "/" + name) }
        }
    }

    /// Publishes this root's probed capabilities when the shared cache has none (after a start).
    /// libvirt checks each cached file against QEMU's binary and re-probes when it changed.
    static func publishCapabilities(root: String, shared: String) {
        if let names = try? FileManager.default.contentsOfDirectory(atPath: shared), names.contains(where: { $0.hasSuffix(".xml") }) { return }
        let own = root + "/cache/qemu/capabilities"
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: own) else { return }
        try? makeDirectories(shared)
        for name in names where name.hasSuffix(".xml") {
            if let data = readFile(own + "/" + name) { try? Stage1Files.write(data, to: shared + "/" + name) }
        }
    }

    /// Defines and starts a transient domain. (`VIR_DOMAIN_START_AUTODESTROY` is not supported by
    /// the embedded driver: the supervisor destroys the domain itself.)
    func start(xml: String) throws(Stage1Error) -> Domain {
        guard let domain = virDomainCreateXML(connection, xml, 0) else {
            throw Stage1Error(code: .ioFailure, msg: "cannot start the pod's virtual machine", details: Self.lastError())
        }
        Self.publishCapabilities(root: root, shared: KVM.capabilitiesCache)
        return Domain(pointer: domain)
    }

    func close() {
        virConnectClose(connection)
    }
}

struct Domain {
    let pointer: virDomainPtr

    var isActive: Bool { virDomainIsActive(pointer) == 1 }

    /// Pulls the plug: QEMU is killed.
    func destroy() {
        if isActive { virDomainDestroy(pointer) }
    }

    /// Ends a guest that has nothing left to do, at once: SIGKILL to QEMU (its pid file in the
    /// embed root; we are its reaper), then libvirt's destroy, which finds it gone. libvirt's own
    /// destroy sends SIGTERM and polls every 200 ms, which a pod would pay at every exit.
    func endAtOnce() {
        if let cName = virDomainGetName(pointer) {
            let name = String(cString: cName)
            let pidFile = KVM.embedRoot(uuid: String(name.dropFirst("rkt-".count))) + "/run/qemu/" + name + ".pid"
            if let data = readFile(pidFile),
               let pid = pid_t(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)), pid > 0,
               GCCommand.isQEMU(pid)
            {
                kill(pid, SIGKILL)
                var status: Int32 = 0
                // Reaped here or by RunCommand's reaper thread, whichever comes first.
                for _ in 0..<200 where kill(pid, 0) == 0 {
                    if waitpid(pid, &status, WNOHANG) == pid { break }
                    usleep(5_000)
                }
            }
        }
        destroy()
    }
}

/// The libvirt domain description of a pod's VM: direct kernel boot, the plan and each app's
/// rootfs shared over virtio-9p, three virtio-serial channels to this process (status, output,
/// agent), one virtio NIC per CNI network on a pre-made tap, the guest console in a log file, and
/// nothing else (no disks, no USB, no balloon).
struct DomainDescription {
    var name: String
    var accelerator: Accelerator
    var kernel: String
    var initramfs: String
    var memoryMiB: Int
    var cpus: Int
    var planDirectory: String
    var appRootfses: [String]
    var volumes: [VolumeShare]
    var consoleLog: String
    var statusSocket: String
    var outputSocket: String
    /// `rkt.agent`: stop and enter requests to the guest init, enter sessions' output back.
    var agentSocket: String
    var emulator: String
    /// The NICs, one per CNI network (Network.swift); none with `--net=none`.
    var interfaces: [PodNetwork.GuestInterface] = []

    static func escape(_ text: String) -> String {
        var out = ""
        for c in text {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "'": out += "&apos;"
            case "\"": out += "&quot;"
            default: out.append(c)
            }
        }
        return out
    }

    var xml: String {
        let e = Self.escape
        // quiet + loglevel: the console is a log file, nobody reads it during a boot; panic=-1 and
        // the destroy actions end the VM (and so the pod) on a guest crash instead of hanging.
        let cmdline = "console=ttyS0 quiet loglevel=3 panic=-1 rdinit=/init"
        var filesystems = """
                <filesystem type='mount' accessmode='passthrough'>
                  <source dir='\(e(planDirectory))'/>
                  <target dir='rkt.plan'/>
                  <readonly/>
                </filesystem>

            """
        for (index, rootfs) in appRootfses.enumerated() {
            filesystems += """
                    <filesystem type='mount' accessmode='passthrough'>
                      <source dir='\(e(rootfs))'/>
                      <target dir='rkt.app\(index)'/>
                    </filesystem>

                """
        }
        for volume in volumes {
            filesystems += """
                    <filesystem type='mount' accessmode='passthrough'>
                      <source dir='\(e(volume.source))'/>
                      <target dir='\(e(volume.tag))'/>\(volume.readOnly ? "\n      <readonly/>" : "")
                    </filesystem>

                """
        }
        return """
            <domain type='\(accelerator.domainType)'>
              <name>\(e(name))</name>
              <memory unit='MiB'>\(memoryMiB)</memory>
              <vcpu>\(cpus)</vcpu>
              <os>
                <type arch='x86_64' machine='q35'>hvm</type>
                <kernel>\(e(kernel))</kernel>
                <initrd>\(e(initramfs))</initrd>
                <cmdline>\(e(cmdline))</cmdline>
              </os>
              <features><acpi/></features>
              <clock offset='utc'/>
              <on_poweroff>destroy</on_poweroff>
              <on_reboot>destroy</on_reboot>
              <on_crash>destroy</on_crash>
              <devices>
                <emulator>\(e(emulator))</emulator>
            \(filesystems)\(PodNetwork.domainXML(interfaces))
                <controller type='usb' model='none'/>
                <controller type='virtio-serial' index='0'/>
                <serial type='file'>
                  <source path='\(e(consoleLog))'/>
                  <target port='0'/>
                </serial>
                <channel type='unix'>
                  <source mode='connect' path='\(e(statusSocket))'/>
                  <target type='virtio' name='rkt.status'/>
                </channel>
                <channel type='unix'>
                  <source mode='connect' path='\(e(outputSocket))'/>
                  <target type='virtio' name='rkt.output'/>
                </channel>
                <channel type='unix'>
                  <source mode='connect' path='\(e(agentSocket))'/>
                  <target type='virtio' name='rkt.agent'/>
                </channel>
                <memballoon model='none'/>
              </devices>
            </domain>
            """
    }
}
