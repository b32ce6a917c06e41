import Foundation
import RktTypes
import Testing
@testable import RktPods

private func acName(_ text: String) -> ACName { try! ACName(text) }
private func ident(_ text: String) -> ACIdentifier { try! ACIdentifier(text) }
private func env(_ name: String, _ value: String) -> EnvironmentVariable { EnvironmentVariable(name: name, value: value) }

private let idA = "sha512-" + String(repeating: "a", count: 128)
private let idB = "sha512-" + String(repeating: "b", count: 128)

private func image(_ name: String, id: String = idA, app: App? = App(exec: ["/bin/app", "--default"], user: "0", group: "0"),
                   annotations: Annotations = [], passwd: String? = nil, group: String? = nil,
                   owners: [String: (UInt32, UInt32)] = [:]) -> ImageInput {
    let manifest = ImageManifest(name: ident(name), labels: [Label(name: ident("version"), value: "1.0")], app: app,
                                 annotations: annotations)
    return ImageInput(imageID: id, manifest: manifest, passwd: passwd, group: group) { path in
        owners[path].map { (uid: $0.0, gid: $0.1) }
    }
}

private func build(_ argv: [String], _ images: [ImageInput], environment: [String: String] = [:],
                   files: [String: String] = [:],
                   builder: PodManifestBuilder = PodManifestBuilder()) throws -> PodManifest {
    try builder.build(arguments: try AppArguments.parse(argv), images: images, environment: environment,
                      environmentFiles: files)
}

private func buildError(_ argv: [String], _ images: [ImageInput], environment: [String: String] = [:],
                        files: [String: String] = [:]) -> String {
    do {
        _ = try build(argv, images, environment: environment, files: files)
        return "no error"
    } catch {
        return "\(error)"
    }
}

@Suite struct PodManifestBuilderTests {
    @Test func basicManifest() throws {
        let manifest = try build(["example.com/web/nginx"], [image("example.com/web/nginx")])
        #expect(manifest.apps.count == 1)
        let app = manifest.apps[0]
        #expect(app.name == acName("nginx"))
        #expect(app.image.id?.description == idA)
        #expect(app.image.name == ident("example.com/web/nginx"))
        #expect(app.image.labels.value(of: "version") == "1.0")
        #expect(app.app?.exec == ["/bin/app", "--default"])
        #expect(app.readOnlyRootFS == false)
        #expect(manifest.annotations.value(of: "coreos.com/rkt/stage1/mutable") == "false")
        // Round-trips through the validating encoder/decoder.
        let decoded = try PodManifest.decode(try manifest.encoded())
        #expect(decoded == manifest)
    }

    // MARK: exec and arguments

