import Foundation
import RktOS
import RktTestSupport
import Testing

/// `rkt run --net` end to end: stage0 creates the pod's namespace and runs Debian's CNI plugins,
/// a copy of the POSIX-shell stage1 that declares `networks` joins it, `rkt gc` undoes it.
/// Each test has its own bridge, subnet and IPAM directory and removes them even on failure.
@Suite(.serialized) struct NetworkTests {
    /// Output of a shell command (tests only: `ip`, `iptables`, `tar`, `jq`).
    @discardableResult
    static func sh(_ command: String) -> (status: Int32, output: String) {
        guard let result = try? Spawn.run("/bin/sh", arguments: ["-c", command], environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], directory: nil) else {
            return (-1, "")
        }
        return (result.status, String(decoding: result.stdout, as: UTF8.self))
    }

    /// Builds the example shell stage1 with `networks` (and `dns`, `hosts`, so requests with them
    /// get written) added to its features, into `dir` (the test's root, removed with it).
    static func buildNetworkStage1(in dir: String) -> String? {
        let src = RktRunner.packageRoot + "/Documentation/examples/stage1-sh"
        let built = sh("""
            mkdir -p '\(dir)' && cp -R '\(src)/.' '\(dir)/stage1-src' &&
            sed -i 's/"ipc-modes"\\]/"ipc-modes","networks","dns","hosts"]/' '\(dir)/stage1-src/rootfs/stage1-sh/lib.sh' &&
            grep -q '"networks"' '\(dir)/stage1-src/rootfs/stage1-sh/lib.sh' && sh '\(dir)/stage1-src/build.sh' '\(dir)/stage1.aci' >/dev/null
            """)
        return built.status == 0 ? dir + "/stage1.aci" : nil
    }

    final class Fixture {
        let rkt: RktRunner
        let stage1: String
        let bridge = "rktit" + String(UUID().uuidString.lowercased().prefix(6))
        let octet = Int.random(in: 10...250)
        var ipamDir: String { rkt.root + "/ipam" }
        var subnetPrefix: String { "10.254.\(octet)." }

        init(_ rkt: RktRunner, _ stage1: String) throws {
            self.rkt = rkt
            self.stage1 = stage1
            try FileManager.default.createDirectory(atPath: rkt.localConfig + "/net.d", withIntermediateDirectories: true)
            try """
                {"cniVersion":"1.0.0","name":"lan","type":"bridge","bridge":"\(bridge)","isGateway":true,"ipMasq":true,
                 "ipam":{"type":"host-local","subnet":"\(subnetPrefix)0/24","dataDir":"\(ipamDir)","routes":[{"dst":"0.0.0.0/0"}]}}
                """.write(toFile: rkt.localConfig + "/net.d/10-lan.conf", atomically: true, encoding: .utf8)
        }

        func run(_ args: [String]) throws -> RktRunner.Result {
            try rkt.run(["--insecure-options=image", "run", "--stage1-path=\(stage1)"] + args)
        }

        var reservations: [String] {
            ((try? FileManager.default.contentsOfDirectory(atPath: ipamDir + "/lan")) ?? []).filter { $0.hasPrefix(subnetPrefix) }
        }

        func leftovers(_ uuid: String) -> [String] {
            var found: [String] = []
            if FileManager.default.fileExists(atPath: "/var/run/netns/rkt-\(uuid)") { found.append("netns") }
            if !reservations.isEmpty { found.append("IPAM \(reservations)") }
            let short = String(uuid.replacingOccurrences(of: "-", with: "").prefix(8))
            let rules = NetworkTests.sh("iptables -w -t nat -S").output.split(separator: "\n").filter { $0.contains(uuid) || $0.contains(short) }
            if !rules.isEmpty { found.append("iptables \(rules)") }
            return found
        }

        deinit {
            _ = try? rkt.run(["gc", "--grace-period=0s"])
            NetworkTests.sh("ip link del \(bridge) 2>/dev/null")
            rkt.cleanup()
        }
    }

    func fixture(_ test: String = #function) throws -> Fixture? {
        guard isRoot else { print("skip \(test): pods with networks need root"); return nil }
        guard FileManager.default.isExecutableFile(atPath: "/usr/lib/cni/bridge") else {
            print("skip \(test): Debian's containernetworking-plugins are not installed"); return nil
        }
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/jq") else { print("skip \(test): the shell stage1 needs jq"); return nil }
        guard let rkt = RktRunner.make(test) else { return nil }
        guard let stage1 = Self.buildNetworkStage1(in: rkt.root + "/stage1") else {
            rkt.cleanup()
            Issue.record("building the shell stage1 with networks failed")
            return nil
        }
        return try Fixture(rkt, stage1)
    }

    func onlyPod(_ rkt: RktRunner) throws -> String {
        let lines = try rkt.ok(["list", "--no-legend", "--full"]).lines
        #expect(lines.count == 1)
        return String(try #require(lines.first).prefix(36))
    }

    @Test func aPodOnABridgeNetworkThenGC() throws {
        guard let f = try fixture() else { return }
        let ip = f.subnetPrefix + "9"
        let ran = try f.run(["--net=lan:IP=\(ip)", RktRunner.image("busybox.aci"), "--exec", "/bin/sh", "--", "-c", "ip -4 -o addr show dev eth0; ip route"])
        #expect(ran.status == 0, "\(ran.stderr)")
        #expect(ran.stdout.contains("inet \(ip)/24"))
        #expect(ran.stdout.contains("default via \(f.subnetPrefix)1"))
        let uuid = try onlyPod(f.rkt)
        #expect(try f.rkt.ok(["list", "--no-legend"]).stdout.contains("lan:ip4=\(ip)"))
        #expect(try f.rkt.ok(["status", uuid]).lines.contains("networks=lan:ip4=\(ip)"))
        #expect(try f.rkt.ok(["list", "--format=json"]).stdout.contains("\"lan:ip4=\(ip)\""))
        // The stage1 request carried the namespace and the attachment.
        let request = try String(contentsOfFile: f.rkt.dataDir + "/pods/run/\(uuid)/stage1/request-run.json", encoding: .utf8)
        #expect(request.contains("\"networkNamespace\":\"/var/run/netns/rkt-\(uuid)\""))
        #expect(request.contains("\"interface\":\"eth0\""))
        #expect(request.contains("\"net\":\"list\""))
        #expect(f.reservations == [ip])
        try f.rkt.ok(["gc", "--grace-period=0s"])
        #expect(f.leftovers(uuid).isEmpty, "\(f.leftovers(uuid))")
    }

    @Test func netErrorsExit254WithTheReason() throws {
        guard let f = try fixture() else { return }
        let image = RktRunner.image("busybox.aci")
        for (net, message) in [("nope", "networks not found: nope"), ("lan,lan", "network lan is given more than once"),
                               ("host,lan", "host cannot be combined with other networks")] {
            let result = try f.run(["--net=\(net)", image, "--exec", "/bin/true"])
            #expect(result.status == 254)
            #expect(result.stderr.contains(message), "\(result.stderr)")
        }
        // Checked before any pod is made.
        #expect(try f.rkt.ok(["list", "--no-legend", "--full"]).lines.isEmpty, "a --net error costs no pod")
        try f.rkt.ok(["gc", "--grace-period=0s"])
        // A plugin error: its message is shown and nothing is left behind. The search path starts
        // with <local-config>/net.d, so a plugin can live beside its configuration.
        try TestExecutable.write("""
            #!/bin/sh
            [ "$CNI_COMMAND" = VERSION ] && { echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}'; exit 0; }
            [ "$CNI_COMMAND" = ADD ] && { echo '{"cniVersion":"1.0.0","code":100,"msg":"no uplink today","details":"test plugin"}'; exit 1; }
            exit 0
            """, to: f.rkt.localConfig + "/net.d/refuse")
        try """
            {"cniVersion":"1.0.0","name":"flaky","plugins":[
             {"type":"bridge","bridge":"\(f.bridge)","isGateway":true,"ipMasq":true,"ipam":{"type":"host-local","subnet":"\(f.subnetPrefix)0/24","dataDir":"\(f.ipamDir)"}},
             {"type":"refuse"}]}
            """.write(toFile: f.rkt.localConfig + "/net.d/20-flaky.conflist", atomically: true, encoding: .utf8)
        let failed = try f.run(["--net=lan,flaky", image, "--exec", "/bin/true"])
        #expect(failed.status == 254)
        #expect(failed.stderr.contains("networking: ADD network flaky (plugin refuse): no uplink today: test plugin"), "\(failed.stderr)")
        let uuid = try onlyPod(f.rkt)
        #expect(f.leftovers(uuid).isEmpty, "\(f.leftovers(uuid))")
        #expect(!FileManager.default.fileExists(atPath: f.rkt.dataDir + "/pods/run/\(uuid)/net-info.json"))
    }

    @Test func dnsAndHostsFlagsReachTheRequest() throws {
        guard let f = try fixture() else { return }
        // The example stage1 declares dns and hosts here but refuses them itself, after stage0
        // wrote the request: enough to read what stage0 sent.
        let ran = try f.run(["--net=lan", "--dns=192.0.2.53", "--dns-search=example.com", "--dns-opt=ndots:2",
                             "--hosts-entry=198.51.100.1=a,198.51.100.1=b", "--hosts-entry=198.51.100.2=c",
                             RktRunner.image("busybox.aci"), "--exec", "/bin/true"])
        #expect(ran.status == 254)
        let uuid = try onlyPod(f.rkt)
        let request = try String(contentsOfFile: f.rkt.dataDir + "/pods/run/\(uuid)/stage1/request-run.json", encoding: .utf8)
        #expect(request.contains(#""dns":{"mode":"stage0","options":["ndots:2"],"search":["example.com"],"servers":["192.0.2.53"]}"#), "\(request)")
        #expect(request.contains(#""hostsEntries":[{"hostnames":["a","b"],"ip":"198.51.100.1"},{"hostnames":["c"],"ip":"198.51.100.2"}]"#))
        #expect(request.contains(#""hostsMode":"stage0""#))
        let bad = try f.run(["--dns=host", "--dns=192.0.2.1", RktRunner.image("busybox.aci"), "--exec", "/bin/true"])
        #expect(bad.status == 254)
        #expect(bad.stderr.contains("--dns=host cannot be combined"))
        try f.rkt.ok(["gc", "--grace-period=0s"])
        #expect(f.leftovers(uuid).isEmpty)
    }

    @Test func aConfigTypeResolvesToANetworkPluginImage() throws {
        guard let f = try fixture() else { return }
        // Debian's bridge plugin packaged as a network-plugin ACI named rkt.dev/bridge-aci; no
        // executable of that name exists on the search path, so rkt finds the image in the store.
        let work = f.rkt.root + "/plugin-aci"
        let aci = f.rkt.root + "/bridge-aci.aci"
        let made = Self.sh("""
            mkdir -p '\(work)/rootfs/bin' && cp /usr/lib/cni/bridge '\(work)/rootfs/bin/bridge' &&
            printf '%s' '{"acKind":"ImageManifest","acVersion":"0.8.11","name":"rkt.dev/bridge-aci","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}],"annotations":[{"name":"rkt.dev/cni-plugin","value":"/bin/bridge"}]}' > '\(work)/manifest' &&
            tar -C '\(work)' -cf '\(aci)' manifest rootfs
            """)
        #expect(made.status == 0)
        try f.rkt.ok(["fetch", "--insecure-options=image", aci])
        try """
            {"cniVersion":"1.0.0","name":"viaimage","type":"bridge-aci","bridge":"\(f.bridge)","isGateway":true,
             "ipam":{"type":"host-local","subnet":"\(f.subnetPrefix)0/24","dataDir":"\(f.ipamDir)"}}
            """.write(toFile: f.rkt.localConfig + "/net.d/30-viaimage.conf", atomically: true, encoding: .utf8)
        let ran = try f.run(["--net=viaimage", RktRunner.image("busybox.aci"), "--exec", "/bin/sh", "--", "-c", "ip -4 -o addr show dev eth0"])
        #expect(ran.status == 0, "\(ran.stderr)")
        #expect(ran.stdout.contains("inet \(f.subnetPrefix)"))
        let uuid = try onlyPod(f.rkt)
        let record = try String(contentsOfFile: f.rkt.dataDir + "/pods/run/\(uuid)/net-info.json", encoding: .utf8)
        #expect(record.contains("/cas/tree/"), "the plugin ran from the image's rendered tree")
        try f.rkt.ok(["gc", "--grace-period=0s"])
        #expect(f.leftovers(uuid).isEmpty, "\(f.leftovers(uuid))")
    }

    @Test func gcSendsCNIGCTo11Plugins() throws {
        guard let f = try fixture() else { return }
        let log = f.rkt.root + "/gc.log"
        try TestExecutable.write("""
            #!/bin/sh
            case "$CNI_COMMAND" in
            VERSION) echo '{"cniVersion":"1.1.0","supportedVersions":["1.0.0","1.1.0"]}' ;;
            GC) cat >> '\(log)' ;;
            esac
            exit 0
            """, to: f.rkt.localConfig + "/net.d/gcrecorder")
        try #"{"cniVersion":"1.1.0","name":"modern","type":"gcrecorder"}"#
            .write(toFile: f.rkt.localConfig + "/net.d/40-modern.conf", atomically: true, encoding: .utf8)
        try f.rkt.ok(["gc", "--grace-period=0s"])
        let sent = try String(contentsOfFile: log, encoding: .utf8)
        #expect(sent.contains(#""cni.dev/valid-attachments":[]"#), "\(sent)")
        #expect(sent.contains(#""name":"modern""#))
    }

    @Test func builtInDefaultAndDefaultRestrictedWithCNIBridge() throws {
        guard let f = try fixture() else { return }
        let binaryDir = URL(fileURLWithPath: f.rkt.binary).deletingLastPathComponent().path
        guard FileManager.default.isExecutableFile(atPath: binaryDir + "/cni-bridge") else {
            print("skip builtInDefaultAndDefaultRestrictedWithCNIBridge: no cni-bridge beside \(f.rkt.binary) (swift build --product cni-bridge)"); return
        }
        // rkt0/rkt1 and host-local's state under /var/lib/cni/networks are the host's: remove only
        // what this test created.
        let preexisting = ["rkt0", "rkt1"].filter { Self.sh("ip link show \($0)").status == 0 }
        defer { for bridge in ["rkt0", "rkt1"] where !preexisting.contains(bridge) { Self.sh("ip link del \(bridge)") } }
        let image = RktRunner.image("busybox.aci")
        // No --net: the stage1 declares networks, so the pod is on `default`.
        let onDefault = try f.run([image, "--exec", "/bin/sh", "--", "-c", "ip -4 -o addr show dev eth0; ip route; ping -c1 -W2 172.16.28.1 >/dev/null && echo gateway-ok"])
        #expect(onDefault.status == 0, "\(onDefault.stderr)")
        #expect(onDefault.stdout.contains("inet 172.16.28."))
        #expect(onDefault.stdout.contains("default via 172.16.28.1"))
        #expect(onDefault.stdout.contains("gateway-ok"), "a pod on default reaches the host")
        let restricted = try f.run(["--net=default-restricted", image, "--exec", "/bin/sh", "--", "-c", "ip -4 -o addr show dev eth0; ip route; ping -c1 -W2 172.31.0.1 >/dev/null && echo host-ok"])
        #expect(restricted.status == 0, "\(restricted.stderr)")
        #expect(restricted.stdout.contains("inet 172.31."))
        #expect(!restricted.stdout.contains("default via"), "default-restricted has no default route")
        #expect(restricted.stdout.contains("host-ok"), "default-restricted reaches the host")
        let uuids = try f.rkt.ok(["list", "--no-legend", "--full"]).lines.map { String($0.prefix(36)) }
        let ips = try uuids.flatMap { try f.rkt.ok(["status", $0]).lines.filter { $0.hasPrefix("networks=") } }
        #expect(ips.count == 2)
        try f.rkt.ok(["gc", "--grace-period=0s"])
        for uuid in uuids { #expect(f.leftovers(uuid).isEmpty) }
        // networks=NAME:ip4=IP
        let recorded = ips.map { line in (String(line.dropFirst("networks=".count).prefix { $0 != ":" }), String(line.split(separator: "=").last ?? "")) }
        #expect(Set(recorded.map(\.0)) == ["default", "default-restricted"])
        for (network, ip) in recorded {
            #expect(!FileManager.default.fileExists(atPath: "/var/lib/cni/networks/\(network)/\(ip)"), "IPAM reservation \(ip) released")
        }
    }

    /// Starts `rkt run` in the background (a server pod) and waits until `rkt list` shows its
    /// address on `network`.
    func startServerPod(_ f: Fixture, net: String, network: String, port: Int, reply: String) throws -> (Subprocess.Background, String) {
        let pod = try Subprocess.start(
            [f.rkt.binary, "--dir=\(f.rkt.dataDir)", "--local-config=\(f.rkt.localConfig)", "--insecure-options=image", "run",
             "--stage1-path=\(f.stage1)", "--net=\(net)", RktRunner.image("busybox.aci"),
             "--exec", "/bin/nc", "--", "-l", "-p", String(port), "-e", "/bin/echo", reply],
            outputFile: f.rkt.root + "/server-\(port).log")
        for _ in 0..<300 where pod.isRunning {
            let listing = (try? f.rkt.run(["list", "--no-legend"]).stdout) ?? ""
            for line in listing.split(separator: "\n") where line.contains("running") {
                if let range = line.range(of: "\(network):ip4=") {
                    // The app may not listen yet right after the address shows: clients retry.
                    return (pod, String(line[range.upperBound...].prefix { $0 == "." || $0.isNumber }))
                }
            }
            usleep(100_000)
        }
        pod.stop()
        throw CocoaError(.fileReadUnknown)
    }

    /// A shell command that connects to HOST:PORT with nc until it is answered (up to 10 tries).
    static func connect(_ host: String, _ port: Int) -> String {
        "for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 3 \(host) \(port) </dev/null && break; sleep 0.5; done"
    }

    @Test func podsOnCNIBridgeAndDebianPtpReachEachOther() throws {
        guard let f = try fixture() else { return }
        let binaryDir = URL(fileURLWithPath: f.rkt.binary).deletingLastPathComponent().path
        guard FileManager.default.isExecutableFile(atPath: binaryDir + "/cni-bridge") else {
            print("skip podsOnCNIBridgeAndDebianPtpReachEachOther: no cni-bridge beside \(f.rkt.binary)"); return
        }
        let preexisting = ["rkt0"].filter { Self.sh("ip link show \($0)").status == 0 }
        defer { if preexisting.isEmpty { Self.sh("ip link del rkt0") } }
        try """
            {"cniVersion":"1.0.0","name":"p2p","type":"ptp","ipMasq":true,
             "ipam":{"type":"host-local","subnet":"10.249.\(f.octet).0/24","dataDir":"\(f.ipamDir)","routes":[{"dst":"0.0.0.0/0"}]}}
            """.write(toFile: f.rkt.localConfig + "/net.d/20-p2p.conf", atomically: true, encoding: .utf8)
        // Server A on default (cni-bridge), server C on p2p (Debian's ptp), side by side.
        let (serverA, ipA) = try startServerPod(f, net: "default", network: "default", port: 7000, reply: "from-a")
        defer { serverA.stop() }
        let (serverC, ipC) = try startServerPod(f, net: "p2p", network: "p2p", port: 7001, reply: "from-c")
        defer { serverC.stop() }
        #expect(ipA.hasPrefix("172.16.28."))
        #expect(ipC.hasPrefix("10.249.\(f.octet)."))
        // Client B on default: reaches A over the bridge and C through the host.
        let client = try f.run(["--net=default", RktRunner.image("busybox.aci"), "--exec", "/bin/sh", "--", "-c",
                                Self.connect(ipA, 7000) + "; " + Self.connect(ipC, 7001)])
        #expect(client.status == 0, "\(client.stderr)")
        #expect(client.stdout.contains("from-a"), "two pods on the same cni-bridge network reach each other")
        #expect(client.stdout.contains("from-c"), "a cni-bridge pod reaches a ptp pod")
        // Each server answers once and its pod ends.
        #expect(serverA.wait(timeout: 60) == 0)
        #expect(serverC.wait(timeout: 60) == 0)
        let uuids = try f.rkt.ok(["list", "--no-legend", "--full"]).lines.map { String($0.prefix(36)) }
        #expect(uuids.count == 3)
        try f.rkt.ok(["gc", "--grace-period=0s"])
        for uuid in uuids { #expect(f.leftovers(uuid).isEmpty, "\(f.leftovers(uuid))") }
    }

    @Test func aForwardedPortAnswersOnHostLoopback() throws {
        guard let f = try fixture() else { return }
        guard FileManager.default.isExecutableFile(atPath: "/bin/busybox") else { print("skip: busybox-static missing"); return }
        // busybox with a port named http in its manifest.
        let work = f.rkt.root + "/img"
        let image = f.rkt.root + "/bb-http.aci"
        let made = Self.sh("""
            mkdir -p '\(work)' && tar -xf '\(RktRunner.image("busybox.aci"))' -C '\(work)' &&
            jq '.name="example.com/bb-http" | .app.ports=[{"name":"http","protocol":"tcp","port":8080}]' '\(work)/manifest' > '\(work)/m' &&
            mv '\(work)/m' '\(work)/manifest' && tar -C '\(work)' -cf '\(image)' manifest rootfs
            """)
        #expect(made.status == 0)
        let port = 42000 + f.octet
        let pod = try Subprocess.start(
            [f.rkt.binary, "--dir=\(f.rkt.dataDir)", "--local-config=\(f.rkt.localConfig)", "--insecure-options=image", "run",
             "--stage1-path=\(f.stage1)", "--net=lan", "--port=http:\(port)", image,
             "--exec", "/bin/nc", "--", "-l", "-p", "8080", "-e", "/bin/echo", "hello-from-pod"],
            outputFile: f.rkt.root + "/server.log")
        defer { pod.stop() }
        var answer = ""
        for _ in 0..<50 where !answer.contains("hello-from-pod") {
            usleep(200_000)
            answer = Self.sh("/bin/busybox nc -w 2 127.0.0.1 \(port) </dev/null").output
        }
        #expect(answer.contains("hello-from-pod"))
        #expect(pod.wait(timeout: 60) == 0, "the server pod ends once it answered")
        let uuid = try onlyPod(f.rkt)
        try f.rkt.ok(["gc", "--grace-period=0s"])
        #expect(f.leftovers(uuid).isEmpty, "\(f.leftovers(uuid))")
        #expect(!Self.sh("iptables -w -t nat -S").output.contains("RKT-PFWD"))
    }
}
