import Foundation
import Stage1Protocol
import Testing

/// The repository root, found from this file (symlinks resolved, so a mirror package works too).
let repositoryRoot: URL = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func data(_ text: String) -> Data { Data(text.utf8) }
func text(_ data: Data) -> String { String(decoding: data, as: UTF8.self) }

/// Parses JSON text into Foundation objects, for structural edits in tests.
func jsonObject(_ text: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: data(text)) as? [String: Any])
}

func jsonText(_ object: Any) throws -> String {
    text(try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]))
}

@Suite("Golden round-trips")
struct GoldenTests {
    static let requests: [(String, Stage1Request, String)] = [
        ("run", Fixtures.runRequest, Goldens.runRequest),
        ("minimal run", Fixtures.minimalRunRequest, Goldens.minimalRunRequest),
        ("enter", Fixtures.enterRequest, Goldens.enterRequest),
        ("stop", Fixtures.stopRequest, Goldens.stopRequest),
        ("gc", Fixtures.gcRequest, Goldens.gcRequest),
        ("describe", Fixtures.describeRequest, Goldens.describeRequest),
    ]

    @Test("request encodes to its golden bytes", arguments: 0..<requests.count)
    func encodesToGolden(_ index: Int) {
        let (_, request, golden) = Self.requests[index]
        #expect(text(request.encoded()) == golden)
    }

    @Test("golden decodes to the value and re-encodes byte for byte", arguments: 0..<requests.count)
    func decodesAndReencodes(_ index: Int) throws {
        let (_, request, golden) = Self.requests[index]
        let decoded = try Stage1Request.decode(data(golden))
        #expect(decoded == request)
        #expect(text(decoded.encoded()) == golden)
        // Plain JSONDecoder agrees with the checked decoder.
        #expect(try JSONDecoder().decode(Stage1Request.self, from: data(golden)) == request)
    }

    @Test func commandsAndPayloads() throws {
        #expect(Fixtures.runRequest.command == .run && Fixtures.runRequest.run != nil && Fixtures.runRequest.enter == nil)
        #expect(Fixtures.enterRequest.command == .enter && Fixtures.enterRequest.enter?.pid == 4242)
        #expect(Fixtures.stopRequest.command == .stop && Fixtures.stopRequest.stop?.force == false)
        #expect(Fixtures.gcRequest.command == .gc && Fixtures.gcRequest.gc?.localConfig == "/etc/rkt")
        #expect(Fixtures.describeRequest.command == .describe)
        // The describe request has no payload member at all.
        let describe = try jsonObject(Goldens.describeRequest)
        #expect(Set(describe.keys) == ["command", "debug", "extensions", "pod", "protocolVersion"])
        #expect(Stage1Command.allCases.filter(\.isExecd) == [.run, .enter])
    }

    @Test func responsesRoundTrip() throws {
        #expect(text(Stage1Response.encoded(Fixtures.describeResponse)) == Goldens.describeResponse)
        #expect(text(Stage1Response.encoded(Fixtures.okResponse)) == Goldens.okResponse)
        #expect(text(Fixtures.errorResponse.encoded()) == Goldens.errorResponse)
        let describe = try JSONDecoder().decode(DescribeResponse.self, from: data(Goldens.describeResponse))
        #expect(describe == Fixtures.describeResponse)
        #expect(text(Stage1Response.encoded(describe)) == Goldens.describeResponse)
        #expect(try JSONDecoder().decode(OKResponse.self, from: data(Goldens.okResponse)).ok)
        let error = try JSONDecoder().decode(Stage1Error.self, from: data(Goldens.errorResponse))
        #expect(error == Fixtures.errorResponse)
        #expect(text(error.encoded()) == Goldens.errorResponse)
    }

