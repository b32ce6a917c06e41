import Foundation
import RktOS
import RktPods
import Testing

/// `list`, `status`, `rm`, `gc` and `cat-manifest` on pod directories laid out in rkt's on-disk
/// format (made here with the pod library, as `rkt prepare` will), driven through the binary.
@Suite struct PodCommandTests {
    static let manifest = #"{"acKind":"PodManifest","acVersion":"0.8.11","apps":[{"name":"web","image":{"name":"example.com/busybox","id":"sha512-4a3d4e61f125449623e689de92c70d20ffc681c6887f3efb720609249d0b6d54"}},{"name":"side-car","image":{"name":"example.com/hello","id":"sha512-8609b1f6c6f38e54a2c321f79c3371ba1594292a22ccc03471e353426cf3a18e"}}]}"#

    func makePod(_ store: PodStore, status: [String: String] = [:]) throws -> LockedPod {
        let locked = try store.createPod()
        try FileSystem.writeAtomically(Data(Self.manifest.utf8), to: locked.pod.file(Pod.File.manifest))
        if !status.isEmpty {
            try FileSystem.makeDirectories(locked.pod.stage1Rootfs + "/rkt/status")
            for (app, code) in status {
                try FileSystem.writeAtomically(Data(code.utf8), to: locked.pod.stage1Rootfs + "/rkt/status/" + app)
            }
        }
        return locked
    }

    @Test func listStatusCatManifestRmAndGC() throws {
        guard isRoot else { print("skip listStatusCatManifestRmAndGC: rm and gc need root"); return }
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let store = PodStore(dataDir: rkt.dataDir)
        let prepared = try store.markPrepared(try makePod(store))
        let running = try store.markRunning(try makePod(store))
        try FileSystem.writeAtomically(Data("\(getpid())".utf8), to: running.pod.file(Pod.File.pid))
        let exitedLock = try store.markRunning(try makePod(store, status: ["web": "0", "side-car": "3"]))
        let exited = exitedLock.pod
        try exitedLock.lock.unlock()

        let table = try rkt.ok(["list"]).lines
        #expect(table.first?.hasPrefix("UUID") == true)
        #expect(table.count == 1 + 6, "one row per app")
        #expect(table.contains { $0.hasPrefix(String(prepared.uuid.prefix(8))) && $0.contains("prepared") })
        #expect(table.contains { $0.hasPrefix(String(running.pod.uuid.prefix(8))) && $0.contains("running") })
        #expect(table.contains { $0.hasPrefix(String(exited.uuid.prefix(8))) && $0.contains("exited") })
        let full = try rkt.ok(["list", "--full", "--no-legend"]).lines
        #expect(full.contains { $0.hasPrefix(prepared.uuid) && $0.contains("sha512-4a3d4e61f125") })
        let json = try #require(try JSONSerialization.jsonObject(with: Data(try rkt.ok(["list", "--format=json"]).stdout.utf8)) as? [[String: Any]])
        #expect(Set(json.compactMap { $0["name"] as? String }) == [prepared.uuid, running.pod.uuid, exited.uuid])

        let status = try rkt.ok(["status", String(exited.uuid.prefix(10))]).lines
        #expect(status.contains("state=exited"))
        #expect(status.contains("exited=true"))
        #expect(status.contains("app-web=0"))
        #expect(status.contains("app-side-car=3"))
        let runningStatus = try rkt.ok(["status", running.pod.uuid]).lines
        #expect(runningStatus.contains("state=running"))
        #expect(runningStatus.contains("pid=\(getpid())"))
        let uuidFile = rkt.root + "/uuid"
        try prepared.uuid.write(toFile: uuidFile, atomically: true, encoding: .utf8)
        #expect(try rkt.ok(["status", "--uuid-file", uuidFile]).lines.first == "state=prepared")
        #expect(try rkt.ok(["status", "--wait=5s", exited.uuid]).lines.first == "state=exited")
        let timedOut = try rkt.run(["status", "--wait=200ms", running.pod.uuid])
        #expect(timedOut.status == 254)

        let cat = try rkt.ok(["cat-manifest", exited.uuid]).stdout
        #expect(cat.contains("\"side-car\""))
        let missing = try rkt.run(["cat-manifest", "ffffffff"])
        #expect(missing.status == 254)
        #expect(missing.stderr.contains("no matches found for \"ffffffff\""))

        let refused = try rkt.run(["rm", running.pod.uuid])
        #expect(refused.status == 254, "a running pod cannot be removed")
        #expect(try rkt.ok(["rm", exited.uuid]).stdout == "\"\(exited.uuid)\"\n")
        #expect(try rkt.run(["status", exited.uuid]).status == 254)

        // gc: the prepared pod is fresh, the running one is locked; once it exits, mark then sweep.
        try running.lock.unlock()
        let mark = try rkt.ok(["gc", "--mark-only"])
        #expect(mark.stderr.contains("moving pod \(running.pod.uuid) to garbage"))
        #expect(try rkt.ok(["status", running.pod.uuid]).lines.first == "state=exited garbage")
        try rkt.ok(["gc", "--grace-period=0s"])
        #expect(try rkt.run(["status", running.pod.uuid]).status == 254)
        #expect(try rkt.ok(["list", "--no-legend"]).lines.count == 2, "the prepared pod stays")
        try rkt.ok(["gc", "--grace-period=0s", "--expire-prepared=0s"])
        #expect(try rkt.ok(["list", "--no-legend"]).lines.isEmpty)
    }
}
