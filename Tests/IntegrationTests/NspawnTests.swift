import Foundation
import RktOS
import RktTestSupport
import Testing

/// stage1-nspawn, the default stage1, through the built `rkt` as root: namespaces, isolators,
/// volumes, the supervisor's lifecycle, enter, logs, gc. Checks are made from inside the pod.
@Suite(.serialized) struct NspawnTests {
    static let aci: String? = {
        let path = ProcessInfo.processInfo.environment["RKT_STAGE1_NSPAWN_ACI"] ?? RktRunner.packageRoot + "/images/out/stage1-nspawn.aci"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }()

    /// A runner whose stage1 images directory holds stage1-nspawn.aci, so it is found as the default.
    func runner(_ test: String = #function) throws -> RktRunner? {
        guard isRoot else { print("skip \(test): running pods needs root"); return nil }
        guard let aci = Self.aci else { print("skip \(test): no stage1-nspawn.aci (run images/stage1-nspawn/build.sh)"); return nil }
        guard let rkt = RktRunner.make(test) else { return nil }
        try rkt.installStage1Image(aci, as: "stage1-nspawn.aci")
        _ = try rkt.fetch("busybox.aci")
        return rkt
    }

    /// gc first (it removes the pods' cgroups), then the test's files.
    func finish(_ rkt: RktRunner) {
        _ = try? rkt.run(["gc", "--grace-period=0s"])
        rkt.cleanup()
    }

    /// Runs `script` with /bin/sh in a one-app busybox pod; extra flags go before the image.
    func sh(_ rkt: RktRunner, _ script: String, flags: [String] = [], appFlags: [String] = []) throws -> RktRunner.Result {
        try rkt.run(["--insecure-options=image", "run"] + flags + [RktRunner.image("busybox.aci")] + appFlags + ["--exec", "/bin/sh", "--", "-c", script])
    }

