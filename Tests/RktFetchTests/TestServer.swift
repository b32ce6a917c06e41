import Foundation
import RktOS
import RktTestSupport

#if canImport(Glibc)
import Glibc
#endif

/// A real HTTP or HTTPS server on 127.0.0.1 for the fetch tests: Python's http.server (Debian's
/// python3) with the behaviour rkt depends on. It serves files under `root` with a strong ETag,
/// If-None-Match → 304, `Range: bytes=N-` → 206, HEAD, extra headers from `<file>.headers`,
/// `?ac-discovery=1` pages from `<path>/.discovery.html`, and test hooks under `/truncate/`,
/// `/redirect/`, `/redirect-abs/`, `/chunked/` and `/truncate-once/` (see the script). Every request is appended to `requests.log`.
final class TestServer {
    let directory: TemporaryDirectory
    let root: String
    let port: Int
    let tls: Bool
    private let pid: pid_t

    var baseURL: String { "\(tls ? "https" : "http")://127.0.0.1:\(port)" }
    var logPath: String { directory.path + "/requests.log" }

    /// Starts the server; with `certificate` it speaks TLS with that cert/key pair.
    init(certificate: TestCA.ServerCertificate? = nil) throws {
        directory = try TemporaryDirectory(prefix: "rkt-fetch-server")
        root = directory.path + "/root"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let script = TestServer.scriptPath
        let portFile = directory.path + "/port"
        var arguments = [script, root, portFile, directory.path + "/requests.log"]
        if let certificate { arguments += [certificate.certPath, certificate.keyPath] }
        tls = certificate != nil
        pid = try BackgroundProcess.start("/usr/bin/python3", arguments, log: directory.path + "/server.out")
        var waited = 0
        while true {
            if let text = try? String(contentsOfFile: portFile, encoding: .utf8), let value = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                port = value
                break
            }
            waited += 1
            if waited > 300 {
                BackgroundProcess.stop(pid)
                let output = (try? String(contentsOfFile: directory.path + "/server.out", encoding: .utf8)) ?? ""
                throw TestSupportError("test server did not start: \(output)")
            }
            usleep(20_000)
        }
    }

    deinit { BackgroundProcess.stop(pid) }

    /// Puts `data` at `path` (relative to the root), with optional extra response headers.
    func put(_ path: String, _ data: Data, headers: [String: String] = [:]) throws {
        let full = root + "/" + path
        try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: full))
        let headerFile = full + ".headers"
        if headers.isEmpty {
            try? FileManager.default.removeItem(atPath: headerFile)
        } else {
            try Data(headers.map { "\($0.key): \($0.value)\n" }.joined().utf8).write(to: URL(fileURLWithPath: headerFile))
        }
    }

    /// Serves `html` for `GET <path>?ac-discovery=1`.
    func putDiscovery(_ path: String, html: String) throws {
        try put(path.isEmpty ? ".discovery.html" : path + "/.discovery.html", Data(html.utf8))
    }

    /// The logged requests, as "METHOD PATH STATUS" lines.
    func requests() -> [String] {
        guard let text = try? String(contentsOfFile: logPath, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").map(String.init)
    }

    func clearLog() { try? FileManager.default.removeItem(atPath: logPath) }

    /// The server program, shared with the integration tests (Tests/Fixtures/fetch-test-server.py).
    static let scriptPath: String = {
        var url = URL(fileURLWithPath: #filePath)
        url.deleteLastPathComponent()
        url.deleteLastPathComponent()
        return url.path + "/Fixtures/fetch-test-server.py"
    }()
}

/// A child process the tests start and stop themselves (posix_spawn: no fork in a threaded process).
enum BackgroundProcess {
    static func start(_ executable: String, _ arguments: [String], log: String) throws -> pid_t {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        // The test runner may block or ignore signals; the server must start with defaults.
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else { throw TestSupportError("spawn \(executable): \(String(cString: strerror(rc)))") }
        return pid
    }

    static func stop(_ pid: pid_t) {
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }
}

/// A throwaway certificate authority made with `openssl`, and server certificates it signs.
final class TestCA {
    struct ServerCertificate {
        let certPath: String
        let keyPath: String
    }
    let directory: TemporaryDirectory
    var certPath: String { directory.path + "/ca.pem" }

    init() throws {
        directory = try TemporaryDirectory(prefix: "rkt-fetch-ca")
        try TestCA.openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                            "-subj", "/CN=rkt test CA", "-keyout", directory.path + "/ca.key", "-out", certPath], in: directory.path)
    }

    /// A certificate for 127.0.0.1 and localhost.
    func serverCertificate(name: String = "server") throws -> ServerCertificate {
        let dir = directory.path
        let ext = dir + "/\(name).ext"
        try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n".utf8).write(to: URL(fileURLWithPath: ext))
        try TestCA.openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=127.0.0.1",
                            "-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).csr"], in: dir)
        try TestCA.openssl(["x509", "-req", "-in", "\(dir)/\(name).csr", "-CA", certPath, "-CAkey", "\(dir)/ca.key", "-CAcreateserial",
                            "-days", "2", "-extfile", ext, "-out", "\(dir)/\(name).pem"], in: dir)
        return ServerCertificate(certPath: "\(dir)/\(name).pem", keyPath: "\(dir)/\(name).key")
    }

    static func openssl(_ arguments: [String], in directory: String) throws {
        let result = try Spawn.run("/usr/bin/openssl", arguments: arguments, environment: ["PATH": "/usr/bin:/bin"], directory: directory)
        guard result.status == 0 else { throw TestSupportError("openssl \(arguments.first ?? "") failed with \(result.status)") }
    }
}
