import Foundation
import Stage1Protocol
import Testing

@Suite("Stage1 image annotations")
struct ManifestTests {
    static let full: [String: String] = [
        Stage1Manifest.runAnnotation: "/init",
        Stage1Manifest.enterAnnotation: "/enter",
        Stage1Manifest.gcAnnotation: "/gc",
        Stage1Manifest.stopAnnotation: "/bin/stop",
        Stage1Manifest.protocolAnnotation: "1, 2",
        "coreos.com/rkt/stage1/app/add": "/app-add",
    ]

    @Test func annotationNamesKeepRktsNames() {
        #expect(Stage1Manifest.runAnnotation == "coreos.com/rkt/stage1/run")
        #expect(Stage1Manifest.enterAnnotation == "coreos.com/rkt/stage1/enter")
        #expect(Stage1Manifest.gcAnnotation == "coreos.com/rkt/stage1/gc")
        #expect(Stage1Manifest.stopAnnotation == "coreos.com/rkt/stage1/stop")
        #expect(Stage1Manifest.protocolAnnotation == "rkt.dev/stage1/protocol")
        #expect(Stage1Manifest.interfaceVersionAnnotation == "coreos.com/rkt/stage1/interface-version")
    }

    @Test func parsesAProtocolStage1() throws {
        let entrypoints = try Stage1Manifest.entrypoints(annotations: Self.full)
        #expect(entrypoints == Stage1Entrypoints(run: "/init", enter: "/enter", gc: "/gc", stop: "/bin/stop", protocolVersions: ["1", "2"]))
        #expect(entrypoints.kind == .jsonProtocol(versions: ["1", "2"]))
        #expect(!entrypoints.isLegacy && entrypoints.legacyInterfaceVersion == nil)
        #expect(entrypoints.entrypoint(for: .describe) == "/init")
        #expect(entrypoints.hostPath(for: .stop, stage1Rootfs: "/pod/stage1/rootfs") == "/pod/stage1/rootfs/bin/stop")
        #expect(try Stage1Protocol.negotiate(requested: Stage1Protocol.supportedVersions, supported: entrypoints.protocolVersions) == "1")
    }

    @Test func optionalEntrypointsMayBeMissing() throws {
        let entrypoints = try Stage1Manifest.entrypoints(annotations: [
            Stage1Manifest.runAnnotation: "/run", Stage1Manifest.protocolAnnotation: "1",
            Stage1Manifest.describeAnnotation: "/describe",
        ])
        #expect(entrypoints.enter == nil && entrypoints.gc == nil && entrypoints.stop == nil)
        #expect(entrypoints.entrypoint(for: .describe) == "/describe")
        #expect(entrypoints.entrypoint(for: .enter) == nil)
    }

    @Test func legacyStage1() throws {
        let plain = try Stage1Manifest.entrypoints(annotations: [Stage1Manifest.runAnnotation: "/init"])
        #expect(plain.isLegacy && plain.kind == .legacy(interfaceVersion: 1) && plain.legacyInterfaceVersion == 1)
        let coreos = try Stage1Manifest.entrypoints(annotations: [
            Stage1Manifest.runAnnotation: "/init", Stage1Manifest.enterAnnotation: "/enter",
            Stage1Manifest.interfaceVersionAnnotation: "6",
        ])
        #expect(coreos.kind == .legacy(interfaceVersion: 6))
        // A stage1 may speak both; the JSON protocol wins.
        var both = Self.full
        both[Stage1Manifest.interfaceVersionAnnotation] = "5"
        let dual = try Stage1Manifest.entrypoints(annotations: both)
        #expect(dual.kind == .jsonProtocol(versions: ["1", "2"]) && dual.legacyInterfaceVersion == 5)
    }

    @Test func missingRun() throws {
        var annotations = Self.full
        annotations[Stage1Manifest.runAnnotation] = nil
        let error = try #require(throws: Stage1Error.self) { try Stage1Manifest.entrypoints(annotations: annotations) }
        #expect(error.code == .invalidPlugin)
        #expect(error.msg == "the stage1 image has no coreos.com/rkt/stage1/run annotation")
        // Legacy images need it too.
        #expect(throws: Stage1Error.self) { try Stage1Manifest.entrypoints(annotations: [Stage1Manifest.enterAnnotation: "/enter"]) }
    }

