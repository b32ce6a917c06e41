import Foundation
import RktTestSupport
import Testing
@testable import RktTypes

private func jsonObject(_ data: Data) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
}

/// Runs actool on `data` when installed; nil when it is not.
private func actoolAccepts(_ data: Data) throws -> Bool? {
    let actoolPath = "/usr/bin/actool"
    guard FileManager.default.isExecutableFile(atPath: actoolPath) else { return nil }
    let file = FileManager.default.temporaryDirectory.appendingPathComponent("rkttypes-\(UUID().uuidString).json")
    try data.write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let result = try Subprocess.run([actoolPath, "validate", "--type=manifest", file.path], timeout: 120)
    #expect(!result.timedOut, "actool did not finish within 120 s")
    return result.status == 0
}

@Suite("Manifests")
struct ManifestTests {
    @Test func imageExampleContents() throws {
        let manifest = try ImageManifest.decode(Data(shippedImageExample.utf8))
        #expect(manifest.name.rawValue == "example.com/reduce-worker")
        #expect(manifest.acVersion == SemVer.appcSpecVersion)
        #expect(manifest.labels["os"] == "linux" && manifest.labels["arch"] == "amd64")
        let app = try #require(manifest.app)
        #expect(app.exec == ["/usr/bin/reduce-worker", "--quiet"])
        #expect(app.user == "100" && app.group == "300")
        #expect(app.eventHandlers.map(\.name) == ["pre-start", "post-stop"])
        #expect(app.environmentValue(of: "REDUCE_WORKER_DEBUG") == "true")
        #expect(app.isolators.count == 5)
        #expect(app.mountPoints.first?.path == "/var/lib/db")
        #expect(app.ports.first?.count == 1) // defaulted from the missing count
        #expect(manifest.dependencies.first?.imageID?.description == "sha512-...")
        #expect(manifest.annotations["homepage"] == "https://example.com")
        try app.validateForRuntime()
    }

    @Test func podExampleContents() throws {
        let manifest = try PodManifest.decode(Data(shippedPodRuntimeExample.utf8))
        #expect(manifest.apps.count >= 1)
        let template = try PodManifest.decode(Data(shippedPodTemplateExample.utf8))
        #expect(template.apps.map(\.name.rawValue) == ["reduce-worker", "backup", "register"])
        #expect(template.apps[1].image.id == nil)
        #expect(template.app(named: try ACName("backup"))?.image.labels["version"] == "latest")
    }

    @Test(arguments: [shippedImageExample, shippedPodRuntimeExample, shippedPodTemplateExample])
    func roundTrip(_ json: String) throws {
        let manifest = try AppcManifest.decode(Data(json.utf8))
        for pretty in [false, true] {
            let encoded = try manifest.encoded(pretty: pretty)
            #expect(try AppcManifest.decode(encoded) == manifest)
            if let accepted = try actoolAccepts(encoded) {
                #expect(accepted, "actool rejects our output: \(String(decoding: encoded, as: UTF8.self))")
            }
        }
    }