    @Test func execAndArgumentSemantics() throws {
        let img = image("example.com/app")
        // No overrides: the image's exec line.
        #expect(try build(["i"], [img]).apps[0].app?.exec == ["/bin/app", "--default"])
        // `-- ARGS` without --exec: appended to the image's exec line (rkt 1.30 run/prepare).
        #expect(try build(["i", "--", "x", "y"], [img]).apps[0].app?.exec == ["/bin/app", "--default", "x", "y"])
        // `--exec` alone replaces the whole exec line.
        #expect(try build(["i", "--exec=/bin/sh"], [img]).apps[0].app?.exec == ["/bin/sh"])
        // `--exec` plus args: the new program with those args.
        #expect(try build(["i", "--exec", "/bin/sh", "--", "-c", "true"], [img]).apps[0].app?.exec
            == ["/bin/sh", "-c", "true"])
        // Relative --exec is kept as given (resolved later with the image PATH).
        #expect(try build(["i", "--exec=sh"], [img]).apps[0].app?.exec == ["sh"])
        // `app add` style: replace the image's arguments after exec[0].
        let replacing = PodManifestBuilder(argumentsMode: .replaceImageArguments)
        #expect(try build(["i", "--", "x"], [img], builder: replacing).apps[0].app?.exec == ["/bin/app", "x"])
        #expect(try build(["i", "--"], [img], builder: replacing).apps[0].app?.exec == ["/bin/app"])
    }

    @Test func imageWithoutAppSection() throws {
        let bare = image("example.com/bare", app: nil)
        #expect(buildError(["i"], [bare]).contains("has no app section and --exec argument is not provided"))
        let app = try build(["i", "--exec=/bin/true", "--", "a"], [bare]).apps[0].app
        #expect(app?.exec == ["/bin/true", "a"])
        #expect(app?.user == "0")
        #expect(app?.group == "0")
        let noExec = image("example.com/noexec", app: App(exec: [], user: "0", group: "0"))
        #expect(buildError(["i"], [noExec]).contains("app \"noexec\": the image has no exec and --exec was not given"))
    }

    // MARK: names

    @Test func appNaming() throws {
        #expect(try PodManifestBuilder.defaultAppName(for: ident("coreos.com/etcd")) == acName("etcd"))
        #expect(try PodManifestBuilder.defaultAppName(for: ident("example.com/my_app.v2")) == acName("my-app-v2"))
        #expect(try PodManifestBuilder.defaultAppName(for: ident("busybox")) == acName("busybox"))
        let manifest = try build(["a", "--name=first", "b"], [image("x.io/a"), image("y.io/b", id: idB)])
        #expect(manifest.apps.map(\.name) == [acName("first"), acName("b")])
    }

    @Test func duplicateAppNames() throws {
        let message = buildError(["a", "b"], [image("x.io/app"), image("y.io/app", id: idB)])
        #expect(message.contains("duplicate app name \"app\" (images 1 and 2)"))
        let named = buildError(["a", "--name=same", "b", "--name=same"], [image("x.io/a"), image("y.io/b", id: idB)])
        #expect(named.contains("duplicate app name \"same\""))
        // Distinct --name fixes it.
        let manifest = try build(["a", "b", "--name=app2"], [image("x.io/app"), image("y.io/app", id: idB)])
        #expect(manifest.apps.map(\.name) == [acName("app"), acName("app2")])
    }

    // MARK: overrides

    @Test func appOverrides() throws {
        let manifest = try build([
            "--volume=data,kind=empty", "--mount=volume=data,target=/pod-wide",
            "i", "--working-dir=/work", "--user=1000", "--group=100", "--supplementary-gids=5,6",
            "--readonly-rootfs", "--annotation=a.io/k=v", "--user-annotation=ua=1", "--user-label=ul=2",
            "--mount=volume=data,target=/mine", "--stdin=stream", "--stdout=tty",
        ], [image("x.io/app")])
        let runtimeApp = manifest.apps[0]
        let app = try #require(runtimeApp.app)
        #expect(app.workingDirectory == "/work")
        #expect(app.user == "1000")
        #expect(app.group == "100")
        #expect(app.supplementaryGIDs == [5, 6])
        #expect(app.userAnnotations == ["ua": "1"])
        #expect(app.userLabels == ["ul": "2"])
        #expect(runtimeApp.readOnlyRootFS)
        #expect(runtimeApp.annotations.value(of: "a.io/k") == "v")
        #expect(runtimeApp.annotations.value(of: "coreos.com/rkt/stage2/stdin") == "stream")
        #expect(runtimeApp.annotations.value(of: "coreos.com/rkt/stage2/stdout") == "tty")
        #expect(runtimeApp.annotations.value(of: "coreos.com/rkt/stage2/stderr") == nil)
        // App mounts first, then pod-wide ones.
        #expect(runtimeApp.mounts == [Mount(volume: acName("data"), path: "/mine"),
                                      Mount(volume: acName("data"), path: "/pod-wide")])
        #expect(manifest.volumes == [Volume(name: acName("data"), kind: .empty)])
    }

    @Test func mountMergingPrefersAppMountOnSamePath() {
        let pod = [Mount(volume: acName("a"), path: "/data/"), Mount(volume: acName("b"), path: "/other")]
        let app = [Mount(volume: acName("c"), path: "/data")]
        #expect(PodManifestBuilder.mergeMounts(pod: pod, app: app)
            == [Mount(volume: acName("c"), path: "/data"), Mount(volume: acName("b"), path: "/other")])
        #expect(PodManifestBuilder.cleanPath("/a/./b/../c//") == "/a/c")
        #expect(PodManifestBuilder.cleanPath("/..") == "/")
    }

    @Test func podWideMountAppliesToEveryApp() throws {
        let manifest = try build(["--volume=v,kind=host,source=/srv", "--mount=volume=v,target=/v", "a", "b"],
                                 [image("x.io/a"), image("x.io/b", id: idB)])
        #expect(manifest.apps.allSatisfy { $0.mounts == [Mount(volume: acName("v"), path: "/v")] })
    }

    // MARK: volumes

    @Test func implicitEmptyVolumes() throws {
        let app = App(exec: ["/bin/db"], user: "0", group: "0", mountPoints: [
            MountPoint(name: acName("data"), path: "/var/lib/db"),
            MountPoint(name: acName("logs"), path: "/var/log", readOnly: true),
            MountPoint(name: acName("conf"), path: "/etc/db"),
            MountPoint(name: acName("cache"), path: "/cache"),
        ])
        let manifest = try build([
            "--volume=conf,kind=host,source=/etc/db-host",  // satisfies "conf" by name
            "--volume=other,kind=empty",
            "i", "--mount=volume=other,target=/cache/",     // satisfies "cache" by path
        ], [image("x.io/db", app: app)])
        #expect(manifest.volumes.map(\.name.rawValue) == ["conf", "other", "db-data", "db-logs"])
        let data = try #require(manifest.volumes.first { $0.name == acName("db-data") })
        #expect(data.knownKind == .empty)
        #expect(data.readOnly == false)
        #expect(data.mode == "0755" && data.uid == 0 && data.gid == 0)
        #expect(manifest.volumes.first { $0.name == acName("db-logs") }?.readOnly == true)
        #expect(manifest.apps[0].mounts == [
            Mount(volume: acName("other"), path: "/cache/"),
            Mount(volume: acName("db-data"), path: "/var/lib/db"),
            Mount(volume: acName("db-logs"), path: "/var/log"),
        ])
        // Can be turned off (then stage1 decides, as in rkt).
        let plain = try build(["i"], [image("x.io/db", app: app)], builder: PodManifestBuilder(addImplicitVolumes: false))
        #expect(plain.volumes.isEmpty)
        #expect(plain.apps[0].mounts.isEmpty)
    }

    @Test func implicitVolumeNameCollision() {
        let app = App(exec: ["/bin/db"], user: "0", group: "0", mountPoints: [MountPoint(name: acName("data"), path: "/d")])
        let message = buildError(["--volume=db-data,kind=empty", "i"], [image("x.io/db", app: app)])
        #expect(message.contains("would be named \"db-data\", which a --volume already uses"))
    }

    @Test func mountOfUnknownVolumeIsRejected() throws {
        var arguments = try AppArguments.parse(["i"])
        arguments.apps[0].mounts = [Mount(volume: acName("ghost"), path: "/g")]
        #expect(throws: PodManifestBuilderError.self) {
            try PodManifestBuilder().build(arguments: arguments, images: [image("x.io/a")])
        }
        do {
            _ = try PodManifestBuilder().build(arguments: arguments, images: [image("x.io/a")])
        } catch {
            #expect(error.message.contains("volume \"ghost\" not found"))
        }
    }

    // MARK: isolators

    @Test func cliIsolatorsReplaceImageIsolators() throws {
        let imageIsolators: [Isolator] = [
            try Isolator.memory(limit: Quantity("1Gi")),
            try Isolator(.cpuShares(100)),
            try Isolator(.capabilitiesRemoveSet(["CAP_MKNOD"])),
            try Isolator(.seccompRetainSet(SeccompSet(syscalls: ["@rkt/default-whitelist"]))),
            try Isolator(.noNewPrivileges(true)),
            try Isolator(.oomScoreAdj(5)),
        ]
        let app = App(exec: ["/x"], user: "0", group: "0", isolators: imageIsolators)
        let manifest = try build([
            "i", "--memory=64Mi", "--cpu=250m", "--caps-retain=CAP_NET_BIND_SERVICE",
            "--seccomp=mode=remove,errno=EPERM,reboot",
        ], [image("x.io/app", app: app)])
        let isolators = try #require(manifest.apps[0].app?.isolators)
        #expect(isolators.map(\.name.rawValue) == [
            "os/linux/cpu-shares", "os/linux/no-new-privileges", "os/linux/oom-score-adj",
            "resource/memory", "resource/cpu", "os/linux/capabilities-retain-set", "os/linux/seccomp-remove-set",
        ])
        #expect(isolators[3].value == .memory(ResourceRequirements(request: try Quantity("64Mi"), limit: try Quantity("64Mi"))))
        #expect(isolators[4].value == .cpu(ResourceRequirements(request: try Quantity("250m"), limit: try Quantity("250m"))))
        #expect(isolators[5].value == .capabilitiesRetainSet(["CAP_NET_BIND_SERVICE"]))
        #expect(isolators[6].value == .seccompRemoveSet(SeccompSet(syscalls: ["reboot"], errno: "EPERM")))

        // cpu-shares and oom-score-adj overrides replace theirs too.
        let second = try build(["i", "--cpu-shares=512", "--oom-score-adj=-100"], [image("x.io/app", app: app)])
        let names = second.apps[0].app?.isolators.map(\.name.rawValue) ?? []
        #expect(names.filter { $0 == "os/linux/cpu-shares" }.count == 1)
        #expect(second.apps[0].app?.isolators.contains { $0.value == .cpuShares(512) } == true)
        #expect(second.apps[0].app?.isolators.contains { $0.value == .oomScoreAdj(-100) } == true)
        // Untouched image isolators stay as they were.
        let untouched = try build(["i"], [image("x.io/app", app: app)])
        #expect(untouched.apps[0].app?.isolators == imageIsolators)
    }

    @Test func capsRetainAndRemoveAreMutuallyExclusive() throws {
        var arguments = try AppArguments.parse(["i"])
        arguments.apps[0].capsRetain = ["CAP_KILL"]
        arguments.apps[0].capsRemove = ["CAP_MKNOD"]
        let error = #expect(throws: PodManifestBuilderError.self) {
            try PodManifestBuilder().build(arguments: arguments, images: [image("x.io/app")])
        }
        #expect(error?.message.contains("cannot use both --caps-retain and --caps-remove") == true)
        // --caps-remove replaces an image retain-set.
        let app = App(exec: ["/x"], user: "0", group: "0",
                      isolators: [try Isolator(.capabilitiesRetainSet(["CAP_KILL"]))])
        let manifest = try build(["i", "--caps-remove=CAP_CHOWN"], [image("x.io/app", app: app)])
        #expect(manifest.apps[0].app?.isolators.map(\.value) == [.capabilitiesRemoveSet(["CAP_CHOWN"])])
    }

    // MARK: environment

    @Test func environmentLayers() throws {
        let app = App(exec: ["/x"], user: "0", group: "0",
                      environment: [env("IMG", "image"), env("FILE", "image"), env("SET", "image"), env("APP", "image")])
        let manifest = try build(
            ["--inherit-env", "--set-env-file=/env", "--set-env=SET=setenv", "--set-env=APP=setenv",
             "i", "--environment=APP=app"],
            [image("x.io/app", app: app)],
            environment: ["IMG": "host", "HOSTONLY": "host", "PATH": "/host/bin", "bad name": "x"],
            files: ["/env": "# comment\n; other\n\nFILE=file\nSET=file\nFROMFILE=file\n"])
        let environment = try #require(manifest.apps[0].app?.environment)
        func value(_ name: String) -> String? { environment.first { $0.name == name }?.value }
        #expect(value("IMG") == "image")       // inherit-env does not override the image
        #expect(value("HOSTONLY") == "host")   // but adds what is missing
        #expect(value("PATH") == "/host/bin")  // inherited PATH beats the default
        #expect(value("FILE") == "file")       // file > image
        #expect(value("FROMFILE") == "file")
        #expect(value("SET") == "setenv")      // set-env > file
        #expect(value("APP") == "app")         // environment > set-env
        #expect(value("SHELL") == "/bin/sh")   // defaults fill the rest
        #expect(value("bad name") == nil)
    }

    @Test func environmentWithoutInheritIgnoresCaller() throws {
        let manifest = try build(["i"], [image("x.io/app")], environment: ["HOSTONLY": "host"])
        let environment = manifest.apps[0].app?.environment ?? []
        #expect(!environment.contains { $0.name == "HOSTONLY" })
        #expect(environment == EnvironmentRules.defaults)
    }

    @Test func environmentFileErrors() {
        #expect(buildError(["--set-env-file=/e", "i"], [image("x.io/a")]).contains("--set-env-file \"/e\": contents not provided"))
        #expect(buildError(["--set-env-file=/e", "i"], [image("x.io/a")], files: ["/e": "JUSTANAME\n"])
            .contains("must be specified as name=value (file \"/e\", line 1)"))
        #expect(buildError(["--set-env-file=/a", "--set-env-file=/b", "i"], [image("x.io/a")],
                           files: ["/a": "X=1", "/b": "X=2"]).contains("environment variable \"X\" already set (file \"/b\")"))
    }

    // MARK: user and group

    @Test func userAndGroupAreKeptAndValidated() throws {
        let passwd = "root:x:0:0:root:/root:/bin/sh\nuser1:x:1000:1000::/home/user1:/bin/sh\n"
        let group = "root:x:0:\ngroup1:x:100:user1\n"
        let img = image("x.io/app", passwd: passwd, group: group, owners: ["/inspect": (7, 8)])
        let manifest = try build(["i", "--user=user1", "--group=group1"], [img])
        #expect(manifest.apps[0].app?.user == "user1")   // kept as given; stage1 resolves
        #expect(manifest.apps[0].app?.group == "group1")
        _ = try build(["i", "--user=/inspect", "--group=/inspect"], [img])
        let unknown = buildError(["i", "--user=nobody"], [img])
        #expect(unknown.contains("app \"app\": invalid user \"nobody\": not found in the image's /etc/passwd"))
        let missingFile = buildError(["i", "--group=/nope"], [img])
        #expect(missingFile.contains("invalid group \"/nope\""))
        // Without validation the builder does not look.
        let lax = PodManifestBuilder(validateUserGroup: false)
        #expect(try build(["i", "--user=nobody"], [img], builder: lax).apps[0].app?.user == "nobody")
    }

    @Test func dockerImageGroupFallsBackToUID() throws {
        let docker = image("registry-1.docker.io/library/app",
                           app: App(exec: ["/x"], user: "daemon", group: "daemon"),
                           annotations: [Annotation(name: ident("appc.io/docker/repository"), value: "library/app")],
                           passwd: "daemon:x:2:2::/:/bin/false\n", group: "")
        #expect(try build(["i"], [docker]).apps[0].app?.group == "daemon")
        // An explicit --group is trusted as given and must resolve.
        #expect(buildError(["i", "--group=daemon2"], [docker]).contains("invalid group \"daemon2\""))
    }

    // MARK: ports and pod-level checks

    @Test func forwardedPorts() throws {
        let web = App(exec: ["/x"], user: "0", group: "0", ports: [Port(name: acName("http"), protocol: "tcp", port: 80)])
        let manifest = try build(["--port=http:8080", "i"], [image("x.io/web", app: web)])
        #expect(manifest.ports == [ExposedPort(name: acName("http"), hostPort: 8080)])
        #expect(buildError(["--port=dns:53", "i"], [image("x.io/web", app: web)])
            .contains("port name \"dns\" could not be found in any apps"))
        #expect(buildError(["--port=http:8080", "a", "b"], [image("x.io/web", app: web), image("y.io/web2", id: idB, app: web)])
            .contains("port name \"http\" defined multiple apps"))
        let twoPorts = App(exec: ["/x"], user: "0", group: "0", ports: [
            Port(name: acName("http"), protocol: "tcp", port: 80), Port(name: acName("alt"), protocol: "tcp", port: 81),
        ])
        #expect(buildError(["--port=http:8080", "--port=alt:127.0.0.1:8080", "i"], [image("x.io/web", app: twoPorts)])
            .contains("already mapped to pod port 80"))
    }

    @Test func podLevelErrors() throws {
        #expect(buildError(["--interactive", "a", "b"], [image("x.io/a"), image("x.io/b", id: idB)])
            .contains("interactive option only supports one image"))
        #expect(buildError(["i"], [image("x.io/a", id: "md5-abc")]).contains("image 1 (\"i\"): invalid image ID"))
        let arguments = try AppArguments.parse(["a", "b"])
        #expect(throws: PodManifestBuilderError.self) {
            try PodManifestBuilder().build(arguments: arguments, images: [image("x.io/a")])
        }
        #expect(throws: PodManifestBuilderError.self) {
            try PodManifestBuilder().build(arguments: RunArguments(), images: [])
        }
    }

    // MARK: --pod-manifest

    private static let podManifestJSON = """
        {"acKind": "PodManifest", "acVersion": "0.8.11",
         "apps": [{"name": "web", "image": {"id": "\(idA)"},
                   "app": {"exec": ["/x"], "user": "0", "group": "0",
                           "ports": [{"name": "http", "protocol": "tcp", "port": 80}]}}],
         "volumes": [], "ports": [{"name": "http", "hostPort": 8080}]}
        """

    @Test func podManifestIsLoaded() throws {
        let arguments = try AppArguments.parse(["--pod-manifest=/pm.json", "--no-overlay", "--net=host", "--hostname=h"])
        let manifest = try PodManifestBuilder.loadPodManifest(Data(Self.podManifestJSON.utf8), arguments: arguments)
        #expect(manifest.apps.map(\.name) == [acName("web")])
        #expect(manifest.ports.count == 1)
        // build() refuses to generate one when --pod-manifest is set.
        #expect(throws: PodManifestBuilderError.self) {
            try PodManifestBuilder().build(arguments: arguments, images: [])
        }
    }

    @Test(arguments: [
        (["--pod-manifest=/p", "img"], "image arguments"),
        (["--pod-manifest=/p", "--volume=v,kind=empty"], "--volume"),
        (["--pod-manifest=/p", "--volume=v,kind=empty", "--mount=volume=v,target=/v"], "--mount"),
        (["--pod-manifest=/p", "--port=http:80"], "--port"),
        (["--pod-manifest=/p", "--pull-policy=never"], "--pull-policy=never"),
        (["--pod-manifest=/p", "--store-only"], "--store-only"),
        (["--pod-manifest=/p", "--inherit-env"], "--inherit-env"),
        (["--pod-manifest=/p", "--set-env=A=1"], "--set-env"),
        (["--pod-manifest=/p", "--set-env-file=/f"], "--set-env-file"),
    ])
    func podManifestConflicts(argv: [String], flag: String) throws {
        let arguments = try AppArguments.parse(argv)
        let error = #expect(throws: PodManifestBuilderError.self) {
            try PodManifestBuilder.loadPodManifest(Data(Self.podManifestJSON.utf8), arguments: arguments)
        }
        #expect(error?.message.contains("conflicting flags set with --pod-manifest: ") == true)
        #expect(error?.message.contains(flag) == true, "\(error?.message ?? "")")
    }

    @Test func podManifestChecks() throws {
        let arguments = try AppArguments.parse(["--pod-manifest=/pm.json"])
        func loadError(_ json: String, imageManifest: (Hash) -> ImageManifest? = { _ in nil }) -> String {
            do {
                _ = try PodManifestBuilder.loadPodManifest(Data(json.utf8), arguments: arguments, imageManifest: imageManifest)
                return "no error"
            } catch {
                return error.message
            }
        }
        #expect(loadError("{not json").contains("invalid pod manifest \"/pm.json\""))
        #expect(loadError(#"{"acKind": "PodManifest", "acVersion": "0.8.11", "apps": [{"name": "a", "image": {}}]}"#)
            .contains("no image ID for app \"a\""))
        let noApp = #"{"acKind": "PodManifest", "acVersion": "0.8.11", "apps": [{"name": "a", "image": {"id": "\#(idA)"}}]}"#
        #expect(loadError(noApp) == "no error")
        #expect(loadError(noApp, imageManifest: { _ in ImageManifest(name: ident("x.io/a")) })
            .contains("no app section in the pod manifest or the image manifest"))
        let badPort = #"{"acKind": "PodManifest", "acVersion": "0.8.11", "apps": [], "ports": [{"name": "nope", "hostPort": 1}]}"#
        #expect(loadError(badPort).contains("port name \"nope\" could not be found"))
    }
}

