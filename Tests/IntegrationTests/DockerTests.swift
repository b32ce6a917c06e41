import Foundation
import RktOS
import RktTestSupport
import Testing

/// Docker and OCI images end to end: layouts built with umoci from busybox-static, pushed with
/// skopeo to Debian's docker-registry on 127.0.0.1, fetched and run through the built `rkt`; a
/// small Python registry emulator for token auth, tampered and truncated blobs.
@Suite(.serialized) struct DockerTests {
    static let tools = ["/usr/bin/umoci", "/usr/bin/skopeo", "/usr/bin/docker-registry", "/usr/bin/python3", "/usr/bin/curl", "/bin/busybox"]

    func setUp(_ test: String = #function) throws -> (RktRunner, DockerFixture)? {
        guard isRoot else { print("skip \(test): umoci unpacking and the registry's files need root"); return nil }
        if let missing = Self.tools.first(where: { !FileManager.default.isExecutableFile(atPath: $0) }) {
            print("skip \(test): \(missing) missing (sh scripts/deps.sh installs it)")
            return nil
        }
        guard let rkt = RktRunner.make(test) else { return nil }
        let fixture = try DockerFixture(root: rkt.root + "/fixture")
        return (rkt, fixture)
    }

    func layerCount(_ rkt: RktRunner) throws -> Int {
        try rkt.ok(["image", "list", "--no-legend", "--fields=name"]).lines.filter { $0.contains("oci-layer/sha256-") }.count
    }

