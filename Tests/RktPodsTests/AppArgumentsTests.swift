import Foundation
import RktTypes
import Testing
@testable import RktPods

private func name(_ text: String) -> ACName { try! ACName(text) }
private func env(_ name: String, _ value: String) -> EnvironmentVariable { EnvironmentVariable(name: name, value: value) }

struct ParseCase: CustomTestStringConvertible, Sendable {
    let argv: [String]
    let expected: RunArguments
    var testDescription: String { argv.joined(separator: " ") }
}

private let parseCases: [ParseCase] = [
    // A single image, nothing else.
    ParseCase(argv: ["example.com/app"], expected: RunArguments(apps: [AppArguments(image: "example.com/app")])),
    // Two images without separators: each non-flag word starts an app.
    ParseCase(argv: ["a", "b"], expected: RunArguments(apps: [AppArguments(image: "a"), AppArguments(image: "b")])),
    // `--` args, `---` terminator, per-app flags in both forms.
    ParseCase(
        argv: ["--debug", "img1", "--exec", "/bin/sh", "--name=one", "--", "-c", "echo hi", "---",
               "img2", "--user=1000", "--group", "100", "--", "--flag", "---"],
        expected: RunArguments(
            apps: [
                AppArguments(image: "img1", name: name("one"), exec: "/bin/sh", arguments: ["-c", "echo hi"]),
                AppArguments(image: "img2", arguments: ["--flag"], user: "1000", group: "100"),
            ],
            podFlags: [RawFlag("debug")], debug: true)),
    // Arguments run to the end when there is no `---`; flags inside are arguments.
    ParseCase(
        argv: ["img", "--", "--volume=x", "--", "---x"],
        expected: RunArguments(apps: [AppArguments(image: "img", arguments: ["--volume=x", "--", "---x"])])),
    // An empty `--` gives an empty argument list (not nil).
    ParseCase(argv: ["img", "--", "---", "img2"],
              expected: RunArguments(apps: [AppArguments(image: "img", arguments: []), AppArguments(image: "img2")])),
    // `--mount` before the first image applies to all apps; after an image, to that app.
    ParseCase(
        argv: ["--volume", "data,kind=host,source=/srv", "--mount", "volume=data,target=/data",
               "a", "--mount=volume=data,target=/other", "b"],
        expected: RunArguments(
            apps: [
                AppArguments(image: "a", mounts: [Mount(volume: name("data"), path: "/other")]),
                AppArguments(image: "b"),
            ],
            podFlags: [RawFlag("volume", "data,kind=host,source=/srv")],
            volumes: [Volume(name: name("data"), kind: .host, source: "/srv")],
            mounts: [Mount(volume: name("data"), path: "/data")])),
    // Per-image --signature.
    ParseCase(
        argv: ["a.aci", "--signature", "a.asc", "b.aci", "--signature=b.asc"],
        expected: RunArguments(apps: [AppArguments(image: "a.aci", signature: "a.asc"),
                                      AppArguments(image: "b.aci", signature: "b.asc")])),
    // Go-style booleans.
    ParseCase(
        argv: ["--inherit-env", "--no-overlay=true", "--interactive=false", "img", "--readonly-rootfs",
               "img2", "--readonly-rootfs=false"],
        expected: RunArguments(
            apps: [AppArguments(image: "img", readOnlyRootFS: true), AppArguments(image: "img2", readOnlyRootFS: false)],
            podFlags: [RawFlag("inherit-env"), RawFlag("no-overlay", "true"), RawFlag("interactive", "false")],
            inheritEnvironment: true, noOverlay: true)),
    // A bare --net is `default` and does not take the next word (which is the image).
    ParseCase(
        argv: ["--net", "img", "--net=host"],
        expected: RunArguments(apps: [AppArguments(image: "img")],
                               podFlags: [RawFlag("net"), RawFlag("net", "host")], networks: ["default", "host"])),
    // Environment flags and the typed pod fields.
    ParseCase(
        argv: ["--set-env=A=1", "--set-env", "B=x=y", "--set-env-file", "/e1", "--set-env-file=/e2",
               "--hostname", "h", "--uuid-file-save=/u", "--port", "http:8080", "--port=dns:127.0.0.1:53",
               "--dns", "8.8.8.8", "--dns-search=x.org", "--dns-opt", "ndots:2", "--dns-domain=x", "--hosts-entry=1.2.3.4=db",
               "--ipc=private", "--stage1-name=coreos.com/rkt/stage1-fly", "--pull-policy=never", "--insecure-options=image,tls",
               "--dir=/d", "--local-config=/l", "--system-config=/s", "--user-config=/c", "--mds-register", "--private-users",
               "img", "--environment", "C=3", "--environment=C=4"],
        expected: RunArguments(
            apps: [AppArguments(image: "img", environment: [env("C", "4")])],
            podFlags: [
                RawFlag("set-env", "A=1"), RawFlag("set-env", "B=x=y"), RawFlag("set-env-file", "/e1"),
                RawFlag("set-env-file", "/e2"), RawFlag("hostname", "h"), RawFlag("uuid-file-save", "/u"),
                RawFlag("port", "http:8080"), RawFlag("port", "dns:127.0.0.1:53"), RawFlag("dns", "8.8.8.8"),
                RawFlag("dns-search", "x.org"), RawFlag("dns-opt", "ndots:2"), RawFlag("dns-domain", "x"),
                RawFlag("hosts-entry", "1.2.3.4=db"), RawFlag("ipc", "private"),
                RawFlag("stage1-name", "coreos.com/rkt/stage1-fly"), RawFlag("pull-policy", "never"),
                RawFlag("insecure-options", "image,tls"), RawFlag("dir", "/d"), RawFlag("local-config", "/l"),
                RawFlag("system-config", "/s"), RawFlag("user-config", "/c"), RawFlag("mds-register"),
                RawFlag("private-users"),
            ],
            setEnvironment: [env("A", "1"), env("B", "x=y")], setEnvironmentFiles: ["/e1", "/e2"],
            hostname: "h", uuidFileSave: "/u",
            ports: [ExposedPort(name: name("http"), hostPort: 8080),
                    ExposedPort(name: name("dns"), hostPort: 53, hostIP: "127.0.0.1")],
            dns: ["8.8.8.8"], dnsSearch: ["x.org"], dnsOptions: ["ndots:2"], dnsDomain: "x",
            hostsEntries: ["1.2.3.4=db"], ipc: "private", stage1: Stage1Selection(name: "coreos.com/rkt/stage1-fly"),
            privateUsers: true, mdsRegister: true, pullPolicy: "never", insecureOptions: ["image,tls"],
            dataDirectory: "/d", localConfig: "/l", systemConfig: "/s", userConfig: "/c")),
    // Pod-level flags are also accepted after an image (rkt's flag set knows them there).
    ParseCase(
        argv: ["img", "--volume=v,kind=empty", "--hostname=h"],
        expected: RunArguments(
            apps: [AppArguments(image: "img")],
            podFlags: [RawFlag("volume", "v,kind=empty"), RawFlag("hostname", "h")],
            volumes: [Volume(name: name("v"), kind: .empty)], hostname: "h")),
    // Isolator and identity flags.
    ParseCase(
        argv: ["img", "--memory=16Mi", "--cpu", "500m", "--cpu-shares=2048", "--oom-score-adj=-50",
               "--caps-retain=CAP_NET_ADMIN,CAP_KILL", "--seccomp", "mode=remove,errno=EPERM,chmod,@docker/default-blacklist",
               "--supplementary-gids=1,2", "--supplementary-gids", "3", "--working-dir=/srv",
               "--annotation=a.io/x=1", "--user-annotation", "k=v", "--user-label=l=w",
               "--stdin=tty", "--stdout", "log", "--stderr=null"],
        expected: RunArguments(apps: [AppArguments(
            image: "img", workingDirectory: "/srv", supplementaryGIDs: [1, 2, 3],
            memoryLimit: try! Quantity("16Mi"), cpuLimit: try! Quantity("500m"), cpuShares: 2048,
            capsRetain: ["CAP_NET_ADMIN", "CAP_KILL"],
            seccomp: SeccompOverride(mode: .remove, errno: "EPERM", syscalls: ["chmod", "@docker/default-blacklist"]),
            oomScoreAdj: -50, annotations: [Annotation(name: try! ACIdentifier("a.io/x"), value: "1")],
            userAnnotations: ["k": "v"], userLabels: ["l": "w"], stdin: .tty, stdout: .log, stderr: .null)])),
    // Deprecated/alternative spellings.
    ParseCase(
        argv: ["img", "--cap-remove=CAP_MKNOD", "--oom-score-adjust", "10"],
        expected: RunArguments(apps: [AppArguments(image: "img", capsRemove: ["CAP_MKNOD"], oomScoreAdj: 10)])),
    // Empty `--flag=` values are values; a stray `---` is ignored.
    ParseCase(
        argv: ["---", "--hostname=", "img", "---"],
        expected: RunArguments(apps: [AppArguments(image: "img")], podFlags: [RawFlag("hostname", "")], hostname: "")),
    // A value may start with dashes when given as the next word (pflag).
    ParseCase(
        argv: ["img", "--user", "-1x"],
        expected: RunArguments(apps: [AppArguments(image: "img", user: "-1x")])),
]