    @Test("bad entrypoint paths", arguments: [
        ("init", "not an absolute path"),
        ("./init", "not an absolute path"),
        ("/../init", #"contains "..""#),
        ("/bin/../../etc/shadow", #"contains "..""#),
        ("/bin/..", #"contains "..""#),
        ("/bin//init", "not a clean path"),
        ("/bin/./init", "not a clean path"),
        ("/bin/", "not a clean path"),
        ("/", "not a clean path"),
        ("", "not an absolute path"),
        ("/in\0it", "contains a NUL byte"),
    ])
    func badPaths(_ path: String, _ why: String) throws {
        for annotation in [Stage1Manifest.runAnnotation, Stage1Manifest.gcAnnotation] {
            var annotations = Self.full
            annotations[annotation] = path
            let error = try #require(throws: Stage1Error.self) { try Stage1Manifest.entrypoints(annotations: annotations) }
            #expect(error.code == .invalidPlugin)
            #expect(error.msg == "stage1 annotation \(annotation) is \"\(path)\": \(why)")
        }
    }

    @Test("bad protocol lists", arguments: ["", " ", "1,", "1,,2", "v1", "1.0", "0", "01", "one"])
    func badProtocolLists(_ list: String) throws {
        var annotations = Self.full
        annotations[Stage1Manifest.protocolAnnotation] = list
        let error = try #require(throws: Stage1Error.self) { try Stage1Manifest.entrypoints(annotations: annotations) }
        #expect(error.code == .invalidPlugin && error.msg.hasPrefix("stage1 annotation rkt.dev/stage1/protocol is"))
    }

    @Test func protocolListsAreTrimmedAndDeduplicated() throws {
        #expect(try Stage1Manifest.parseProtocolVersions(" 2 ,1,2") == ["2", "1"])
    }

    @Test func badInterfaceVersion() throws {
        let error = try #require(throws: Stage1Error.self) {
            try Stage1Manifest.entrypoints(annotations: [Stage1Manifest.runAnnotation: "/init", Stage1Manifest.interfaceVersionAnnotation: "six"])
        }
        #expect(error.msg == #"stage1 annotation coreos.com/rkt/stage1/interface-version is "six", not a positive integer"#)
    }

    @Test func theExampleStage1Manifest() throws {
        let manifest = try Data(contentsOf: repositoryRoot.appendingPathComponent("Documentation/examples/stage1-sh/manifest"))
        let entrypoints = try Stage1Manifest.entrypoints(imageManifest: manifest)
        #expect(entrypoints == Stage1Entrypoints(
            run: "/stage1-sh/run", enter: "/stage1-sh/enter", gc: "/stage1-sh/gc", stop: "/stage1-sh/stop",
            describe: "/stage1-sh/describe", protocolVersions: ["1"]))
        let garbage = try #require(throws: Stage1Error.self) { try Stage1Manifest.entrypoints(imageManifest: data("{")) }
        #expect(garbage.code == .invalidPlugin)
    }
}

@Suite("Errors")
struct ErrorTests {
    @Test func codeTable() {
        #expect(Stage1Error.Code.incompatibleVersion.rawValue == 1)
        #expect(Stage1Error.Code.unsupported.rawValue == 2)
        #expect(Stage1Error.Code.invalidRequest.rawValue == 3)
        #expect(Stage1Error.Code.podNotRunning.rawValue == 4)
        #expect(Stage1Error.Code.ioFailure.rawValue == 5)
        #expect(Stage1Error.Code.invalidPlugin.rawValue == 6)
        #expect(Stage1Error.Code.firstPluginSpecific.rawValue == 100)
        let custom: Stage1Error.Code = 117
        #expect(custom.isPluginSpecific && !Stage1Error.Code.ioFailure.isPluginSpecific)
        #expect(custom.description == "117 (plugin-specific)" && Stage1Error.Code(rawValue: 42).name == "reserved")
    }

    @Test func jsonShape() throws {
        let bare = Stage1Error(code: .podNotRunning, msg: "the pod is not running")
        #expect(text(bare.encoded()) == #"{"code":4,"msg":"the pod is not running"}"#)
        let object = try jsonObject(Goldens.errorResponse)
        #expect(object["code"] as? Int == 2 && object["msg"] is String && object["details"] is String)
        let plugin = try JSONDecoder().decode(Stage1Error.self, from: data(#"{"code":150,"msg":"out of GPUs","extra":1}"#))
        #expect(plugin == Stage1Error(code: 150, msg: "out of GPUs"))
        #expect(throws: (any Error).self) { try JSONDecoder().decode(Stage1Error.self, from: data(#"{"msg":"no code"}"#)) }
    }

    @Test func description() {
        #expect(Fixtures.errorResponse.description == "stage1 error 2 (unsupported): this stage1 runs exactly one app: the request has 2 apps")
        #expect(Stage1Error(code: .ioFailure, msg: "m").description == "stage1 error 5 (I/O failure): m")
        let error: any Error = Fixtures.errorResponse
        #expect(error is Stage1Error)
    }

    @Test func stage0ReadsChildOutput() throws {
        #expect(try Stage1Response.decode(OKResponse.self, stdout: data(Goldens.okResponse + "\n"), exitStatus: 0).ok)
        #expect(try Stage1Response.decode(DescribeResponse.self, stdout: data(Goldens.describeResponse), exitStatus: 0) == Fixtures.describeResponse)
        // A failure with an error object: that error.
        let pluginError = try #require(throws: Stage1Error.self) {
            try Stage1Response.decode(OKResponse.self, stdout: data(Goldens.errorResponse), exitStatus: 1)
        }
        #expect(pluginError == Fixtures.errorResponse)
        // A failure without one, or a success without a response: the plugin is broken.
        let silent = try #require(throws: Stage1Error.self) {
            try Stage1Response.decode(OKResponse.self, stdout: data("segfault"), exitStatus: 139)
        }
        #expect(silent.code == .invalidPlugin && silent.msg.contains("status 139") && silent.details == "segfault")
        let garbled = try #require(throws: Stage1Error.self) {
            try Stage1Response.decode(DescribeResponse.self, stdout: data(#"{"name":"x"}"#), exitStatus: 0)
        }
        #expect(garbled.code == .invalidPlugin && garbled.details?.hasPrefix("protocolVersions: missing") == true)
    }
}
