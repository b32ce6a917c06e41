import Foundation
import Glibc
import Stage1Kit
import Stage1Protocol

/// The mounts of each app's root, as plan operations rkt-pod-init runs in the pod's mount
/// namespace (it is PID 1 of the pod's PID namespace, so the /proc it mounts shows the pod).
/// Paths that exist in the image are resolved here, inside the rootfs (`RootPath`), so a hostile
/// image cannot redirect a mount through a symlink; paths below a fresh tmpfs, proc or sysfs need
/// no resolving.
enum PodFilesystem {
    static let nosuid = UInt(MS_NOSUID), nodev = UInt(MS_NODEV), noexec = UInt(MS_NOEXEC)
    static let bind = UInt(MS_BIND), recursive = UInt(MS_REC), readOnly = UInt(MS_RDONLY)

    /// Read-only unless `--insecure-options=paths` (rkt's list, plus what Docker also protects).
    static let readOnlyPaths = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    /// Hidden unless `--insecure-options=paths`.
    static let maskedPaths = [
        "/proc/config.gz", "/proc/kallsyms", "/proc/sched_debug", "/proc/kcore", "/proc/kmem", "/proc/mem",
        "/proc/keys", "/proc/timer_list", "/proc/acpi", "/proc/scsi", "/sys/firmware", "/sys/hypervisor",
        "/sys/power", "/sys/kernel/security", "/sys/kernel/debug",
    ]

    struct Options {
        var readOnlyRootfs: Bool
        var protectPaths: Bool
        var privateIPC: Bool
        /// The app's cgroup directories, bound read-only at `/sys/fs/cgroup/<hierarchy>`.
        var cgroups: [(hierarchy: String, directory: String)]
        /// The app has a mount point at or below /sys: leave /sys to it (rkt).
        var appMountsSys: Bool
    }

    static func addMounts(to plan: inout PlanWriter, app: AppPlan, options: Options, podPath: String) throws(Stage1Error) {
        let root = app.rootfs
        // Create in the image what must exist before the rootfs can be made read-only.
        let proc = try RootPath.resolve(root: root, path: "/proc", create: .directory)
        let sys = try RootPath.resolve(root: root, path: "/sys", create: .directory)
        let dev = try RootPath.resolve(root: root, path: "/dev", create: .directory)

        // pivot_root needs the rootfs to be a mount point. nodev: a device node the app creates
        // cannot be opened (this is the device policy; see addDev), read-only when asked.
        plan.mount(root, on: root, flags: bind | recursive)
        plan.restrict(root, flags: nodev | (options.readOnlyRootfs ? readOnly : 0))

        plan.mount("proc", on: proc, type: "proc", flags: nosuid | nodev | noexec)
        if !options.appMountsSys {
            plan.mount("sysfs", on: sys, type: "sysfs", flags: nosuid | nodev | noexec | readOnly)
            let cgroupRoot = sys + "/fs/cgroup"
            if options.cgroups.count == 1, options.cgroups[0].hierarchy.isEmpty {
                // A cgroup v2 host: the app's own cgroup is the whole tree it sees.
                plan.mount(options.cgroups[0].directory, on: cgroupRoot, flags: bind | readOnly | nosuid | nodev | noexec)
            } else if !options.cgroups.isEmpty {
                plan.mount("tmpfs", on: cgroupRoot, type: "tmpfs", flags: nosuid | nodev | noexec, data: "mode=755")
                for (hierarchy, directory) in options.cgroups {
                    plan.mkdir(cgroupRoot + "/" + hierarchy)
                    plan.mount(directory, on: cgroupRoot + "/" + hierarchy, flags: bind | readOnly | nosuid | nodev | noexec)
                }
                plan.readOnly(cgroupRoot, .inPlace)
            }
        }
        addDev(to: &plan, dev: dev, privateIPC: options.privateIPC)
        if options.protectPaths {
            for path in readOnlyPaths { plan.readOnly(root + path, path == "/proc/sys" ? .bindRecursive : .bind) }
            for path in maskedPaths where !(options.appMountsSys && path.hasPrefix("/sys/")) { plan.mask(root + path) }
        }
        try addVolumes(to: &plan, app: app, podPath: podPath)
    }