    @Test func encodingIsCanonical() throws {
        // Keys sorted at every level, no whitespace, slashes unescaped.
        let golden = Goldens.runRequest
        #expect(!golden.contains("\\/"))
        #expect(!golden.contains(": ") && !golden.contains("\n"))
        // Equal values encode to equal bytes however they were built.
        var copy = Fixtures.runRequest
        copy.extensions = ["example.com/trace-id": "4bf92f35"]
        #expect(copy.encoded() == Fixtures.runRequest.encoded())
        // Re-serialising with sorted keys (an independent encoder) changes nothing: keys are sorted.
        #expect(try jsonText(try jsonObject(golden)) == golden)
    }

    @Test("every golden appears verbatim in the specification")
    func goldensAreInTheSpec() throws {
        let spec = try String(contentsOf: repositoryRoot.appendingPathComponent("Documentation/stage1-protocol.md"), encoding: .utf8)
        for golden in [
            Goldens.runRequest, Goldens.minimalRunRequest, Goldens.enterRequest, Goldens.stopRequest,
            Goldens.gcRequest, Goldens.describeRequest, Goldens.describeResponse, Goldens.okResponse,
            Goldens.errorResponse,
        ] {
            #expect(spec.contains("```json\n" + golden + "\n```"), "missing from the spec: \(golden.prefix(60))…")
        }
        // Every JSON block in the spec is valid JSON.
        let blocks = spec.components(separatedBy: "```json\n").dropFirst().map { $0.components(separatedBy: "\n```")[0] }
        #expect(blocks.count >= 11)
        for block in blocks {
            #expect((try? JSONSerialization.jsonObject(with: data(block))) != nil, "invalid JSON in the spec: \(block.prefix(60))")
        }
    }
}

@Suite("Decoding rules")
struct DecodingTests {
    @Test func unknownMembersAreIgnoredAtEveryLevel() throws {
        var request = try jsonObject(Goldens.runRequest)
        request["futureTopLevel"] = ["nested": [1, 2, 3]]
        var pod = request["pod"] as! [String: Any]
        pod["futurePodField"] = true
        request["pod"] = pod
        var run = request["run"] as! [String: Any]
        run["futureRunField"] = "x"
        var apps = run["apps"] as! [[String: Any]]
        apps[0]["futureAppField"] = 7
        var manifest = apps[0]["appManifest"] as! [String: Any]
        manifest["futureAppManifestField"] = NSNull()
        apps[0]["appManifest"] = manifest
        run["apps"] = apps
        var dns = run["dns"] as! [String: Any]
        dns["futureDNSField"] = [:] as [String: Any]
        run["dns"] = dns
        request["run"] = run
        let decoded = try Stage1Request.decode(data(try jsonText(request)))
        #expect(decoded == Fixtures.runRequest)
        #expect(text(decoded.encoded()) == Goldens.runRequest)

        var describe = try jsonObject(Goldens.describeResponse)
        describe["futureResponseField"] = 1
        #expect(try JSONDecoder().decode(DescribeResponse.self, from: data(try jsonText(describe))) == Fixtures.describeResponse)
    }

    @Test func extensionsArePreserved() throws {
        var request = Fixtures.stopRequest
        request.extensions = [
            "example.com/string": "s", "example.com/int": 42, "example.com/negative": -7, "example.com/float": 1.5,
            "example.com/bool": true, "example.com/null": nil, "example.com/array": [1, "two", false],
            "example.com/object": ["a": ["b": ["c": 1]], "slash/key": "x/y"],
        ]
        let encoded = request.encoded()
        #expect(text(encoded).contains(#""example.com/object":{"a":{"b":{"c":1}},"slash/key":"x/y"}"#))
        #expect(text(encoded).contains(#""example.com/float":1.5"#))
        let decoded = try Stage1Request.decode(encoded)
        #expect(decoded.extensions == request.extensions)
        #expect(decoded.encoded() == encoded)
    }