    static func field(_ name: String, in text: String) -> String? {
        for line in text.split(separator: "\n") where line.hasPrefix(name + ":") || line.hasPrefix(name + "=") {
            return line.dropFirst(name.count + 1).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    @Test func defaultStage1RunsAPodInItsOwnNamespaces() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        let uuidFile = rkt.root + "/uuid"
        let hello = try rkt.run(["--insecure-options=image", "run", "--uuid-file-save=\(uuidFile)", RktRunner.image("busybox.aci"), "--exec", "/bin/echo", "--", "hello"])
        #expect(hello.status == 0, "\(hello.stderr)")
        #expect(hello.stdout == "hello\n")
        let stage1 = try rkt.ok(["image", "list", "--no-legend", "--fields=name"]).lines.map { $0.trimmingCharacters(in: .whitespaces) }
        #expect(stage1.contains { $0.hasPrefix("rkt.dev/stage1-nspawn") }, "the default stage1 is nspawn: \(stage1)")

        let uuid = try String(contentsOfFile: uuidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let probe = try sh(rkt, "hostname; ps -o pid | wc -l; cat /proc/net/dev | wc -l; for n in pid uts ipc net mnt; do readlink /proc/self/ns/$n; done; ls /proc/self/fd | wc -l",
                           flags: ["--net=none", "--hostname=pod-one"])
        #expect(probe.status == 0, "\(probe.stderr)")
        let lines = probe.lines
        try #require(lines.count == 9, "\(probe.stdout)")
        #expect(lines[0] == "pod-one")
        // ps header, init, sh, ps, wc: nothing of the host's.
        #expect(Int(lines[1]) ?? 99 <= 5, "the pod sees only its own processes: \(lines[1])")
        #expect(lines[2] == "3", "--net=none: loopback only (2 header lines + lo)")
        for (i, kind) in ["pid", "uts", "ipc", "net", "mnt"].enumerated() {
            let host = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/\(kind)")
            #expect(lines[3 + i] != host, "the app has its own \(kind) namespace")
        }
        // 0, 1, 2 and ls's own directory descriptor: nothing inherited from the host.
        #expect(lines[8] == "4", "no host descriptor leaks into the app")
        #expect(uuid.count == 36)

        // --ipc=parent shares the host's IPC namespace; hosts entries and DNS servers from the flags.
        let shared = try sh(rkt, "readlink /proc/self/ns/ipc; cat /etc/hosts /etc/resolv.conf",
                            flags: ["--net=none", "--ipc=parent", "--hosts-entry=10.1.2.3=db.example", "--dns=10.0.0.53", "--dns-search=example.com"])
        #expect(shared.status == 0, "\(shared.stderr)")
        #expect(shared.lines.first == (try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/ipc")))
        #expect(shared.stdout.contains("10.1.2.3\tdb.example") || shared.stdout.contains("10.1.2.3 db.example"), "\(shared.stdout)")
        #expect(shared.stdout.contains("nameserver 10.0.0.53"))
        #expect(shared.stdout.contains("search example.com"))

        let host = try sh(rkt, "cat /proc/net/dev | wc -l", flags: ["--net=host"])
        let hostLines = try String(contentsOfFile: "/proc/net/dev", encoding: .utf8).split(separator: "\n").count
        #expect(host.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "\(hostLines)", "--net=host shares the host's network")
    }

    /// `run-prepared` takes run's pod-level flags (--dns*, --hosts-entry, --hostname, --ipc), with
    /// the same checks: a bad combination is refused before the pod leaves prepared/.
    @Test func runPreparedTakesDNSHostsAndHostname() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        let uuid = try rkt.ok(["--insecure-options=image", "prepare", "--quiet", RktRunner.image("busybox.aci"), "--exec", "/bin/sh", "--", "-c",
                               "hostname; cat /etc/hosts /etc/resolv.conf"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let bad = try rkt.run(["run-prepared", "--net=none", "--dns=host", "--dns=10.0.0.1", uuid])
        #expect(bad.status == 254 && bad.stderr.contains("--dns=host cannot be combined"), "\(bad.stderr)")
        #expect(try rkt.ok(["status", uuid]).lines.first == "state=prepared", "a refused run-prepared leaves the pod prepared")
        let ran = try rkt.run(["run-prepared", "--net=none", "--hostname=prepped", "--hosts-entry=10.9.8.7=cache.example",
                               "--dns=10.0.0.53", "--dns-search=example.org", "--dns-opt=ndots:3", "--ipc=private", uuid])
        #expect(ran.status == 0, "\(ran.stderr)")
        #expect(ran.lines.first == "prepped", "\(ran.stdout)")
        #expect(ran.stdout.contains("10.9.8.7\tcache.example") || ran.stdout.contains("10.9.8.7 cache.example"), "\(ran.stdout)")
        #expect(ran.stdout.contains("nameserver 10.0.0.53") && ran.stdout.contains("search example.org") && ran.stdout.contains("options ndots:3"),
                "\(ran.stdout)")
    }

    /// The default network (cni-bridge, found beside the rkt binary): the pod's eth0 gets an
    /// address, the gateway answers, and gc leaves no namespace behind.
    @Test func defaultNetworkThroughCNIBridge() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        let bridge = URL(fileURLWithPath: rkt.binary).deletingLastPathComponent().appendingPathComponent("cni-bridge").path
        guard FileManager.default.isExecutableFile(atPath: bridge) else { print("skip defaultNetworkThroughCNIBridge: no cni-bridge beside \(rkt.binary)"); return }
        let uuidFile = rkt.root + "/uuid"
        let result = try sh(rkt, "ip -4 addr show eth0 | grep -c 'inet 172.16.28.'; ping -c1 -W2 172.16.28.1 >/dev/null && echo gateway=ok",
                            flags: ["--uuid-file-save=\(uuidFile)"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        #expect(result.lines.first == "1", "eth0 on the default network: \(result.stdout)")
        #expect(result.stdout.contains("gateway=ok"))
        let uuid = try String(contentsOfFile: uuidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try rkt.ok(["status", uuid]).lines.contains { $0.hasPrefix("networks=default:ip4=172.16.28.") })
        try rkt.ok(["gc", "--grace-period=0s"])
        #expect(!FileManager.default.fileExists(atPath: "/var/run/netns/rkt-\(uuid)"), "gc removes the pod's network namespace")
    }

    @Test func defaultSecurity() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        let script = """
            grep -E '^(CapBnd|CapEff|Seccomp|NoNewPrivs):' /proc/self/status
            mount -t tmpfs none /mnt 2>/dev/null && echo mount=ok || echo mount=denied
            (echo x > /proc/sysrq-trigger) 2>/dev/null && echo sysrq=writable || echo sysrq=denied
            echo kallsyms=$(wc -c < /proc/kallsyms)
            touch /sys/x 2>/dev/null && echo sys=writable || echo sys=denied
            (echo 1 > /sys/fs/cgroup/memory/memory.limit_in_bytes) 2>/dev/null && echo cgroup=writable || echo cgroup=denied
            mknod /tmp/sda b 8 0 2>/dev/null; (head -c1 /tmp/sda >/dev/null) 2>/dev/null && echo disk=readable || echo disk=denied
            ls /dev | tr '\\n' ' '; echo
            readlink /proc/1/exe >/dev/null 2>&1 && echo initexe=visible || echo initexe=hidden
            """
        let result = try sh(rkt, script, flags: ["--net=none"])
        #expect(result.status == 0, "\(result.stderr)")
        let out = result.stdout
        // rkt's default bounding set: audit_write chown dac_override fowner fsetid kill mknod
        // net_bind_service net_raw setfcap setgid setpcap setuid sys_chroot.
        #expect(Self.field("CapBnd", in: out) == "00000000a80425fb", "\(out)")
        #expect(Self.field("CapEff", in: out) == "00000000a80425fb")
        #expect(Self.field("Seccomp", in: out) == "2", "the default seccomp filter is on")
        #expect(Self.field("mount", in: out) == "denied")
        #expect(Self.field("sysrq", in: out) == "denied")
        #expect(Self.field("kallsyms", in: out) == "0", "masked")
        #expect(Self.field("sys", in: out) == "denied")
        #expect(Self.field("cgroup", in: out) == "denied")
        #expect(Self.field("disk", in: out) == "denied", "the device policy denies other devices")
        #expect(Self.field("initexe", in: out) == "hidden", "the supervisor's /proc entries are out of reach")
        let dev = out.split(separator: "\n").first { $0.contains("null") && $0.contains("urandom") } ?? ""
        // (console exists only for a pod with a terminal: interactiveAppGetsTheTerminal checks it.)
        for node in ["core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin", "stdout", "tty", "urandom", "zero"] {
            #expect(dev.split(separator: " ").contains(Substring(node)), "/dev has \(node): \(dev)")
        }

        let insecure = try sh(rkt, "grep -E '^(CapBnd|Seccomp):' /proc/self/status; echo kallsyms=$(wc -c < /proc/kallsyms)",
                              flags: ["--net=none", "--insecure-options=image,capabilities,seccomp,paths"])
        #expect(Self.field("Seccomp", in: insecure.stdout) == "0", "\(insecure.stdout) \(insecure.stderr)")
        #expect(Self.field("CapBnd", in: insecure.stdout) != "00000000a80425fb")
        #expect(Self.field("kallsyms", in: insecure.stdout) != "0")
    }

    /// With the in-pod probe (images/probe): what an app must not be able to do, each in its own
    /// pod since the default seccomp filter kills the app on the first forbidden call (status 159).
    @Test func appsCannotEscape() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        guard FileManager.default.fileExists(atPath: RktRunner.image("probe.aci")) else {
            print("skip appsCannotEscape: no probe.aci (images/build.sh builds it; needs gcc)"); return
        }
        _ = try rkt.fetch("probe.aci")
        func probe(_ flags: [String], runFlags: [String] = []) throws -> RktRunner.Result {
            try rkt.run(["--insecure-options=image", "run", "--net=none"] + runFlags + ["rkt.dev/probe", "--exec", "/probe", "--"] + flags)
        }
        for attempt in ["--try-mount", "--try-keyctl", "--try-ptrace=1", "--try-syscall=unshare", "--try-syscall=init_module", "--try-syscall=reboot", "--try-syscall=swapon"] {
            let result = try probe([attempt])
            let refused = result.status == 159 || result.stdout.contains("errno=EPERM") || result.stdout.contains("errno=ENOSYS")
                || result.stdout.contains("errno=EACCES")
            #expect(refused, "\(attempt) must be refused: status \(result.status), \(result.stdout)")
        }
        // No host descriptor reaches the app, even one the caller left open without close-on-exec.
        let leak = try Subprocess.run(
            ["/bin/sh", "-c", "exec 7</dev/null 8>/dev/null; exec \"$0\" \"$@\"", rkt.binary,
             "--dir=\(rkt.dataDir)", "--local-config=\(rkt.localConfig)", "--system-config=\(rkt.systemConfig)",
             "--insecure-options=image", "run", "--net=none", "rkt.dev/probe", "--exec", "/probe", "--", "--list-fds", "--print-pid", "--list-pids"])
        let text = leak.stdout
        #expect(leak.status == 0, "\(text) \(leak.stderr)")
        #expect(text.contains("fds=\n") || text.split(separator: "\n").contains("fds="), "descriptors leaked into the app: \(text)")
        #expect(text.contains("pid=2"), "the app's pid in its pod: \(text)")
        #expect(text.split(separator: "\n").contains { $0 == "pids=1,2" }, "the pod sees its init and the app only: \(text)")
    }

    @Test func isolatorsFromTheCommandLine() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        let script = """
            cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/cpu/cpu.cfs_quota_us /proc/self/oom_score_adj
            grep -E '^(CapBnd|CapEff|NoNewPrivs):' /proc/self/status
            """
        let limited = try sh(rkt, script, flags: ["--net=none"],
                             appFlags: ["--memory=64M", "--cpu=500m", "--oom-score-adj=100", "--caps-retain=CAP_NET_BIND_SERVICE,CAP_CHOWN"])
        #expect(limited.status == 0, "\(limited.stderr)")
        let lines = limited.lines
        try #require(lines.count >= 6, "\(limited.stdout)")
        #expect(lines[0] == "\(64 * 1000 * 1000)" || lines[0] == "\(64 << 20)", "memory limit: \(lines[0])")
        #expect(lines[1] == "50000", "500m of a 100 ms period")
        #expect(lines[2] == "100")
        #expect(Self.field("CapBnd", in: limited.stdout) == String(format: "%016x", (1 << 10) | (1 << 0)))
        // A non-root app holds no capabilities and gets no_new_privs with its seccomp filter (rkt).
        let user = try sh(rkt, "id -u; grep -E '^(CapEff|NoNewPrivs):' /proc/self/status", flags: ["--net=none"], appFlags: ["--user=1000", "--group=1000"])
        #expect(user.lines.first == "1000", "\(user.stdout) \(user.stderr)")
        #expect(Self.field("CapEff", in: user.stdout) == "0000000000000000")
        #expect(Self.field("NoNewPrivs", in: user.stdout) == "1")
        // A seccomp remove set with an errno: the call fails instead of killing the app.
        let seccomp = try sh(rkt, "hostname x 2>&1; echo rc=$?", flags: ["--net=none", "--insecure-options=image,capabilities"],
                             appFlags: ["--seccomp=mode=remove,errno=ENOTSUP,sethostname"])
        #expect(seccomp.stdout.contains("rc=1"), "\(seccomp.stdout) \(seccomp.stderr)")
        #expect(seccomp.stdout.lowercased().contains("not supported"), "\(seccomp.stdout)")
    }