    /// A minimal /dev: a tmpfs without device nodes of its own (nodev), on which the standard
    /// pseudo-devices are bind mounts of the host's; a private devpts, shm, mqueue. With every other
    /// mount the app can write to also nodev, no other device can be opened, whatever nodes the
    /// app creates (rkt's DevicePolicy=closed, without a v1 devices cgroup and its migration cost).
    static func addDev(to plan: inout PlanWriter, dev: String, privateIPC: Bool) {
        plan.mount("tmpfs", on: dev, type: "tmpfs", flags: nosuid | nodev | UInt(MS_STRICTATIME), data: "mode=755,size=65536k")
        for name in ["null", "zero", "full", "random", "urandom", "tty"] {
            plan.file(dev + "/" + name, mode: 0o666)
            plan.mount("/dev/" + name, on: dev + "/" + name, flags: bind)
        }
        plan.mkdir(dev + "/pts")
        plan.mount("devpts", on: dev + "/pts", type: "devpts", flags: nosuid | noexec, data: "newinstance,ptmxmode=0666,mode=0620,gid=5")
        plan.symlink("pts/ptmx", at: dev + "/ptmx")
        plan.mkdir(dev + "/shm", mode: 0o1777)
        plan.mount("tmpfs", on: dev + "/shm", type: "tmpfs", flags: nosuid | nodev | noexec, data: "mode=1777,size=65536k")
        if privateIPC {
            plan.mkdir(dev + "/mqueue")
            plan.mount("mqueue", on: dev + "/mqueue", type: "mqueue", flags: nosuid | nodev | noexec)
        }
        for (name, target) in [("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"), ("stderr", "/proc/self/fd/2"), ("core", "/proc/kcore")] {
            plan.symlink(target, at: dev + "/" + name)
        }
        plan.console(dev + "/console")
    }

    /// Host and empty volumes, parents before children, as stage1-fly mounts them.
    static func addVolumes(to plan: inout PlanWriter, app: AppPlan, podPath: String) throws(Stage1Error) {
        for mount in VolumeMount.parentsFirst(app.mounts) {
            let volume = mount.volume
            let (source, isRecursive) = try mount.hostSource(podPath: podPath)
            let target = try RootPath.resolve(root: app.rootfs, path: mount.path, create: isDirectory(source) ? .directory : .file)
            debug("volume \(volume.name): \(source) on \(target)\(mount.readOnly ? " (ro)" : "")\(isRecursive ? " (rec)" : "")")
            // A device passed as a volume stays usable (rkt's block-devices.md); nothing else is.
            let isDevice = isDeviceNode(source)
            plan.mount(source, on: target, flags: bind | (isRecursive ? recursive : 0) | (mount.readOnly ? readOnly : 0) | (isDevice ? 0 : nodev))
        }
    }
}

func isDeviceNode(_ path: String) -> Bool {
    var st = stat()
    guard stat(path, &st) == 0 else { return false }
    let type = st.st_mode & S_IFMT
    return type == S_IFCHR || type == S_IFBLK
}

/// /etc/hostname, /etc/hosts and /etc/resolv.conf of each app, by rkt's rules.
enum EtcFiles {
    static func write(rootfs: String, hostname: String, run: RunPayload, plan: inout PlanWriter) throws(Stage1Error) {
        let etc = try RootPath.resolve(root: rootfs, path: "/etc", create: .directory)
        try replaceFile(try RootPath.resolve(root: rootfs, path: "/etc/hostname", create: .file), with: hostname + "\n")

        let hosts: String? = try? RootPath.resolve(root: rootfs, path: "/etc/hosts")
        switch run.hostsMode {
        case .host:
            let target = try RootPath.resolve(root: rootfs, path: "/etc/hosts", create: .file)
            plan.mount("/etc/hosts", on: target, flags: PodFilesystem.bind | PodFilesystem.readOnly)
        case .stage0:
            var text = "127.0.0.1\tlocalhost \(hostname)\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            var merged: [(ip: String, names: [String])] = []
            for entry in run.hostsEntries {
                if let i = merged.firstIndex(where: { $0.ip == entry.ip }) { merged[i].names += entry.hostnames } else { merged.append((entry.ip, entry.hostnames)) }
            }
            for entry in merged { text += entry.ip + "\t" + entry.names.joined(separator: " ") + "\n" }
            try replaceFile(hosts ?? etc + "/hosts", with: text)
        default:
            // The image's own file, else rkt's fallback: localhost and the pod's hostname.
            if hosts == nil || fileSize(hosts!) == 0 {
                try replaceFile(hosts ?? etc + "/hosts", with: "127.0.0.1\tlocalhost \(hostname)\n::1\tlocalhost ip6-localhost ip6-loopback\n")
            }
        }

        switch run.dns.mode {
        case .host:
            let target = try RootPath.resolve(root: rootfs, path: "/etc/resolv.conf", create: .file)
            plan.mount("/etc/resolv.conf", on: target, flags: PodFilesystem.bind | PodFilesystem.readOnly)
        case .stage0:
            let path = try RootPath.resolve(root: rootfs, path: "/etc/resolv.conf", create: .file)
            try replaceFile(path, with: run.dns.resolvConf)
        default:
            break
        }
    }

    /// Replaces a file in the app's rootfs (its overlay upper layer) with `text`. `path` was resolved
    /// inside the rootfs; a symlink there is replaced, not followed.
    static func replaceFile(_ path: String, with text: String) throws(Stage1Error) {
        try Stage1Files.write(Data(text.utf8), to: path)
    }

    static func fileSize(_ path: String) -> Int {
        var st = stat()
        return stat(path, &st) == 0 ? Int(st.st_size) : 0
    }
}