@Suite struct AppArgumentsParseTests {
    @Test(arguments: parseCases)
    func parses(_ testCase: ParseCase) throws {
        let parsed = try AppArguments.parse(testCase.argv)
        #expect(parsed == testCase.expected)
    }

    @Test func prepareAcceptsQuietButNotRunOnlyFlags() throws {
        let parsed = try AppArguments.parse(["--quiet", "img"], command: .prepare)
        #expect(parsed.quiet)
        #expect(parsed.command == .prepare)
        #expect(throws: AppArgumentsError.self) { try AppArguments.parse(["--net=host", "img"], command: .prepare) }
        #expect(throws: AppArgumentsError.self) { try AppArguments.parse(["--quiet", "img"], command: .run) }
    }

    @Test func podManifestPathAndConflicts() throws {
        let clean = try AppArguments.parse(["--pod-manifest=/pm.json", "--no-overlay", "--net=host", "--hostname=h"])
        #expect(clean.podManifestPath == "/pm.json")
        #expect(clean.podManifestConflicts.isEmpty)
        let conflicting = try AppArguments.parse([
            "--pod-manifest=/pm.json", "--volume=v,kind=empty", "--mount=volume=v,target=/v", "--port=http:80",
            "--pull-policy=update", "--inherit-env", "--set-env=A=1", "--set-env-file=/f", "img",
        ])
        #expect(conflicting.podManifestConflicts == [
            "image arguments", "--volume", "--mount", "--port", "--pull-policy=update", "--inherit-env", "--set-env",
            "--set-env-file",
        ])
        #expect(try AppArguments.parse(["--pod-manifest=/p", "--pull-policy=new"]).podManifestConflicts.isEmpty)
        #expect(try AppArguments.parse(["--pod-manifest=/p", "--inherit-env=false"]).podManifestConflicts.isEmpty)
    }

    @Test func seccompParsing() throws {
        #expect(try SeccompOverride.parse("mode=retain,chmod,chown")
            == SeccompOverride(mode: .retain, syscalls: ["chmod", "chown"]))
        #expect(try SeccompOverride.parse("errno=ENOSYS,@rkt/default-whitelist,mode=remove")
            == SeccompOverride(mode: .remove, errno: "ENOSYS", syscalls: ["@rkt/default-whitelist"]))
        let isolator = try SeccompOverride(mode: .retain, errno: "EPERM", syscalls: ["read"]).isolator()
        #expect(isolator.name.rawValue == "os/linux/seccomp-retain-set")
        #expect(isolator.value == .seccompRetainSet(SeccompSet(syscalls: ["read"], errno: "EPERM")))
        for (text, fragment) in [
            ("chmod,chown", "needs mode=retain or mode=remove"),
            ("mode=keep,chmod", "invalid seccomp mode \"keep\""),
            ("mode=retain", "names no syscalls"),
            ("mode=retain,foo=bar,chmod", "invalid seccomp override \"foo=bar\""),
            ("mode=retain,errno=eperm,chmod", "errno must start with an 'E'"),
            ("mode=retain,,chmod", "empty syscall name"),
        ] {
            let error = #expect(throws: AppArgumentsError.self) { try SeccompOverride.parse(text) }
            #expect(error?.message.contains(fragment) == true, "\(text): \(error?.message ?? "")")
        }
    }
}