    @Test func registryFetchRenderRunAndShare() throws {
        guard let (rkt, fixture) = try setUp() else { return }
        defer { rkt.cleanup() }
        let registry = try Subprocess.start(["/usr/bin/docker-registry", "serve", try fixture.registryConfig()], outputFile: fixture.root + "/registry.log")
        defer { registry.stop() }
        try waitForHTTP("http://127.0.0.1:\(fixture.port)/v2/")
        for tag in ["latest", "other", "multi"] {
            try shell("skopeo copy --quiet --all --dest-tls-verify=false oci:\(fixture.layout):\(tag) docker://127.0.0.1:\(fixture.port)/busybox:\(tag) >/dev/null")
        }
        let image = "docker://127.0.0.1:\(fixture.port)/busybox:latest"

        // Plain HTTP needs the insecure option, as in rkt.
        // Docker images have no signature: rkt wants --insecure-options=image, as rkt did.
        let unsigned = try rkt.run(["fetch", "--insecure-options=http", image])
        #expect(unsigned.status == 254)
        #expect(unsigned.stderr.contains("--insecure-options=image"), "\(unsigned.stderr)")
        let refused = try rkt.run(["fetch", "--insecure-options=image", image])
        #expect(refused.status == 254)
        #expect(refused.stderr.contains("--insecure-options=http"), "\(refused.stderr)")

        let id = try rkt.ok(["fetch", "--insecure-options=http,image", image]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("sha512-"))
        #expect(try layerCount(rkt) == 3)
        let names = try rkt.ok(["image", "list", "--no-legend", "--fields=name"]).stdout
        #expect(names.contains("127.0.0.1-\(fixture.port)/busybox"))

        let manifest = try rkt.ok(["image", "cat-manifest", id]).stdout
        #expect(manifest.contains("\"volume-data\""), "VOLUME /data became a mount point: \(manifest)")
        #expect(manifest.contains("\"80-tcp\""))
        #expect(manifest.contains("appc.io/docker/volume-copy-up"))

        // The merged rootfs: the whiteout removed etc/removeme, the opaque data/ kept only c.
        let rendered = rkt.root + "/rendered"
        try rkt.ok(["image", "render", "--rootfs-only", id, rendered])
        #expect(!FileManager.default.fileExists(atPath: rendered + "/etc/removeme"))
        #expect(FileManager.default.fileExists(atPath: rendered + "/etc/passwd"))
        #expect((try? FileManager.default.contentsOfDirectory(atPath: rendered + "/data"))?.sorted() == ["c"])
        #expect(FileManager.default.fileExists(atPath: rendered + "/top-a.txt"))

        // A second image sharing all but its top layer costs one new layer.
        try rkt.ok(["fetch", "--insecure-options=http,image", "docker://127.0.0.1:\(fixture.port)/busybox:other"])
        #expect(try layerCount(rkt) == 4)
        // A tag pointing at an image index: the amd64 entry (which is `latest`) is chosen.
        let multi = try rkt.ok(["fetch", "--insecure-options=http,image", "docker://127.0.0.1:\(fixture.port)/busybox:multi"]).stdout
        #expect(try layerCount(rkt) == 4)
        let multiRoot = rkt.root + "/multi"
        try rkt.ok(["image", "render", "--rootfs-only", multi.trimmingCharacters(in: .whitespacesAndNewlines), multiRoot])
        #expect(FileManager.default.fileExists(atPath: multiRoot + "/top-a.txt"))

        // 404: a tag the registry does not have.
        let missing = try rkt.run(["fetch", "--insecure-options=http,image", "docker://127.0.0.1:\(fixture.port)/busybox:nope"])
        #expect(missing.status == 254)
        #expect(missing.stderr.contains("manifest unknown"), "\(missing.stderr)")

        // Layers in use survive gc and cannot be removed; gc takes them once no image uses them.
        let layer = try rkt.ok(["image", "list", "--no-legend", "--fields=id,name"]).lines.first { $0.contains("oci-layer/") }!
        let layerID = String(layer.split(separator: " ")[0])
        let rm = try rkt.run(["image", "rm", layerID])
        #expect(rm.status != 0)
        #expect(rm.stderr.contains("is a dependency of"), "\(rm.stderr)")

        if let fly = Self.flyStage1 {
            try rkt.installStage1Image(fly, as: "stage1-fly.aci")
            let hi = try rkt.run(["run", "--insecure-options=http,image", "--stage1-from-dir=stage1-fly.aci", image, "--exec", "/bin/echo", "--", "hi"])
            #expect(hi.status == 0, "\(hi.stderr)")
            #expect(hi.stdout == "hi\n")
            // The image's own exec: Cmd ["sh"] found along the image's PATH, in its WorkingDir.
            let own = try rkt.run(["run", "--insecure-options=http,image", "--stage1-from-dir=stage1-fly.aci", image, "--", "-c", "echo $PWD"])
            #expect(own.status == 0, "\(own.stderr)")
            #expect(own.stdout == "/data\n")
            // The same image under stage1-nspawn when it is built. (The example shell stage1 refuses
            // this image: it has no volume support and VOLUME /data is a mount point.)
            let nspawn = RktRunner.packageRoot + "/images/out/stage1-nspawn.aci"
            if FileManager.default.fileExists(atPath: nspawn) {
                try FileManager.default.copyItem(atPath: nspawn, toPath: rkt.root + "/stage1-images/stage1-nspawn.aci")
                let run = try rkt.run(["run", "--insecure-options=http,image", "--stage1-from-dir=stage1-nspawn.aci", image, "--exec", "/bin/echo", "--", "hi"])
                #expect(run.status == 0 && run.stdout == "hi\n", "stage1-nspawn: \(run.stderr)")
            } else {
                print("skip the stage1-nspawn run: no images/out/stage1-nspawn.aci")
            }
            // And in a VM: the layered overlay rootfs reaches the guest over 9p (one TCG boot).
            let kvm = ProcessInfo.processInfo.environment["RKT_STAGE1_KVM_ACI"] ?? RktRunner.packageRoot + "/images/out/stage1-kvm.aci"
            if FileManager.default.fileExists(atPath: kvm) {
                try FileManager.default.copyItem(atPath: kvm, toPath: rkt.root + "/stage1-images/stage1-kvm.aci")
                let run = try rkt.run(["run", "--insecure-options=http,image", "--net=none", "--stage1-from-dir=stage1-kvm.aci", image, "--", "-c", "echo in-vm $PWD"])
                #expect(run.status == 0 && run.stdout == "in-vm /data\n", "stage1-kvm: \(run.status) \(run.stdout) \(run.stderr)")
            } else {
                print("skip the stage1-kvm run: no stage1-kvm.aci")
            }
            try rkt.ok(["gc", "--grace-period=0s"])
        } else {
            print("skip the stage1-fly run: no images/out/stage1-fly.aci")
        }

        try rkt.ok(["image", "gc", "--grace-period=0s"])
        let left = try rkt.ok(["image", "list", "--no-legend", "--fields=name"]).lines.filter { !$0.contains("stage1") }
        #expect(left.isEmpty, "everything but stage1 unused: \(left)")
    }