    @Test func absentMembersTakeTheirDefaults() throws {
        let minimal = #"""
        {"protocolVersion":"1","command":"run","pod":{"uuid":"u","path":"/p","manifestPath":"/p/pod","stage1Rootfs":"/p/stage1/rootfs"},
         "run":{"apps":[{"name":"a","rootfs":"/r","imageManifestPath":"/m","imageID":"sha512-00"}]}}
        """#
        let request = try Stage1Request.decode(data(minimal))
        let run = try #require(request.run)
        #expect(request.debug == false && request.extensions.isEmpty)
        #expect(run.net == .default && run.networks.isEmpty && run.dns == DNSConfig() && run.hostsMode == .default)
        #expect(run.ipc == .auto && run.localConfig == "/etc/rkt" && run.lockFD == nil && !run.interactive)
        #expect(run.apps[0].appManifest == nil)
        let stop = try Stage1Request.decode(data(#"{"protocolVersion":"1","command":"stop","pod":{"uuid":"u","path":"/p","manifestPath":"/p/pod","stage1Rootfs":"/s"},"stop":{}}"#))
        #expect(stop.stop == StopPayload(force: false))
        let gc = try Stage1Request.decode(data(#"{"protocolVersion":"1","command":"gc","pod":{"uuid":"u","path":"/p","manifestPath":"/p/pod","stage1Rootfs":"/s"},"gc":{"localConfig":null}}"#))
        #expect(gc.gc == GCPayload(localConfig: "/etc/rkt"))
    }

    @Test func openEnumerationsKeepUnknownValues() throws {
        let golden = Goldens.minimalRunRequest.replacingOccurrences(of: #""net":"host""#, with: #""net":"quantum""#)
        let request = try Stage1Request.decode(data(golden))
        #expect(request.run?.net == NetworkMode(rawValue: "quantum"))
        #expect(text(request.encoded()) == golden)
        #expect(request.requiredFeatures.contains(FeatureRequirement(.networks, reason: #"run.net is "quantum""#)))
    }

    @Test func malformedRequestsAreInvalid() {
        let cases: [(String, Stage1Error.Code, String)] = [
            ("not json", .invalidRequest, "not a JSON object"),
            ("[1,2]", .invalidRequest, "not a JSON object"),
            (#"{"command":"run"}"#, .invalidRequest, "no protocolVersion"),
            (#"{"protocolVersion":"1"}"#, .invalidRequest, "no command"),
            (#"{"protocolVersion":"2","command":"run","run":"not even an object"}"#, .incompatibleVersion, "protocol version 2"),
            (#"{"protocolVersion":"1","command":"app-add","pod":{}}"#, .unsupported, "unknown command \"app-add\""),
            (#"{"protocolVersion":"1","command":"run","pod":{"uuid":"u","path":"/p","manifestPath":"/m","stage1Rootfs":"/s"}}"#, .invalidRequest, "invalid run request"),
            (#"{"protocolVersion":"1","command":"describe"}"#, .invalidRequest, "invalid describe request"),
        ]
        for (input, code, message) in cases {
            #expect(throws: Stage1Error.self) { try Stage1Request.decode(data(input)) }
            do {
                _ = try Stage1Request.decode(data(input))
            } catch {
                #expect(error.code == code, "\(input)")
                #expect(error.msg.contains(message), "\(error.msg)")
            }
        }
    }

    @Test func decodingErrorsNameThePath() throws {
        var request = try jsonObject(Goldens.runRequest)
        var run = request["run"] as! [String: Any]
        var apps = run["apps"] as! [[String: Any]]
        apps[0].removeValue(forKey: "rootfs")
        run["apps"] = apps
        request["run"] = run
        let error = try #require(throws: Stage1Error.self) { try Stage1Request.decode(data(try jsonText(request))) }
        #expect(error.code == .invalidRequest)
        #expect(error.details == "run.apps[0].rootfs: missing")

        let mistyped = Goldens.enterRequest.replacingOccurrences(of: #""pid":4242"#, with: #""pid":"4242""#)
        let typeError = try #require(throws: Stage1Error.self) { try Stage1Request.decode(data(mistyped)) }
        #expect(typeError.details == "enter.pid: not an integer")
    }

    @Test func versionsTheReceiverSpeaksAreConfigurable() throws {
        let v2 = Goldens.stopRequest.replacingOccurrences(of: #""protocolVersion":"1""#, with: #""protocolVersion":"2""#)
        let error = try #require(throws: Stage1Error.self) { try Stage1Request.decode(data(v2)) }
        #expect(error.code == .incompatibleVersion && error.details == "supported: 1")
        #expect(try Stage1Request.decode(data(v2), supportedVersions: ["1", "2"]).protocolVersion == "2")
    }
}

@Suite("Plugin input and output")
struct PluginIOTests {
    @Test func readsTheRequestFile() throws {
        let directory = try TemporaryDirectory()
        let path = directory.path + "/request.json"
        try data(Goldens.gcRequest).write(to: URL(fileURLWithPath: path))
        let request = try Stage1Request.readFromEnvironment([Stage1Protocol.requestEnvironmentVariable: path])
        #expect(request == Fixtures.gcRequest)
    }

    @Test func readsTheRequestDescriptorFirst() throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let bytes = [UInt8](Goldens.enterRequest.utf8)
        #expect(write(fds[1], bytes, bytes.count) == bytes.count)
        close(fds[1])
        var before = stat()
        #expect(fstat(fds[0], &before) == 0)
        let request = try Stage1Request.readFromEnvironment([
            Stage1Protocol.requestFDEnvironmentVariable: String(fds[0]),
            Stage1Protocol.requestEnvironmentVariable: "/nonexistent/request.json",
        ])
        #expect(request == Fixtures.enterRequest)
        // The descriptor was closed so that apps do not inherit it (its number may already have
        // been reused by a test running in parallel, but not for this pipe).
        var after = stat()
        #expect(fstat(fds[0], &after) == -1 || after.st_ino != before.st_ino || after.st_dev != before.st_dev)
    }

    @Test func environmentErrors() throws {
        let unset = try #require(throws: Stage1Error.self) { try Stage1Request.readFromEnvironment([:]) }
        #expect(unset.code == .invalidRequest && unset.msg.contains("RKT_STAGE1_REQUEST is not set"))
        let missing = try #require(throws: Stage1Error.self) {
            try Stage1Request.readFromEnvironment([Stage1Protocol.requestEnvironmentVariable: "/nonexistent/request.json"])
        }
        #expect(missing.code == .ioFailure && missing.msg.contains("/nonexistent/request.json"))
        let badFD = try #require(throws: Stage1Error.self) {
            try Stage1Request.readFromEnvironment([Stage1Protocol.requestFDEnvironmentVariable: "three"])
        }
        #expect(badFD.code == .invalidRequest)
    }

    @Test func argumentsAndEnvironment() {
        #expect(Stage1Protocol.arguments(entrypoint: "/p/stage1/rootfs/init") == ["/p/stage1/rootfs/init", "--stage1-protocol=1"])
        #expect(Stage1Protocol.requestedVersion(arguments: ["/init", "--stage1-protocol=1"]) == "1")
        #expect(Stage1Protocol.requestedVersion(arguments: ["/init", "--net=default", "uuid"]) == nil)
        #expect(Stage1Protocol.environment(requestPath: "/p/r.json", lockFD: 5) == ["RKT_STAGE1_REQUEST": "/p/r.json", "RKT_LOCK_FD": "5"])
    }
}

/// A directory under /tmp removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/stage1-protocol-test.XXXXXX").utf8CString)
        let result = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        guard let result else { throw Stage1Error(code: .ioFailure, msg: "mkdtemp failed") }
        path = URL(fileURLWithPath: String(cString: result)).standardizedFileURL.path
    }

    deinit {
        // Never recurse into something still mounted below us (a leaked bind of /dev, say).
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        if mounts.split(separator: "\n").contains(where: { $0.split(separator: " ").dropFirst().first?.hasPrefix(path) == true }) {
            print("leaving \(path) in place: something is still mounted below it")
            return
        }
        try? FileManager.default.removeItem(atPath: path)
    }
}
