import Foundation
import RktOS
import RktTestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// `rkt trust` and `rkt fetch` over HTTPS and appc discovery against a server on 127.0.0.1
/// (Tests/Fixtures/fetch-test-server.py) with a CA, a gpg key and test ACIs made here.
@Suite(.serialized) struct FetchTests {
    /// The server, its CA (given to rkt through OpenSSL's SSL_CERT_FILE) and a signing key.
    final class World {
        let dir: TemporaryDirectory
        let pid: pid_t
        let port: Int
        let gnupgHome: String
        let fingerprint: String
        var root: String { dir.path + "/www" }
        var caFile: String { dir.path + "/ca.pem" }
        var log: String { dir.path + "/requests.log" }
        var environment: [String: String] { ["SSL_CERT_FILE": caFile, "RKT_DISCOVERY_PORT": String(port)] }

        init() throws {
            dir = try TemporaryDirectory(prefix: "rkt-it-fetch")
            let d = dir.path
            try FileSystem.makeDirectories(d + "/www")
            try World.tool("/usr/bin/openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                                                "-subj", "/CN=rkt it CA", "-keyout", d + "/ca.key", "-out", d + "/ca.pem"], in: d)
            try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\n".utf8).write(to: URL(fileURLWithPath: d + "/ext"))
            try World.tool("/usr/bin/openssl", ["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=localhost",
                                                "-keyout", d + "/srv.key", "-out", d + "/srv.csr"], in: d)
            try World.tool("/usr/bin/openssl", ["x509", "-req", "-in", d + "/srv.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key", "-CAcreateserial",
                                                "-days", "2", "-extfile", d + "/ext", "-out", d + "/srv.pem"], in: d)
            gnupgHome = d + "/gnupg"
            try FileSystem.makeDirectories(gnupgHome, mode: 0o700)
            try World.gpg(["--quick-gen-key", "rkt it <it@example.com>", "ed25519", "sign", "1d"], home: gnupgHome)
            let listing = String(decoding: try World.gpg(["--with-colons", "--list-keys"], home: gnupgHome), as: UTF8.self)
            fingerprint = listing.split(separator: "\n").first { $0.hasPrefix("fpr:") }.map { String($0.split(separator: ":", omittingEmptySubsequences: false)[9]).lowercased() } ?? ""
            try World.gpg(["--armor", "--output", d + "/www/pubkeys.gpg", "--export", fingerprint], home: gnupgHome)

            let script = RktRunner.packageRoot + "/Tests/Fixtures/fetch-test-server.py"
            pid = try World.spawn("/usr/bin/python3", [script, d + "/www", d + "/port", d + "/requests.log", d + "/srv.pem", d + "/srv.key"], log: d + "/server.out")
            var found = 0
            for _ in 0..<300 {
                if let text = try? String(contentsOfFile: d + "/port", encoding: .utf8), let value = Int(text) { found = value; break }
                usleep(20_000)
            }
            port = found
        }

        deinit {
            kill(pid, SIGKILL)
            var status: Int32 = 0
            waitpid(pid, &status, 0)
            _ = try? Spawn.run("/usr/bin/gpgconf", arguments: ["--kill", "gpg-agent"], environment: ["GNUPGHOME": gnupgHome, "PATH": "/usr/bin:/bin"], directory: nil)
        }

        /// A gzip ACI at `www/<path>`, signed beside it unless `sign` is false.
        func publish(_ path: String, name: String, version: String, marker: String = "", sign: Bool = true) throws {
            let tar = TestACI.busyboxLikeTar(name: name, files: [TestFile("marker", marker)], manifest: TestACI.validManifestJSON(name: name, version: version))
            let file = root + "/" + path
            try FileSystem.makeDirectories(FileSystem.parentDirectory(of: file))
            try TestACI.write(try TestACI.compress(tar, .gzip), to: file)
            if sign { try World.gpg(["--local-user", fingerprint, "--armor", "--detach-sign", "--output", file + ".asc", file], home: gnupgHome) }
        }

        func requests() -> [String] {
            ((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        @discardableResult
        static func gpg(_ arguments: [String], home: String) throws -> Data {
            try tool("/usr/bin/gpg", ["--batch", "--quiet", "--pinentry-mode", "loopback", "--passphrase", ""] + arguments, in: home, environment: ["GNUPGHOME": home])
        }

        @discardableResult
        static func tool(_ path: String, _ arguments: [String], in directory: String, environment: [String: String] = [:]) throws -> Data {
            let result = try Spawn.run(path, arguments: arguments, environment: environment.merging(["PATH": "/usr/bin:/bin", "LC_ALL": "C"]) { a, _ in a }, directory: directory)
            guard result.status == 0 else { throw TestSupportError("\(path) \(arguments.first ?? "") exited \(result.status)") }
            return result.stdout
        }

        static func spawn(_ executable: String, _ arguments: [String], log: String) throws -> pid_t {
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
            var attributes = posix_spawnattr_t()
            posix_spawnattr_init(&attributes)
            defer { posix_spawnattr_destroy(&attributes) }
            var none = sigset_t()
            sigemptyset(&none)
            var all = sigset_t()
            sigfillset(&all)
            posix_spawnattr_setsigmask(&attributes, &none)
            posix_spawnattr_setsigdefault(&attributes, &all)
            posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
            let argv = ([executable] + arguments).map { strdup($0) } + [nil]
            defer { argv.forEach { free($0) } }
            var pid: pid_t = 0
            let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
            guard rc == 0 else { throw TestSupportError("spawn \(executable) failed: \(rc)") }
            return pid
        }
    }

    @Test func trustThenFetchByURLAndByName() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let world = try World()
        try #require(world.port > 0, "test server did not start")
        try world.publish("images/localhost/app-1.0-linux-amd64.aci", name: "localhost/app", version: "1.0")
        try world.publish("images/localhost/app-2.0-linux-amd64.aci", name: "localhost/app", version: "1.0", marker: "mislabelled")
        try Data("""
            <meta name="ac-discovery" content="localhost https://localhost:\(world.port)/images/{name}-{version}-{os}-{arch}.{ext}">
            <meta name="ac-discovery-pubkeys" content="localhost https://localhost:\(world.port)/pubkeys.gpg">
            """.utf8).write(to: URL(fileURLWithPath: world.root + "/.discovery.html"))
        let url = "https://127.0.0.1:\(world.port)/images/localhost/app-1.0-linux-amd64.aci"

        // Untrusted: refused, nothing stored.
        let untrusted = try rkt.run(["fetch", url], environment: world.environment)
        #expect(untrusted.status == 254)
        #expect(untrusted.stderr.contains("no trusted keys for prefix \"localhost/app\""), "\(untrusted.stderr)")
        #expect(rkt.storeFiles().isEmpty, "\(rkt.storeFiles())")

        // `rkt trust` finds the key by discovery, shows its fingerprint and files it.
        let trust = try rkt.run(["trust", "--prefix", "localhost/app", "--skip-fingerprint-review"], environment: world.environment)
        #expect(trust.status == 0, "\(trust.stderr)")
        let spaced = world.fingerprint.uppercased()
        #expect(trust.stderr.contains("GPG key fingerprint is: " + String(spaced.prefix(4))), "\(trust.stderr)")
        let keyFile = rkt.localConfig + "/trustedkeys/prefix.d/localhost/app/" + world.fingerprint
        #expect(FileManager.default.fileExists(atPath: keyFile))
        // Declining the fingerprint stores nothing (stdin is /dev/null: no "yes").
        let declined = try rkt.run(["trust", "--root", world.root + "/pubkeys.gpg"], environment: world.environment)
        #expect(declined.status == 254 && !FileManager.default.fileExists(atPath: rkt.localConfig + "/trustedkeys/root.d/" + world.fingerprint))

        let byURL = try rkt.run(["fetch", "--full", url], environment: world.environment)
        #expect(byURL.status == 0, "\(byURL.stderr)")
        let id = byURL.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(id.hasPrefix("sha512-") && id.count == 71)

        // By name through discovery: the same image; a 2.0 that is really 1.0 is refused.
        let byName = try rkt.run(["fetch", "--full", "localhost/app:1.0"], environment: world.environment)
        #expect(byName.status == 0, "\(byName.stderr)")
        #expect(byName.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == id)
        let mismatch = try rkt.run(["fetch", "localhost/app:2.0"], environment: world.environment)
        #expect(mismatch.status == 254)
        #expect(mismatch.stderr.contains("requested value for label \"version\": \"2.0\" differs from fetched aci label value: \"1.0\""), "\(mismatch.stderr)")
        let list = try rkt.ok(["image", "list", "--no-legend", "--fields=name"]).stdout
        #expect(list.split(separator: "\n").count == 1, "\(list)")

        // Without the CA, TLS verification fails; --insecure-options=image warns and skips signatures.
        let noCA = try rkt.run(["fetch", "--pull-policy=update", url], environment: ["RKT_DISCOVERY_PORT": String(world.port), "SSL_CERT_FILE": "/dev/null", "SSL_CERT_DIR": "/nonexistent"])
        #expect(noCA.status == 254 && noCA.stderr.contains("certificate verification failed"), "\(noCA.stderr)")
        try world.publish("plain.aci", name: "localhost/plain", version: "1", sign: false)
        let insecure = try rkt.run(["fetch", "--insecure-options=image", "https://127.0.0.1:\(world.port)/plain.aci"], environment: world.environment)
        #expect(insecure.status == 0, "\(insecure.stderr)")
        #expect(insecure.stderr.contains("image signature verification has been disabled"))
        // Plain HTTP needs --insecure-options=http.
        let http = try rkt.run(["fetch", "--insecure-options=image", "http://127.0.0.1:\(world.port)/plain.aci"], environment: world.environment)
        #expect(http.status == 254 && http.stderr.contains("--insecure-options=http"), "\(http.stderr)")
    }

    /// `--trust-keys-from-https`: with no key for the name, the discovered `ac-discovery-pubkeys`
    /// are fetched over verified HTTPS and trusted without review, with rkt's warning; never with
    /// TLS verification off, and not again once a key is trusted.
    @Test func trustKeysFromHTTPS() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let world = try World()
        try #require(world.port > 0, "test server did not start")
        try world.publish("images/localhost/app-1.0-linux-amd64.aci", name: "localhost/app", version: "1.0")
        try Data("""
            <meta name="ac-discovery" content="localhost https://localhost:\(world.port)/images/{name}-{version}-{os}-{arch}.{ext}">
            <meta name="ac-discovery-pubkeys" content="localhost https://localhost:\(world.port)/pubkeys.gpg">
            """.utf8).write(to: URL(fileURLWithPath: world.root + "/.discovery.html"))
        let keyFile = rkt.localConfig + "/trustedkeys/prefix.d/localhost/app/" + world.fingerprint
        func keyDownloads() -> Int { world.requests().filter { $0.hasPrefix("GET /pubkeys.gpg 200") }.count }

        // Without the flag the key is not trusted and the fetch is refused.
        let refused = try rkt.run(["fetch", "localhost/app:1.0"], environment: world.environment)
        #expect(refused.status == 254)
        #expect(refused.stderr.contains("no trusted keys for prefix \"localhost/app\""), "\(refused.stderr)")
        #expect(keyDownloads() == 0)
        // With TLS verification off, keys are never trusted from the network.
        let noTLS = try rkt.run(["fetch", "--trust-keys-from-https", "--insecure-options=tls", "localhost/app:1.0"], environment: world.environment)
        #expect(noTLS.status == 254, "\(noTLS.stderr)")
        #expect(!FileManager.default.fileExists(atPath: keyFile))
        #expect(keyDownloads() == 0)

        let trusted = try rkt.run(["fetch", "--full", "--trust-keys-from-https", "localhost/app:1.0"], environment: world.environment)
        #expect(trusted.status == 0, "\(trusted.stderr)")
        #expect(trusted.stdout.hasPrefix("sha512-"))
        #expect(trusted.stderr.contains("Trusting \"https://localhost:\(world.port)/pubkeys.gpg\" for prefix \"localhost/app\" without fingerprint review."), "\(trusted.stderr)")
        #expect(trusted.stderr.contains("Added key for prefix \"localhost/app\" at \"\(keyFile)\""), "\(trusted.stderr)")
        #expect(FileManager.default.fileExists(atPath: keyFile))
        #expect(keyDownloads() == 1)

        // A key is trusted now: the next fetch does not download keys again.
        let again = try rkt.run(["fetch", "--trust-keys-from-https", "--pull-policy=update", "localhost/app:1.0"], environment: world.environment)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(keyDownloads() == 1)
    }

    /// "ACIs fetched by name through discovery with a trusted key run": a signed image with the
    /// host's static busybox, found by discovery, verified, run with the shell stage1.
    @Test func discoveredSignedImageRuns() throws {
        guard isRoot else { print("skip discoveredSignedImageRuns: running pods needs root"); return }
        guard let stage1 = RunTests.shellStage1 else { print("skip discoveredSignedImageRuns: the shell stage1 needs jq"); return }
        guard FileManager.default.isExecutableFile(atPath: "/bin/busybox") else { print("skip discoveredSignedImageRuns: no /bin/busybox (busybox-static)"); return }
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let world = try World()
        try #require(world.port > 0, "test server did not start")
        let manifest = #"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"localhost/hello","labels":[{"name":"version","value":"1.0"},{"name":"os","value":"linux"},{"name":"arch","value":"amd64"}],"app":{"exec":["/usr/local/bin/busybox","echo","discovered and verified"],"user":"0","group":"0"}}"#
        let tar = TestACI.busyboxLikeTar(name: "localhost/hello", files: [TestFile("usr/local/bin/busybox", data: try FileSystem.read("/bin/busybox"), mode: 0o755)], manifest: manifest)
        try FileSystem.makeDirectories(world.root + "/localhost")
        let file = world.root + "/localhost/hello-1.0.aci"
        try TestACI.write(try TestACI.compress(tar, .gzip), to: file)
        try World.gpg(["--local-user", world.fingerprint, "--armor", "--detach-sign", "--output", file + ".asc", file], home: world.gnupgHome)
        try Data(#"<meta name="ac-discovery" content="localhost https://localhost:\#(world.port)/{name}-{version}.{ext}">"#.utf8)
            .write(to: URL(fileURLWithPath: world.root + "/.discovery.html"))
        try rkt.ok(["trust", "--prefix", "localhost", "--skip-fingerprint-review", world.root + "/pubkeys.gpg"])
        let ran = try rkt.run(["run", "--stage1-path=\(stage1)", "localhost/hello:1.0"], environment: world.environment)
        #expect(ran.status == 0, "\(ran.stderr)")
        #expect(ran.stdout.contains("discovered and verified"), "\(ran.stdout)")
        #expect(world.requests().contains { $0.hasPrefix("GET /localhost/hello-1.0.aci.asc 200") })
    }
}