    @Test func multiAppPodsVolumesAndLogs() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        let host = rkt.root + "/shared"
        try FileManager.default.createDirectory(atPath: host, withIntermediateDirectories: true)
        try "from-host\n".write(toFile: host + "/in", atomically: true, encoding: .utf8)
        let uuidFile = rkt.root + "/uuid"
        let image = RktRunner.image("busybox.aci")
        let result = try rkt.run([
            "--insecure-options=image", "run", "--net=none", "--uuid-file-save=\(uuidFile)",
            "--volume=data,kind=host,source=\(host)", "--volume=scratch,kind=empty",
            image, "--name=writer", "--mount=volume=data,target=/data", "--mount=volume=scratch,target=/scratch",
            "--exec", "/bin/sh", "--", "-c", "cat /data/in; echo written > /data/out; echo shared > /scratch/s; sleep 30; echo never",
            "---", image, "--name=failer", "--mount=volume=scratch,target=/s", "--readonly-rootfs=true",
            "--exec", "/bin/sh", "--", "-c", "sleep 0.5; cat /s/s; touch /rootfs-write 2>/dev/null || echo read-only; exit 7",
        ])
        // The first failing app ends the pod, and its status is rkt run's.
        #expect(result.status == 7, "\(result.stdout) \(result.stderr)")
        #expect(result.stdout.contains("from-host"))
        #expect(result.stdout.contains("shared"), "the empty volume is shared between the apps")
        #expect(result.stdout.contains("read-only"))
        #expect(!result.stdout.contains("never"), "the other app was stopped")
        #expect(try String(contentsOfFile: host + "/out", encoding: .utf8) == "written\n")
        let uuid = try String(contentsOfFile: uuidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let status = try rkt.ok(["status", uuid]).lines
        #expect(status.contains("app-failer=7"), "\(status)")
        #expect(status.contains("app-writer=143"), "TERM'd: \(status)")
        let logs = try rkt.ok(["logs", uuid]).stdout
        #expect(logs.contains("writer: from-host") && logs.contains("failer: read-only"), "\(logs)")
        #expect(try rkt.ok(["logs", "--app=failer", uuid]).stdout.contains("read-only"))
        #expect(try rkt.run(["logs", "--app=nope", uuid]).status == 254)
    }