struct ParseErrorCase: CustomTestStringConvertible, Sendable {
    let argv: [String]
    let fragment: String
    var testDescription: String { argv.joined(separator: " ") }
}

private let errorCases: [ParseErrorCase] = [
    ParseErrorCase(argv: ["--bogus", "img"], fragment: "unknown pod-level flag --bogus before the first image"),
    ParseErrorCase(argv: ["a", "b", "--bogus=1"], fragment: "unknown flag --bogus after image 2 (\"b\")"),
    ParseErrorCase(argv: ["-x", "img"], fragment: "unknown shorthand flag \"-x\" before the first image"),
    ParseErrorCase(argv: ["img", "--exec"], fragment: "flag needs an argument: --exec after image 1 (\"img\")"),
    ParseErrorCase(argv: ["--hostname"], fragment: "flag needs an argument: --hostname before the first image"),
    ParseErrorCase(argv: ["--exec=/bin/sh", "img"], fragment: "--exec must follow an image"),
    ParseErrorCase(argv: ["--signature=x.asc", "img"], fragment: "--signature must follow an image"),
    ParseErrorCase(argv: ["--", "x"], fragment: "an image is required before any app arguments"),
    ParseErrorCase(argv: ["img", "--", "a", "---", "--", "b"], fragment: "only one set of app arguments allowed per image"),
    ParseErrorCase(argv: ["", "img"], fragment: "empty image name before the first image"),
    ParseErrorCase(argv: ["img", "--name="], fragment: "--name needs a non-empty value for image 1"),
    ParseErrorCase(argv: ["img", "--name=Bad_Name"], fragment: "invalid app name \"Bad_Name\" in --name"),
    ParseErrorCase(argv: ["img", "--exec=/a", "--exec=/b"], fragment: "--exec specified multiple times for image 1"),
    ParseErrorCase(argv: ["img", "--signature=a", "--signature=b"], fragment: "--signature specified multiple times"),
    ParseErrorCase(argv: ["img", "--readonly-rootfs=maybe"], fragment: "invalid boolean \"maybe\" for --readonly-rootfs"),
    ParseErrorCase(argv: ["--volume=v,kind=host,source=/a", "--volume=v,kind=empty", "img"],
                   fragment: "duplicate volume name \"v\""),
    ParseErrorCase(argv: ["--volume=v,kind=host", "img"], fragment: "invalid value in --volume flag \"v,kind=host\""),
    ParseErrorCase(argv: ["img", "--mount=volume=nope,target=/x"], fragment: "volume \"nope\" not found"),
    ParseErrorCase(argv: ["--volume=v,kind=empty", "img", "--mount=volume=v"], fragment: "needs target=PATH"),
    ParseErrorCase(argv: ["--volume=v,kind=empty", "img", "--mount=volume=v,target=/x,mode=1"],
                   fragment: "unknown mount parameter \"mode\""),
    ParseErrorCase(argv: ["img", "--caps-retain=CAP_KILL", "--caps-remove=CAP_MKNOD"],
                   fragment: "--caps-retain and --caps-remove are mutually exclusive for image 1"),
    ParseErrorCase(argv: ["img", "--caps-retain=NET_ADMIN"], fragment: "invalid --caps-retain \"NET_ADMIN\""),
    ParseErrorCase(argv: ["img", "--memory=16m"], fragment: "memory limit of 1 bytes too low"),
    ParseErrorCase(argv: ["img", "--memory=lots"], fragment: "invalid --memory \"lots\""),
    ParseErrorCase(argv: ["img", "--cpu-shares=1"], fragment: "--cpu-shares \"1\" for image 1 (\"img\") must be an integer between 2 and 262144"),
    ParseErrorCase(argv: ["img", "--oom-score-adj=2000"], fragment: "--oom-score-adj \"2000\""),
    ParseErrorCase(argv: ["img", "--supplementary-gids=1,x"], fragment: "--supplementary-gids must be non-negative integers"),
    ParseErrorCase(argv: ["img", "--seccomp=chmod"], fragment: "needs mode=retain or mode=remove for image 1"),
    ParseErrorCase(argv: ["img", "--environment=NOVALUE"], fragment: "invalid format of --environment flag \"NOVALUE\""),
    ParseErrorCase(argv: ["img", "--environment=1BAD=x"], fragment: "invalid --environment \"1BAD=x\""),
    ParseErrorCase(argv: ["img", "--annotation=Bad Name=x"], fragment: "invalid annotation name \"Bad Name\""),
    ParseErrorCase(argv: ["img", "--working-dir=relative"], fragment: "--working-dir \"relative\" for image 1 (\"img\") must be an absolute path"),
    ParseErrorCase(argv: ["img", "--stdin=log"], fragment: "invalid --stdin mode \"log\""),
    ParseErrorCase(argv: ["--set-env=A=1", "--set-env=A=2", "img"], fragment: "--set-env: key \"A\" already set"),
    ParseErrorCase(argv: ["--set-env=NOEQUALS", "img"], fragment: "must be specified as key=value"),
    ParseErrorCase(argv: ["--port=http", "img"], fragment: "is not in name:[ip:]port format"),
    ParseErrorCase(argv: ["--port=http:notaport", "img"], fragment: "\"notaport\" is not a valid port number"),
    ParseErrorCase(argv: ["--port=http:1.2.3:80", "img"], fragment: "\"1.2.3\" is not a valid IP"),
    ParseErrorCase(argv: ["--pull-policy=sometimes", "img"], fragment: "invalid --pull-policy \"sometimes\""),
    ParseErrorCase(argv: ["--stage1-name=a", "--stage1-path=/b", "img"],
                   fragment: "flags --stage1-path and --stage1-name are mutually exclusive"),
    ParseErrorCase(argv: ["--store-only", "--no-store", "img"], fragment: "both --store-only and --no-store specified"),
]

@Suite struct AppArgumentsErrorTests {
    @Test(arguments: errorCases)
    func rejects(_ testCase: ParseErrorCase) {
        let error = #expect(throws: AppArgumentsError.self) { try AppArguments.parse(testCase.argv) }
        #expect(error?.description.contains(testCase.fragment) == true,
                "expected \"\(testCase.fragment)\" in \"\(error?.description ?? "no error")\"")
    }
}
