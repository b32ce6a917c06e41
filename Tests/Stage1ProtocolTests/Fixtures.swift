import Foundation
import Stage1Protocol

/// The example messages of `Documentation/stage1-protocol.md`, as Swift values.
enum Fixtures {
    static let uuid = "6f1a2c3e-8b7d-4e1f-9a2b-3c4d5e6f7a8b"
    static let pod = PodInfo(uuid: uuid, path: "/var/lib/rkt/pods/run/" + uuid)
    static let imageID = "sha512-0cf1ab5b8f2d0f1ec1e5e3b6a1d8c2f4a8e9d6c3b1a0f9e8d7c6b5a4f3e2d1c0"

    static let runRequest = Stage1Request(
        pod: pod,
        debug: false,
        extensions: ["example.com/trace-id": "4bf92f35"],
        payload: .run(RunPayload(
            apps: [
                RunApp(
                    name: "web", stage1Rootfs: pod.stage1Rootfs, imageID: imageID,
                    appManifest: ResolvedApp(
                        exec: ["/usr/bin/httpd", "-f", "-p", "8080"], user: "0", group: "0",
                        workingDirectory: "/srv",
                        environment: [NameValue(name: "PATH", value: "/usr/bin:/bin"), NameValue(name: "GREETING", value: "hello world")],
                        isolators: [Isolator(name: "resource/memory", value: ["limit": "128M"])],
                        ports: [Port(name: "http", protocol: "tcp", port: 8080)])),
            ],
            net: .default,
            dns: DNSConfig(mode: .stage0, servers: ["192.0.2.53"], search: ["example.com"], options: ["ndots:2"]),
            hostname: "web-1",
            insecureOptions: ["seccomp"],
            ipc: .auto,
            localConfig: "/etc/rkt",
            lockFD: 3)))

    static let minimalRunRequest = Stage1Request(
        pod: pod,
        payload: .run(RunPayload(
            apps: [RunApp(name: "hello", stage1Rootfs: pod.stage1Rootfs, imageID: imageID,
                          appManifest: ResolvedApp(exec: ["/bin/echo", "hello"], environment: [NameValue(name: "PATH", value: "/bin")]))],
            net: .host, lockFD: 3)))

    static let enterRequest = Stage1Request(
        pod: pod, payload: .enter(EnterPayload(appName: "web", command: ["/bin/sh", "-c", "ls /srv"], pid: 4242, interactive: true, tty: true)))

    static let stopRequest = Stage1Request(pod: pod, payload: .stop(StopPayload(force: false)))

    static let gcRequest = Stage1Request(pod: pod, debug: true, payload: .gc(GCPayload(localConfig: "/etc/rkt")))

    static let describeRequest = Stage1Request(pod: pod, payload: .describe)

    static let describeResponse = DescribeResponse(
        protocolVersions: ["1"], name: "example.com/stage1-sh", version: "0.1.0",
        features: [.run, .enter, .stop, .gc, .interactive, .hostname, .ipcModes])

    static let okResponse = OKResponse()

    static let errorResponse = Stage1Error(
        code: .unsupported, msg: "this stage1 runs exactly one app", details: "the request has 2 apps")
}