    static let flyStage1: String? = {
        let path = ProcessInfo.processInfo.environment["RKT_STAGE1_FLY_ACI"] ?? RktRunner.packageRoot + "/images/out/stage1-fly.aci"
        return FileManager.default.fileExists(atPath: path) ? path : nil
    }()

    /// Layers rendered once into trees of their own and shared: a pod's rootfs is an overlay of
    /// them (whiteouts and opaque directories honoured), `--no-overlay` flattens the same tree, a
    /// second image costs only its new layer, and gc keeps a layer while an image uses it.
    @Test func layerTreesSharedMountedAndCollected() throws {
        guard let (rkt, fixture) = try setUp() else { return }
        defer { rkt.cleanup() }
        let trees = rkt.dataDir + "/cas/tree"
        func layerTrees() -> Set<String> { Set(((try? FileManager.default.contentsOfDirectory(atPath: trees)) ?? []).filter { $0.hasPrefix("layer-") }) }
        func inode(_ path: String) -> UInt64 {
            var st = stat()
            return lstat(path, &st) == 0 ? UInt64(st.st_ino) : 0
        }
        /// The layer trees an image's tree names, top first.
        func layersOf(_ key: String) throws -> [String] {
            let tree = try #require(try FileManager.default.contentsOfDirectory(atPath: trees).first {
                $0.hasPrefix("deps-") && (try? String(contentsOfFile: trees + "/" + $0 + "/image", encoding: .utf8)) == key
            }, "no tree for \(key)")
            return try String(contentsOfFile: trees + "/" + tree + "/layers", encoding: .utf8).split(separator: "\n").map(String.init)
        }

        let latest = try rkt.ok(["fetch", "--full", "--insecure-options=image", "oci:\(fixture.layout):latest"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let latestLayers = try layersOf(latest)
        #expect(latestLayers.count == 3)
        #expect(layerTrees() == Set(latestLayers))
        // Whiteouts in overlayfs's form in the second layer's tree.
        let second = trees + "/" + latestLayers[1] + "/rootfs"
        var st = stat()
        #expect(lstat(second + "/etc/removeme", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR && st.st_rdev == 0)
        #expect(lstat(second + "/var/gone", &st) == 0 && (st.st_mode & S_IFMT) == S_IFCHR)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: second + "/opt/o")) ?? []) == ["z"])
        let before = Dictionary(uniqueKeysWithValues: latestLayers.map { ($0, inode(trees + "/" + $0 + "/rootfs")) })

        // The second image shares two layers: only its top layer is rendered.
        let other = try rkt.ok(["fetch", "--full", "--insecure-options=image", "oci:\(fixture.layout):other"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let otherLayers = try layersOf(other)
        #expect(Array(otherLayers.dropFirst()) == Array(latestLayers.dropFirst()), "bottom layers shared")
        #expect(otherLayers[0] != latestLayers[0])
        #expect(layerTrees().count == 4)
        for (id, node) in before { #expect(inode(trees + "/" + id + "/rootfs") == node, "\(id) was not rendered again") }
        let listing = try rkt.ok(["image", "list", "--no-legend", "--fields=name,layers"]).lines
        #expect(listing.filter { $0.contains("oci-layer/") && $0.contains("layer of 2 images") }.count == 2, "\(listing)")
        #expect(listing.contains { $0.contains("local/layout") && $0.split(separator: " ").last == "3" }, "\(listing)")

        if let fly = Self.flyStage1 {
            let script = "test -e /etc/removeme && echo removeme; test -e /var/gone && echo gone; ls /opt/o; cat /etc/passwd; echo w > /opt/o/w; ls /opt/o"
            let expected = "z\nroot:x:0:0:root:/:/bin/sh\nw\nz\n"
            for mode in [["--no-overlay"], []] {
                let run = try rkt.run(["run", "--insecure-options=image", "--stage1-path=\(fly)"] + mode + [latest, "--exec", "/bin/sh", "--", "-c", script])
                #expect(run.status == 0, "\(mode): \(run.stderr)")
                #expect(run.stdout == expected, "\(mode): \(run.stdout)")
            }
            // The pod wrote to its upper directory, not to the shared layer.
            #expect(!FileManager.default.fileExists(atPath: trees + "/" + latestLayers[1] + "/rootfs/opt/o/w"))
            // The app's rootfs is an overlay of the layer trees, top first.
            let uuid = try rkt.ok(["prepare", "--insecure-options=image", "--stage1-path=\(fly)", other]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let mountinfo = String(decoding: try FileSystem.read("/proc/self/mountinfo"), as: UTF8.self).split(separator: "\n")
            let app = try #require(mountinfo.first { $0.contains(uuid) && $0.contains("/opt/stage2/") && $0.contains(" - overlay ") })
            let positions = otherLayers.map { app.range(of: trees + "/" + $0 + "/rootfs")?.lowerBound }
            #expect(positions.allSatisfy { $0 != nil } && positions.map { $0! } == positions.map { $0! }.sorted(), "\(app)")
            try rkt.ok(["rm", uuid])
            try rkt.ok(["gc", "--grace-period=0s"])
        } else {
            print("skip the pod runs: no images/out/stage1-fly.aci")
        }

        // gc: `latest` goes; its own top layer goes with it, the shared ones stay for `other`.
        Thread.sleep(forTimeInterval: 1.2)
        try rkt.ok(["image", "verify", other])  // uses `other`, not its layers
        try rkt.ok(["image", "rm", latest])
        try rkt.ok(["image", "gc", "--grace-period=1s"])
        #expect(try layerCount(rkt) == 3)
        #expect(layerTrees() == Set(otherLayers))
        try rkt.ok(["image", "rm", other])
        try rkt.ok(["image", "gc", "--grace-period=0s"])
        #expect(try layerCount(rkt) == 0)
        #expect(layerTrees().isEmpty)
    }

    @Test func localLayoutsAndArchives() throws {
        guard let (rkt, fixture) = try setUp() else { return }
        defer { rkt.cleanup() }
        // The layout directory by path (skopeo/umoci output), by skopeo's name, and as a tar.
        let byName = try rkt.ok(["fetch", "--insecure-options=image", "oci:\(fixture.layout):other"]).stdout
        #expect(byName.hasPrefix("sha512-"))
        try shell("tar -C '\(fixture.layout)' -cf '\(fixture.root)/layout.tar' .")
        try rkt.ok(["fetch", "--insecure-options=image", "oci-archive:\(fixture.root)/layout.tar:latest"])
        #expect(try layerCount(rkt) == 4)
        // skopeo's docker-archive output is a `docker save` tarball (manifest.json at the top).
        try shell("skopeo copy --quiet oci:\(fixture.layout):latest docker-archive:\(fixture.root)/saved.tar:example.org/bb:1.0 >/dev/null")
        let saved = try rkt.ok(["fetch", "--insecure-options=image", fixture.root + "/saved.tar"]).stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let list = try rkt.ok(["image", "list", "--no-legend", "--fields=name"]).stdout
        #expect(list.contains("example.org/bb"))
        let rendered = rkt.root + "/saved"
        try rkt.ok(["image", "render", "--rootfs-only", saved, rendered])
        #expect((try? FileManager.default.contentsOfDirectory(atPath: rendered + "/data"))?.sorted() == ["c"])
        #expect(!FileManager.default.fileExists(atPath: rendered + "/etc/removeme"))
    }

    @Test func tokenAuthAndBrokenBlobs() throws {
        guard let (rkt, fixture) = try setUp() else { return }
        defer { rkt.cleanup() }
        let script = fixture.root + "/emulator.py"
        try DockerFixture.emulator.write(toFile: script, atomically: true, encoding: .utf8)
        let emulator = try Subprocess.start(["/usr/bin/python3", script, String(fixture.port), fixture.layout, fixture.root + "/requests.log"], outputFile: fixture.root + "/emulator.log")
        defer { emulator.stop() }
        try waitForHTTP("http://127.0.0.1:\(fixture.port)/token", acceptAnyStatus: true)
        let base = "docker://127.0.0.1:\(fixture.port)"

        // 401, then a token that needs the credentials from auth.d.
        let anonymous = try rkt.run(["fetch", "--insecure-options=http,image", base + "/busybox:latest"])
        #expect(anonymous.status == 254)
        #expect(anonymous.stderr.contains("refused anonymous access"), "\(anonymous.stderr)")
        try FileManager.default.createDirectory(atPath: rkt.localConfig + "/auth.d", withIntermediateDirectories: true)
        try #"{"rktKind":"dockerAuth","rktVersion":"v1","registries":["127.0.0.1:\#(fixture.port)"],"credentials":{"user":"user","password":"secret"}}"#
            .write(toFile: rkt.localConfig + "/auth.d/registry.json", atomically: true, encoding: .utf8)
        try rkt.ok(["fetch", "--insecure-options=http,image", base + "/busybox:latest"])
        #expect(try layerCount(rkt) == 3)
        // Blobs already stored are not downloaded again: `other` costs its config and top layer.
        func blobRequests() throws -> Int {
            try String(contentsOfFile: fixture.root + "/requests.log", encoding: .utf8).split(separator: "\n").filter { $0.contains("/blobs/") }.count
        }
        let before = try blobRequests()
        try rkt.ok(["fetch", "--insecure-options=http,image", base + "/busybox:other"])
        #expect(try blobRequests() - before == 2)
        #expect(try layerCount(rkt) == 4)
        try rkt.ok(["image", "gc", "--grace-period=0s"])
        #expect(try layerCount(rkt) == 0)

        // A blob whose bytes do not match its digest, and one cut short: clear errors, no image.
        let tampered = try rkt.run(["fetch", "--insecure-options=http,image", base + "/tampered/busybox:latest"])
        #expect(tampered.status == 254)
        #expect(tampered.stderr.contains("digest mismatch"), "\(tampered.stderr)")
        let truncated = try rkt.run(["fetch", "--insecure-options=http,image", base + "/truncated/busybox:latest"])
        #expect(truncated.status == 254)
        #expect(truncated.stderr.lowercased().contains("trunc") || truncated.stderr.contains("bytes"), "\(truncated.stderr)")
        let names = try rkt.ok(["image", "list", "--no-legend", "--fields=name"]).lines
        #expect(!names.contains { $0.contains("busybox") }, "no image was stored: \(names)")
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: rkt.dataDir + "/cas/tmp")) ?? []).isEmpty)
    }
}