/// One row: the value each layer gives `V` (nil = not set there) and the winner.
struct EnvironmentPrecedenceCase: CustomTestStringConvertible, Sendable {
    let inherited: String?
    let image: String?
    let file: String?
    let explicit: String?
    let app: String?
    let expected: String?
    var testDescription: String {
        "inherited=\(inherited ?? "-") image=\(image ?? "-") file=\(file ?? "-") set-env=\(explicit ?? "-") environment=\(app ?? "-")"
    }
}

private let precedenceCases: [EnvironmentPrecedenceCase] = [
    EnvironmentPrecedenceCase(inherited: "host", image: nil, file: nil, explicit: nil, app: nil, expected: "host"),
    EnvironmentPrecedenceCase(inherited: "host", image: "image", file: nil, explicit: nil, app: nil, expected: "image"),
    EnvironmentPrecedenceCase(inherited: nil, image: "image", file: "file", explicit: nil, app: nil, expected: "file"),
    EnvironmentPrecedenceCase(inherited: "host", image: nil, file: "file", explicit: nil, app: nil, expected: "file"),
    EnvironmentPrecedenceCase(inherited: nil, image: "image", file: "file", explicit: "set", app: nil, expected: "set"),
    EnvironmentPrecedenceCase(inherited: "host", image: nil, file: nil, explicit: "set", app: nil, expected: "set"),
    EnvironmentPrecedenceCase(inherited: nil, image: "image", file: "file", explicit: "set", app: "app", expected: "app"),
    EnvironmentPrecedenceCase(inherited: "host", image: "image", file: nil, explicit: nil, app: "app", expected: "app"),
    EnvironmentPrecedenceCase(inherited: nil, image: nil, file: nil, explicit: nil, app: nil, expected: nil),
]