    @Test func encodingUsesSpecFieldNamesAndOmitsEmptyFields() throws {
        var app = App(exec: ["/bin/server", "--port=80"], user: "0", group: "0", supplementaryGIDs: [10],
                      workingDirectory: "/srv")
        app.isolators = [try Isolator.memory(limit: try Quantity("16Mi")), try Isolator.cpu(limit: try Quantity("500m"))]
        let image = ImageManifest(name: try ACIdentifier("example.com/server"), app: app,
                                  dependencies: [Dependency(imageName: try ACIdentifier("example.com/base"),
                                                            imageID: try Hash("sha512-abc"))],
                                  pathWhitelist: ["/bin/server"])
        let object = try jsonObject(try image.encoded())
        #expect(Set(object.keys) == ["acKind", "acVersion", "name", "app", "dependencies", "pathWhitelist"])
        #expect(object["acKind"] as? String == "ImageManifest")
        #expect(object["acVersion"] as? String == "0.8.11")
        let appObject = try #require(object["app"] as? [String: Any])
        #expect(Set(appObject.keys) == ["exec", "user", "group", "supplementaryGIDs", "workingDirectory", "isolators"])
        let dependency = try #require((object["dependencies"] as? [[String: Any]])?.first)
        #expect(Set(dependency.keys) == ["imageName", "imageID"])
        let text = String(decoding: try image.encoded(), as: UTF8.self)
        #expect(text.contains(#""exec":["/bin/server","--port=80"]"#))
        #expect(text.contains(#"{"name":"resource/memory","value":{"limit":"16Mi"}}"#))
        #expect(try ImageManifest.decode(Data(text.utf8)) == image)
        // Keys are sorted, so the bytes are reproducible.
        #expect(text.hasPrefix(#"{"acKind":"ImageManifest","acVersion":"0.8.11","app":{"exec":"#))
        #expect(try image.encoded() == image.encoded())
        if let accepted = try actoolAccepts(Data(text.utf8)) { #expect(accepted) }
    }

    @Test func podEncoding() throws {
        let imageID = try Hash("sha512-" + String(repeating: "0", count: 128))
        let pod = PodManifest(
            apps: [RuntimeApp(name: try ACName("web"), image: RuntimeImage(name: try ACIdentifier("example.com/web"), id: imageID),
                              readOnlyRootFS: true,
                              mounts: [Mount(volume: try ACName("data"), path: "/data")])],
            volumes: [try Volume.parse("data,kind=host,source=/srv,readOnly=true"), try Volume.parse("tmp,kind=empty")],
            isolators: [try Isolator(name: try ACIdentifier("example.com/custom"), value: .unknown(.string("x")))],
            ports: [ExposedPort(name: try ACName("http"), hostPort: 8080, hostIP: "127.0.0.1")])
        let data = try pod.encoded(pretty: true)
        let object = try jsonObject(data)
        #expect(Set(object.keys) == ["acVersion", "acKind", "apps", "volumes", "isolators", "annotations", "ports"])
        let runtimeApp = try #require((object["apps"] as? [[String: Any]])?.first)
        #expect(Set(runtimeApp.keys) == ["name", "image", "readOnlyRootFS", "mounts"])
        let volumes = try #require(object["volumes"] as? [[String: Any]])
        #expect(Set(volumes[0].keys) == ["name", "kind", "source", "readOnly"])
        #expect(Set(volumes[1].keys) == ["name", "kind", "mode", "uid", "gid"])
        #expect(try PodManifest.decode(data) == pod)
        if let accepted = try actoolAccepts(data) { #expect(accepted) }
    }

    @Test func encodingValidatesFirst() throws {
        var image = ImageManifest(name: try ACIdentifier("example.com/x"))
        image.labels = [Label(name: try ACIdentifier("os"), value: "plan9")]
        #expect(throws: AppcError(#"bad os "plan9" (must be one of: [darwin freebsd linux])"#, field: "labels")) {
            try image.encoded()
        }
        let pod = PodManifest(volumes: [try Volume.parse("a,kind=empty"), try Volume.parse("a,kind=empty")])
        #expect(throws: AppcError(#"duplicate volume name "a""#, field: "volumes")) { try pod.encoded() }
    }

    @Test func kindAndVersionErrors() throws {
        let pod = Data(#"{"acKind": "PodManifest", "acVersion": "0.8.11"}"#.utf8)
        #expect(throws: AppcError(#"missing or bad ACKind (must be "ImageManifest")"#, field: "acKind")) {
            try ImageManifest.decode(pod)
        }
        #expect(throws: AppcError(#"missing or bad ACKind (must be "PodManifest")"#, field: "acKind")) {
            try PodManifest.decode(Data(#"{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "x"}"#.utf8))
        }
        #expect(throws: AppcError("bad ACKind: Foo", field: "acKind")) {
            try AppcManifest.decode(Data(#"{"acKind": "Foo", "acVersion": "0.8.11"}"#.utf8))
        }
        #expect(throws: AppcError("acVersion must be set")) {
            try ImageManifest.decode(Data(#"{"acKind": "ImageManifest", "name": "x"}"#.utf8))
        }
        #expect(throws: AppcError("SemVer is bad", field: "acVersion")) {
            try ImageManifest.decode(Data(#"{"acKind": "ImageManifest", "acVersion": "latest", "name": "x"}"#.utf8))
        }
        #expect(throws: AppcError("name must be set")) {
            try ImageManifest.decode(Data(#"{"acKind": "ImageManifest", "acVersion": "0.8.11"}"#.utf8))
        }
        #expect(throws: AppcError.self) { try ImageManifest.decode(Data("not json".utf8)) }
        #expect(throws: AppcError.self) { try ImageManifest.decode(Data("[]".utf8)) }
    }

    @Test func nestedErrorsNameTheirField() throws {
        let json = #"""
        {"acKind": "PodManifest", "acVersion": "0.8.11", "apps": [
          {"name": "a", "image": {"id": "sha512-1"}},
          {"name": "b", "image": {"id": "sha512-2"}, "app": {"exec": ["/x"], "user": "0", "group": "0",
            "isolators": [{"name": "os/linux/oom-score-adj", "value": 5000}]}}]}
        """#
        #expect(throws: AppcError("os/linux/oom-score-adj must be between -1000 and 1000, got 5000",
                                  field: "apps[1].app.isolators[0].value")) {
            try PodManifest.decode(Data(json.utf8))
        }
        let wrongType = #"{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "x", "app": {"user": 0, "group": "0"}}"#
        do {
            _ = try ImageManifest.decode(Data(wrongType.utf8))
            Issue.record("expected an error")
        } catch {
            #expect(error.field == "app.user")
        }
        let relativeDirectory = #"{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "x", "app": {"user": "0", "group": "0", "workingDirectory": "srv"}}"#
        #expect(throws: AppcError("workingDirectory must be an absolute path", field: "app")) {
            try ImageManifest.decode(Data(relativeDirectory.utf8))
        }
    }

    @Test func runtimeValidationOfExec() throws {
        var app = App(exec: ["sh"], user: "0", group: "0")
        try app.validate() // the schema accepts a relative program
        #expect(throws: AppcError("app exec must be an absolute path", field: "exec")) { try app.validateForRuntime() }
        app.exec = []
        #expect(throws: AppcError("app exec must not be empty", field: "exec")) { try app.validateForRuntime() }
        app.exec = ["/bin/sh"]
        try app.validateForRuntime()
    }

    @Test func environmentHelpers() throws {
        var app = App(exec: ["/bin/sh"], user: "0", group: "0")
        app.setEnvironment("PATH", to: "/bin")
        app.setEnvironment("PATH", to: "/usr/bin:/bin")
        #expect(app.environment.count == 1 && app.environmentValue(of: "PATH") == "/usr/bin:/bin")
        app.environment.append(EnvironmentVariable(name: "bad name", value: ""))
        #expect(throws: AppcError(#"environment variable does not have valid identifier "bad name""#,
                                  field: "environment[1]")) {
            try app.validate()
        }
    }

    @Test func errorDescription() {
        #expect(AppcError("path must be set", field: "mounts[0]").description == "mounts[0]: path must be set")
        #expect(AppcError("name must be set").description == "name must be set")
    }
}