/// The test images: an OCI layout made with umoci from busybox-static. `latest` has three layers
/// (busybox, /etc, /opt/o, /var/gone; whiteouts of /etc/removeme and the directory /var/gone,
/// opaque /data and /opt/o; top-a.txt), `other`
/// shares the first two (top-b.txt), `multi` is an image index whose amd64 entry is `latest`.
struct DockerFixture {
    let root: String
    let port: Int
    var layout: String { root + "/layout" }

    init(root: String) throws {
        self.root = root
        port = try freeLoopbackPort()
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let r = root
        try shell("""
            set -e; cd '\(r)'
            mkdir -p l1/bin l1/etc l1/data l1/opt/o l1/var/gone l2/etc l2/data l2/opt/o l2/var l3a l3b
            cp /bin/busybox l1/bin/busybox
            for a in sh echo cat ls true test; do ln -s busybox l1/bin/$a; done
            echo 'root:x:0:0:root:/:/bin/sh' > l1/etc/passwd; echo 'root:x:0:' > l1/etc/group
            echo gone > l1/etc/removeme; echo a > l1/data/a; echo b > l1/data/b
            echo x > l1/opt/o/x; echo y > l1/opt/o/y; echo f > l1/var/gone/file
            : > l2/etc/.wh.removeme; : > l2/data/.wh..wh..opq; echo c > l2/data/c
            : > l2/opt/o/.wh..wh..opq; echo z > l2/opt/o/z; : > l2/var/.wh.gone
            echo a > l3a/top-a.txt; echo b > l3b/top-b.txt
            for l in l1 l2 l3a l3b; do tar -C $l -cf $l.tar .; done
            umoci init --layout layout
            umoci new --image layout:base
            umoci raw add-layer --image layout:base l1.tar
            umoci raw add-layer --image layout:base l2.tar
            umoci config --image layout:base --config.cmd sh --config.env PATH=/bin --config.exposedports 80/tcp --config.volume /data --config.workingdir /data
            umoci raw add-layer --image layout:base --tag latest l3a.tar
            umoci raw add-layer --image layout:base --tag other l3b.tar
            """)
        // The index: amd64 → latest, arm64 → other.
        let indexPath = layout + "/index.json"
        var index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: indexPath))) as! [String: Any]
        var manifests = index["manifests"] as! [[String: Any]]
        func entry(_ tag: String, _ arch: String) -> [String: Any] {
            var d = manifests.first { ($0["annotations"] as? [String: String])?["org.opencontainers.image.ref.name"] == tag }!
            d["annotations"] = nil
            d["platform"] = ["os": "linux", "architecture": arch]
            return d
        }
        let nested: [String: Any] = ["schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                                     "manifests": [entry("other", "arm64"), entry("latest", "amd64")]]
        let data = try JSONSerialization.data(withJSONObject: nested)
        let digest = try sha256Hex(data)
        try data.write(to: URL(fileURLWithPath: layout + "/blobs/sha256/" + digest))
        manifests.append(["mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + digest, "size": data.count,
                          "annotations": ["org.opencontainers.image.ref.name": "multi"]])
        index["manifests"] = manifests
        try JSONSerialization.data(withJSONObject: index).write(to: URL(fileURLWithPath: indexPath))
    }

    func registryConfig() throws -> String {
        let path = root + "/registry.yml"
        try """
            version: 0.1
            log:
              level: error
            storage:
              filesystem:
                rootdirectory: \(root)/registry
            http:
              addr: 127.0.0.1:\(port)
            """.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    /// A registry that serves the layout with bearer-token auth (user/secret), and breaks blobs
    /// of repositories named tampered/... (one byte flipped) and truncated/... (half sent).
    static let emulator = #"""
        import base64, hashlib, json, os, sys
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        port, layout, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        TOKEN = "tok-" + hashlib.sha256(os.urandom(8)).hexdigest()[:12]
        def blob(digest):
            with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
                return f.read()
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args): pass
            def send(self, status, body=b"", headers=()):
                self.send_response(status)
                for k, v in headers: self.send_header(k, v)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def do_GET(self):
                with open(log, "a") as f: f.write(self.path + "\n")
                if self.path.startswith("/token"):
                    good = "Basic " + base64.b64encode(b"user:secret").decode()
                    if self.headers.get("Authorization") != good: return self.send(401, b'{"details":"bad credentials"}')
                    return self.send(200, json.dumps({"token": TOKEN}).encode(), [("Content-Type", "application/json")])
                if self.headers.get("Authorization") != "Bearer " + TOKEN:
                    challenge = 'Bearer realm="http://127.0.0.1:%d/token",service="emulator"' % port
                    return self.send(401, b'{"errors":[{"code":"UNAUTHORIZED"}]}', [("WWW-Authenticate", challenge)])
                parts = self.path.split("/")
                if self.path == "/v2/": return self.send(200, b"{}")
                if "manifests" in parts:
                    ref = parts[-1]
                    if not ref.startswith("sha256:"):
                        index = json.load(open(os.path.join(layout, "index.json")))
                        found = [m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == ref]
                        if not found: return self.send(404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
                        ref = found[0]["digest"]
                    body = blob(ref)
                    return self.send(200, body, [("Content-Type", json.loads(body).get("mediaType", "application/vnd.oci.image.manifest.v1+json"))])
                if "blobs" in parts:
                    body = blob(parts[-1])
                    if "tampered" in parts and len(body) > 10000:
                        body = bytearray(body); body[len(body) // 2] ^= 0xFF; body = bytes(body)
                    if "truncated" in parts and len(body) > 10000:
                        self.send_response(200)
                        self.send_header("Content-Length", str(len(body)))
                        self.end_headers()
                        self.wfile.write(body[: len(body) // 2]); self.wfile.flush()
                        self.close_connection = True
                        return
                    return self.send(200, body, [("Content-Type", "application/octet-stream")])
                self.send(404)
        ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
        """#
}

func freeLoopbackPort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw CocoaError(.fileWriteUnknown) }
    return Int(UInt16(bigEndian: address.sin_port))
}

func sha256Hex(_ data: Data) throws -> String {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("sha-\(UUID().uuidString)").path
    try data.write(to: URL(fileURLWithPath: file))
    defer { try? FileManager.default.removeItem(atPath: file) }
    return String(try Subprocess.run(["/usr/bin/sha256sum", file], timeout: 60).stdout.prefix(64))
}

/// Polls until an HTTP server answers (any status with `acceptAnyStatus`), for up to 10 s.
func waitForHTTP(_ url: String, acceptAnyStatus: Bool = false) throws {
    for _ in 0..<100 {
        let probe = try Subprocess.run(["/usr/bin/curl", "-s", "-o", "/dev/null", "--max-time", "1"] + (acceptAnyStatus ? [] : ["-f"]) + [url], timeout: 10)
        if probe.status == 0 { return }
        Thread.sleep(forTimeInterval: 0.1)
    }
    throw CocoaError(.fileReadUnknown)
}