@Suite struct EnvironmentRulesTests {
    @Test(arguments: precedenceCases)
    func precedence(_ row: EnvironmentPrecedenceCase) {
        func layer(_ value: String?) -> [EnvironmentVariable] { value.map { [env("V", $0)] } ?? [] }
        let merged = EnvironmentRules.merge(inherited: layer(row.inherited), image: layer(row.image),
                                            fromFiles: layer(row.file), explicit: layer(row.explicit),
                                            app: layer(row.app), addDefaults: false)
        #expect(merged.first { $0.name == "V" }?.value == row.expected)
        #expect(merged.filter { $0.name == "V" }.count == (row.expected == nil ? 0 : 1))
    }

    @Test func defaultsOnlyFillGaps() {
        let merged = EnvironmentRules.merge(image: [env("HOME", "/home/app"), env("A", "1")],
                                            explicit: [env("USER", "app")])
        #expect(merged == [
            env("HOME", "/home/app"), env("A", "1"), env("USER", "app"),
            env("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"), env("SHELL", "/bin/sh"),
            env("LOGNAME", "root"),
        ])
        #expect(EnvironmentRules.merge(image: [], addDefaults: false).isEmpty)
    }

    @Test func orderIsImageFirstThenNewNames() {
        let merged = EnvironmentRules.merge(inherited: ["Z": "z", "B": "host"],
                                            image: [env("B", "b"), env("A", "a")],
                                            explicit: [env("C", "c"), env("A", "set")], addDefaults: false)
        #expect(merged == [env("B", "b"), env("A", "set"), env("Z", "z"), env("C", "c")])
    }

    @Test func environmentFileSyntax() throws {
        let parsed = try EnvironmentRules.parseEnvironmentFile("A=1\r\n#x=2\n;y=3\n\nB==two\nC=\n", path: "/f")
        #expect(parsed == [env("A", "1"), env("B", "=two"), env("C", "")])
        #expect(throws: EnvironmentRules.FileError.self) { try EnvironmentRules.parseEnvironmentFile("=v\n", path: "/f") }
        #expect(throws: EnvironmentRules.FileError.self) { try EnvironmentRules.parseEnvironmentFile("A=1\nA=2\n", path: "/f") }
    }
}