    @Test func stopEnterAndGC() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        let uuidFile = rkt.root + "/uuid"
        let pod = try Subprocess.start(
            [rkt.binary, "--dir=\(rkt.dataDir)", "--local-config=\(rkt.localConfig)", "--system-config=\(rkt.systemConfig)",
             "--insecure-options=image", "run", "--net=none", "--uuid-file-save=\(uuidFile)", RktRunner.image("busybox.aci"),
             "--memory=32M", "--exec", "/bin/sh", "--", "-c", "echo started; exec sleep 60"],
            outputFile: rkt.root + "/pod.log")
        defer { pod.stop(grace: 0) }
        for _ in 0..<600 where !FileManager.default.fileExists(atPath: uuidFile) && pod.isRunning { usleep(50_000) }
        let uuid = try String(contentsOfFile: uuidFile, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        try rkt.ok(["status", "--wait-ready=60s", uuid])
        for _ in 0..<600 {
            if (try? rkt.run(["logs", uuid]))?.stdout.contains("started") == true { break }
            usleep(50_000)
        }

        // enter: the app's namespaces, user, bounding set, seccomp filter and cgroup.
        let entered = try rkt.run(["enter", uuid, "/bin/sh", "-c",
                                   "hostname; grep -E '^(CapBnd|Seccomp):' /proc/self/status; cat /sys/fs/cgroup/memory/memory.limit_in_bytes; ps -o comm | grep -c sleep"])
        #expect(entered.status == 0, "\(entered.stderr)")
        #expect(entered.lines.first == "rkt-\(uuid)")
        #expect(Self.field("CapBnd", in: entered.stdout) == "00000000a80425fb", "\(entered.stdout)")
        #expect(Self.field("Seccomp", in: entered.stdout) == "2")
        // 32M, rounded down to whole pages by the kernel.
        let limit = entered.lines.compactMap { Int($0) }.first { $0 > 1_000_000 } ?? 0
        #expect(32_000_000 - limit < 4096 && limit <= 32_000_000, "enter joins the app's cgroup: \(entered.stdout)")
        #expect(entered.lines.last == "1", "enter sees the app's processes")
        let exitCode = try rkt.run(["enter", uuid, "/bin/sh", "-c", "exit 3"])
        #expect(exitCode.status == 3)

        try rkt.ok(["stop", uuid])
        let ended = pod.wait(timeout: 60)
        #expect(ended == 143, "SIGTERM ended the app: \(String(describing: ended))")
        #expect(try rkt.ok(["status", uuid]).lines.contains("app-busybox=143"))
        #expect(try rkt.run(["stop", uuid]).status != 0, "stopping an exited pod fails")

        let cgroups = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)
        let memory = cgroups.split(separator: "\n").first { $0.contains(":memory:") }.map { String($0.split(separator: ":")[2]) } ?? "/"
        let podCgroup = "/sys/fs/cgroup/memory" + (memory == "/" ? "" : memory) + "/rkt-" + uuid
        #expect(FileManager.default.fileExists(atPath: podCgroup), "the pod's cgroup exists until gc: \(podCgroup)")
        try rkt.ok(["gc", "--grace-period=0s"])
        #expect(!FileManager.default.fileExists(atPath: podCgroup), "gc removes the pod's cgroups")
        #expect(Mounts.mountPoints(under: rkt.dataDir).isEmpty, "gc unmounts the pod")
    }

    /// `--interactive`: the app gets the terminal (a pty from `script`) as its stdio and /dev/console.
    @Test func interactiveAppGetsTheTerminal() throws {
        guard let rkt = try runner() else { return }
        defer { finish(rkt) }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/script") else { print("skip interactiveAppGetsTheTerminal: no script(1)"); return }
        let command = ([rkt.binary, "--dir=\(rkt.dataDir)", "--local-config=\(rkt.localConfig)", "--system-config=\(rkt.systemConfig)",
                        "--insecure-options=image", "run", "--interactive", "--net=none", "example.com/busybox", "--exec", "/bin/sh", "--", "-c",
                        "tty; [ -t 0 ] && echo stdin-is-tty; read x; echo got=$x; exit 6"]).map { "'" + $0 + "'" }.joined(separator: " ")
        // The line is typed once the app shows it reads the terminal (typed earlier, it could be
        // lost while the terminal is set up); a lost line fails after the time limit, not never.
        let script = try Subprocess.run(["/usr/bin/script", "-qec", command, "/dev/null"],
                                        interaction: [.init(waitFor: "stdin-is-tty", send: "typed-line\n")], timeout: 120)
        let text = script.stdout
        #expect(script.status == 6, "\(text) \(script.stderr)")
        #expect(text.contains("/dev/console"), "\(text)")
        #expect(text.contains("stdin-is-tty"))
        #expect(text.contains("got=typed-line"))
    }

    @Test func nspawnPassesTheConformanceKit() throws {
        guard isRoot, let aci = Self.aci, let binary = RktRunner.locateBinary(), RktRunner.imagesDir != nil else {
            print("skip nspawnPassesTheConformanceKit: needs root, stage1-nspawn.aci and the rkt binary"); return
        }
        let (status, text) = try runConformanceKit(stage1: aci, binary: binary)
        #expect(status == 0, "\(text)")
        #expect(passed("apps: two apps, both run", in: text), "\(text)")
        #expect(passed("enter: command in the app", in: text))
        #expect(passed("stop: TERM ends the pod", in: text))
    }
}
