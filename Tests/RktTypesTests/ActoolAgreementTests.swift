import Foundation
import RktTestSupport
import Testing
@testable import RktTypes

/// One manifest and the verdict we expect for it.
struct AgreementCase: CustomTestStringConvertible, Sendable {
    let label: String
    let json: String
    /// Our expected verdict.
    let valid: Bool
    /// Set where we are deliberately stricter than actool: we reject, actool accepts.
    let stricterThanActool: Bool

    init(_ label: String, _ json: String, valid: Bool, stricterThanActool: Bool = false) {
        self.label = label
        self.json = json
        self.valid = valid
        self.stricterThanActool = stricterThanActool
    }

    var testDescription: String { label }

    /// What actool should say: the same as us, except in the deliberately stricter cases.
    var actoolValid: Bool { stricterThanActool ? true : valid }
}

private let imageHead = #""acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/test""#
private let podHead = #""acKind": "PodManifest", "acVersion": "0.8.11""#
private let sha512 = "sha512-" + String(repeating: "ab", count: 64)

private func image(_ extra: String = "") -> String { "{\(imageHead)\(extra)}" }
private func imageApp(_ appFields: String) -> String {
    image(#", "app": {"exec": ["/bin/sh"], "user": "0", "group": "0"\#(appFields)}"#)
}
private func imageIsolators(_ isolators: String) -> String { imageApp(#", "isolators": [\#(isolators)]"#) }
private func pod(_ extra: String = "") -> String { "{\(podHead)\(extra)}" }
private func podApps(_ apps: String) -> String { pod(#", "apps": [\#(apps)]"#) }
private func podApp(_ appFields: String) -> String {
    podApps(#"{"name": "web", "image": {"id": "\#(sha512)"}\#(appFields)}"#)
}
private func podVolumes(_ volumes: String) -> String { pod(#", "volumes": [\#(volumes)]"#) }
private func memoryLimit(_ quantity: String) -> String {
    imageIsolators(#"{"name": "resource/memory", "value": {"limit": \#(quantity)}}"#)
}

let agreementCases: [AgreementCase] = [
    // The spec's own examples.
    AgreementCase("shipped image.json", shippedImageExample, valid: true),
    AgreementCase("shipped pod_runtime.json", shippedPodRuntimeExample, valid: true),
    AgreementCase("shipped pod_template.json (no image ids)", shippedPodTemplateExample, valid: true),

    // Valid image manifests.
    AgreementCase("minimal image", image(), valid: true),
    AgreementCase("acVersion with another major is only a semver check", #"{"acKind": "ImageManifest", "acVersion": "1.0.0", "name": "x"}"#, valid: true),
    AgreementCase("acVersion with pre-release and leading zeros", #"{"acKind": "ImageManifest", "acVersion": "00.8.11-rc.1+git", "name": "x"}"#, valid: true),
    AgreementCase("relative exec is not checked by the schema", imageApp(#", "exec": ["sh", "-c", "true"]"#), valid: true),
    AgreementCase("app without exec", image(#", "app": {"user": "0", "group": "0"}"#), valid: true),
    AgreementCase("linux aarch64 labels", image(#", "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "aarch64"}]"#), valid: true),
    AgreementCase("arch without os is not checked", image(#", "labels": [{"name": "arch", "value": "sparc"}]"#), valid: true),
    AgreementCase("darwin x86_64", image(#", "labels": [{"name": "os", "value": "darwin"}, {"name": "arch", "value": "x86_64"}]"#), valid: true),
    AgreementCase("dependency with id, labels and size", image(#", "dependencies": [{"imageName": "example.com/base", "imageID": "\#(sha512)", "labels": [{"name": "version", "value": "1"}], "size": 1024}]"#), valid: true),
    AgreementCase("created date with comma fraction and one-digit hour", image(#", "annotations": [{"name": "created", "value": "2016-02-29T9:05:00,25+02:00"}]"#), valid: true),
    AgreementCase("opaque http URL", image(#", "annotations": [{"name": "homepage", "value": "HTTP:example.com"}]"#), valid: true),
    AgreementCase("quantities in all spellings", imageIsolators(#"{"name": "resource/cpu", "value": {"request": "250m", "limit": 1.5}}, {"name": "resource/memory", "value": {"limit": " 2.5Gi "}}, {"name": "resource/memory", "value": {"request": ".Ki", "limit": "1e3"}}"#), valid: true),
    AgreementCase("capabilities and seccomp", imageIsolators(#"{"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_SYS_ADMIN"]}}, {"name": "os/linux/seccomp-retain-set", "value": {"set": ["@rkt/default-whitelist"], "errno": "EPERM"}}, {"name": "os/linux/no-new-privileges", "value": true}"#), valid: true),
    AgreementCase("oom, cpu shares, sysctl, selinux", imageIsolators(#"{"name": "os/linux/oom-score-adj", "value": -1000}, {"name": "os/linux/cpu-shares", "value": 262144}, {"name": "os/unix/sysctl", "value": {"net.ipv4.ip_forward": "1"}}, {"name": "os/linux/selinux-context", "value": {"user": "system_u", "role": "system_r", "type": "svirt_lxc_net_t", "level": "s0:c1,c2"}}"#), valid: true),
    AgreementCase("ports and mount points", imageApp(#", "ports": [{"name": "http", "protocol": "tcp", "port": 65534, "count": 2}], "mountPoints": [{"name": "data", "path": "/data", "readOnly": true}]"#), valid: true),

    // Valid pod manifests.
    AgreementCase("pod without apps", pod(), valid: true),
    AgreementCase("pod with an unknown pod-level isolator", pod(#", "isolators": [{"name": "example.com/custom", "value": {"anything": [1, 2]}}]"#), valid: true),
    AgreementCase("pod volumes of both kinds", podVolumes(#"{"name": "host", "kind": "host", "source": "/srv", "readOnly": true, "recursive": false}, {"name": "scratch", "kind": "empty", "mode": "0700", "uid": 1000}"#), valid: true),
    AgreementCase("pod exposed ports", pod(#", "ports": [{"name": "http", "hostPort": 8080, "hostIP": "::1"}, {"name": "dns", "hostPort": 53, "hostIP": "127.0.0.1", "podPort": {"name": "dns", "protocol": "udp", "port": 53}}]"#), valid: true),
    AgreementCase("pod app with mounts and app volume", podApp(#", "readOnlyRootFS": true, "mounts": [{"volume": "data", "path": "/data", "appVolume": {"name": "data", "kind": "empty"}}]"#), valid: true),

    // Kind and version.
    AgreementCase("unknown acKind", #"{"acKind": "ContainerManifest", "acVersion": "0.8.11", "name": "x"}"#, valid: false),
    AgreementCase("missing acKind (actool crashes)", #"{"acVersion": "0.8.11", "name": "x"}"#, valid: false),
    AgreementCase("zero acVersion", #"{"acKind": "ImageManifest", "acVersion": "0.0.0", "name": "x"}"#, valid: false),
    AgreementCase("two-part acVersion", #"{"acKind": "ImageManifest", "acVersion": "0.8", "name": "x"}"#, valid: false),
    AgreementCase("missing acVersion in an image", #"{"acKind": "ImageManifest", "name": "x"}"#, valid: false),
    AgreementCase("missing acVersion in a pod", #"{"acKind": "PodManifest"}"#, valid: false, stricterThanActool: true),
    AgreementCase("not JSON", #"{"acKind": "ImageManifest", "#, valid: false),

    // Names.
    AgreementCase("upper-case image name", #"{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "Example.com/x"}"#, valid: false),
    AgreementCase("image name ending in a slash", #"{"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/x/"}"#, valid: false),
    AgreementCase("missing image name", #"{"acKind": "ImageManifest", "acVersion": "0.8.11"}"#, valid: false),
    AgreementCase("app name with underscore", podApps(#"{"name": "my_app", "image": {"id": "\#(sha512)"}}"#), valid: false),
    AgreementCase("duplicate app names", podApps(#"{"name": "a", "image": {"id": "\#(sha512)"}}, {"name": "a", "image": {"id": "\#(sha512)"}}"#), valid: false),

    // Labels and annotations.
    AgreementCase("label called name", image(#", "labels": [{"name": "name", "value": "x"}]"#), valid: false),
    AgreementCase("duplicate labels", image(#", "labels": [{"name": "version", "value": "1"}, {"name": "version", "value": "2"}]"#), valid: false),
    AgreementCase("unknown os", image(#", "labels": [{"name": "os", "value": "plan9"}]"#), valid: false),
    AgreementCase("arch not valid for os", image(#", "labels": [{"name": "os", "value": "darwin"}, {"name": "arch", "value": "amd64"}]"#), valid: false),
    AgreementCase("bad labels in a pod image", podApps(#"{"name": "a", "image": {"id": "\#(sha512)", "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "x86_64"}]}}"#), valid: false),
    AgreementCase("duplicate annotations", image(#", "annotations": [{"name": "a", "value": "1"}, {"name": "a", "value": "1"}]"#), valid: false),
    AgreementCase("created is not a date", image(#", "annotations": [{"name": "created", "value": "2015-02-29T09:32:27Z"}]"#), valid: false),
    AgreementCase("homepage is not http", image(#", "annotations": [{"name": "homepage", "value": "ftp://example.com"}]"#), valid: false),
    AgreementCase("documentation URL with bad port", image(#", "annotations": [{"name": "documentation", "value": "https://example.com:http/"}]"#), valid: false),

    // App section.
    AgreementCase("app without user", image(#", "app": {"exec": ["/bin/sh"], "group": "0"}"#), valid: false),
    AgreementCase("relative working directory", imageApp(#", "workingDirectory": "srv""#), valid: false),
    AgreementCase("unknown event handler", imageApp(#", "eventHandlers": [{"name": "post-start", "exec": ["/bin/true"]}]"#), valid: false),
    AgreementCase("duplicate event handlers", imageApp(#", "eventHandlers": [{"name": "pre-start", "exec": ["/a"]}, {"name": "pre-start", "exec": ["/b"]}]"#), valid: false),
    AgreementCase("environment name starting with a digit", imageApp(#", "environment": [{"name": "1PATH", "value": "/bin"}]"#), valid: false),
    AgreementCase("duplicate environment variables", imageApp(#", "environment": [{"name": "A", "value": "1"}, {"name": "A", "value": "2"}]"#), valid: false),
    AgreementCase("mount point name with upper case", imageApp(#", "mountPoints": [{"name": "Data", "path": "/data"}]"#), valid: false),
    AgreementCase("mount point without path", imageApp(#", "mountPoints": [{"name": "data"}]"#), valid: false, stricterThanActool: true),

    // Isolators.
    AgreementCase("unknown isolator inside an app", imageIsolators(#"{"name": "example.com/custom", "value": 1}"#), valid: false),
    AgreementCase("known isolator without value (actool crashes)", pod(#", "isolators": [{"name": "resource/cpu"}]"#), valid: false),
    AgreementCase("cpu isolator with default true", imageIsolators(#"{"name": "resource/cpu", "value": {"default": true, "limit": "1"}}"#), valid: false),
    AgreementCase("network bandwidth without default", imageIsolators(#"{"name": "resource/network-bandwidth", "value": {"limit": "1G"}}"#), valid: false),
    AgreementCase("quantity with unknown suffix", memoryLimit(#""1K""#), valid: false),
    AgreementCase("quantity with two decimal points", memoryLimit(#""1.1.M""#), valid: false),
    AgreementCase("quantity without digits below nano", memoryLimit(#""e-10""#), valid: false),
    AgreementCase("empty capability set", imageIsolators(#"{"name": "os/linux/capabilities-retain-set", "value": {"set": []}}"#), valid: false),
    AgreementCase("seccomp errno in lower case", imageIsolators(#"{"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"], "errno": "eperm"}}"#), valid: false),
    AgreementCase("seccomp retain and remove together", imageIsolators(#"{"name": "os/linux/seccomp-retain-set", "value": {"set": ["read"]}}, {"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"]}}"#), valid: false),
    AgreementCase("oom score out of range", imageIsolators(#"{"name": "os/linux/oom-score-adj", "value": 1001}"#), valid: false),
    AgreementCase("cpu shares below 2", imageIsolators(#"{"name": "os/linux/cpu-shares", "value": 1}"#), valid: false),
    AgreementCase("two oom isolators in one app", imageIsolators(#"{"name": "os/linux/oom-score-adj", "value": 1}, {"name": "os/linux/oom-score-adj", "value": 2}"#), valid: false),
    AgreementCase("no-new-privileges as a string", imageIsolators(#"{"name": "os/linux/no-new-privileges", "value": "true"}"#), valid: false),
    AgreementCase("bad pod-level isolator", pod(#", "isolators": [{"name": "resource/memory", "value": {"limit": "lots"}}]"#), valid: false),

    // Hashes.
    AgreementCase("sha256 image id", podApps(#"{"name": "a", "image": {"id": "sha256-abcd"}}"#), valid: false),
    AgreementCase("hash without value", podApps(#"{"name": "a", "image": {"id": "sha512-"}}"#), valid: false),
    AgreementCase("hash with two dashes", image(#", "dependencies": [{"imageName": "example.com/base", "imageID": "sha512-ab-cd"}]"#), valid: false),
    AgreementCase("dependency without image name", image(#", "dependencies": [{"imageID": "\#(sha512)"}]"#), valid: false),

    // Ports.
    AgreementCase("port zero", imageApp(#", "ports": [{"name": "http", "protocol": "tcp", "port": 0}]"#), valid: false),
    AgreementCase("port above 65535", imageApp(#", "ports": [{"name": "http", "protocol": "tcp", "port": 70000}]"#), valid: false),
    AgreementCase("port range past 65535", imageApp(#", "ports": [{"name": "http", "protocol": "tcp", "port": 65535, "count": 2}]"#), valid: false),
    AgreementCase("negative port", imageApp(#", "ports": [{"name": "http", "protocol": "tcp", "port": -1}]"#), valid: false),
    AgreementCase("exposed port with a bad IP", pod(#", "ports": [{"name": "http", "hostPort": 80, "hostIP": "1.2.3"}]"#), valid: false),

    // Volumes.
    AgreementCase("host volume with relative source", podVolumes(#"{"name": "data", "kind": "host", "source": "srv"}"#), valid: false),
    AgreementCase("host volume with a mode", podVolumes(#"{"name": "data", "kind": "host", "source": "/srv", "mode": "0755"}"#), valid: false),
    AgreementCase("empty volume with a source", podVolumes(#"{"name": "data", "kind": "empty", "source": "/srv"}"#), valid: false),
    AgreementCase("unknown volume kind", podVolumes(#"{"name": "data", "kind": "tmpfs"}"#), valid: false),
    AgreementCase("volume without a name", podVolumes(#"{"kind": "empty"}"#), valid: false),
    AgreementCase("duplicate volume names", podVolumes(#"{"name": "data", "kind": "empty"}, {"name": "data", "kind": "host", "source": "/srv"}"#), valid: false),
    AgreementCase("bad app volume in a mount", podApp(#", "mounts": [{"volume": "data", "path": "/data", "appVolume": {"name": "data", "kind": "host"}}]"#), valid: false),
    AgreementCase("mount without path", podApp(#", "mounts": [{"volume": "data"}]"#), valid: false, stricterThanActool: true),
]

/// actool's verdict for a manifest, or nil when actool is not installed.
private func actoolVerdict(for json: String) throws -> Bool? {
    let actoolPath = "/usr/bin/actool"
    guard FileManager.default.isExecutableFile(atPath: actoolPath) else { return nil }
    let file = FileManager.default.temporaryDirectory
        .appendingPathComponent("rkttypes-agreement-\(UUID().uuidString).json")
    try Data(json.utf8).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let result = try Subprocess.run([actoolPath, "validate", "--type=manifest", file.path], timeout: 120)
    #expect(!result.timedOut, "actool did not finish within 120 s")
    return result.status == 0
}

@Suite("actool agreement")
struct ActoolAgreementTests {
    @Test("table is large and covers both verdicts")
    func tableShape() {
        #expect(agreementCases.count >= 30)
        #expect(agreementCases.contains { $0.valid })
        #expect(agreementCases.contains { !$0.valid })
    }

    @Test("our verdict matches the table and actool", arguments: agreementCases)
    func verdict(_ testCase: AgreementCase) throws {
        let ours: Bool
        var problem = ""
        do {
            _ = try AppcManifest.decode(Data(testCase.json.utf8))
            ours = true
        } catch {
            ours = false
            problem = error.description
        }
        #expect(ours == testCase.valid, "\(testCase.label): \(problem)")

        guard let actool = try actoolVerdict(for: testCase.json) else {
            print("skipping actool comparison for \(testCase.label): /usr/bin/actool not installed")
            return
        }
        #expect(actool == testCase.actoolValid, "actool disagrees with the table on \(testCase.label)")
    }

    @Test("the deliberately stricter cases are few and marked")
    func stricterCasesAreInvalidForUs() {
        let stricter = agreementCases.filter(\.stricterThanActool)
        #expect(stricter.allSatisfy { !$0.valid })
        #expect(stricter.count <= 5)
    }
}
