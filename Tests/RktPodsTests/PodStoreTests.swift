import Foundation
import RktOS
import Testing
@testable import RktPods

@Suite struct PodStoreTests {
    final class TempDir {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("rkt-pods-\(UUID().uuidString.prefix(8))").path
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    @Test func lifecycleThroughPhasesAndStates() throws {
        let dir = TempDir()
        let store = PodStore(dataDir: dir.path)
        let locked = try store.createPod()
        #expect(locked.pod.phase == .prepare)
        #expect(FileSystem.exists(locked.pod.file(Pod.File.created)))
        #expect(store.state(of: try store.find(locked.pod.uuid)) == .preparing, "the creator holds the lock")

        let prepared = try store.markPrepared(locked)
        #expect(prepared.phase == .prepared)
        #expect(store.state(of: prepared) == .prepared)
        #expect(!FileSystem.exists(store.path(prepared.uuid, in: .prepare)))

        let relocked = try store.lockPrepared(String(prepared.uuid.prefix(8)))
        #expect(throws: PodError.self) { try store.lockPrepared(prepared.uuid) }
        let running = try store.markRunning(relocked)
        #expect(running.pod.phase == .run)
        #expect(store.state(of: try store.find(prepared.uuid)) == .running)
        try running.lock.unlock()
        #expect(store.state(of: try store.find(prepared.uuid)) == .exited, "an unlocked run/ pod has exited")
    }

    @Test func abortedPrepareWhenTheCreatorLetsGo() throws {
        let dir = TempDir()
        let store = PodStore(dataDir: dir.path)
        let locked = try store.createPod()
        try locked.lock.unlock()
        #expect(store.state(of: try store.find(locked.pod.uuid)) == .abortedPrepare)
    }

    @Test func uuidPrefixes() throws {
        let dir = TempDir()
        let store = PodStore(dataDir: dir.path)
        var pods: [Pod] = []
        for _ in 0..<20 { pods.append(try store.markPrepared(try store.createPod())) }
        let first = pods[0].uuid
        #expect(try store.find(first).uuid == first)
        #expect(try store.find(first.uppercased()).uuid == first)
        let shared = Dictionary(grouping: pods, by: { $0.uuid.prefix(1) }).first { $0.value.count > 1 }
        let prefix = String(try #require(shared).key)
        #expect { try store.find(prefix) } throws: { ($0 as? PodError)?.message.hasPrefix("ambiguous uuid, ") == true }
        #expect { try store.find("zzzz") } throws: { ($0 as? PodError)?.message == "no matches found for \"zzzz\"" }
        #expect(throws: PodError.self) { try store.find("") }

        let uuidFile = dir.path + "/uuid"
        try first.write(toFile: uuidFile, atomically: true, encoding: .utf8)
        #expect(try store.find(uuidFile: uuidFile).uuid == first)
        try "nonsense".write(toFile: uuidFile, atomically: true, encoding: .utf8)
        #expect(throws: PodError.self) { try store.find(uuidFile: uuidFile) }
    }

    @Test func gcMarksThenSweepsAfterTheGracePeriod() throws {
        let dir = TempDir()
        let store = PodStore(dataDir: dir.path)
        // An exited pod with a stage1, a running pod, an aborted prepare, a fresh and an old prepared pod.
        let exited = try store.markRunning(try store.createPod())
        try FileSystem.makeDirectories(exited.pod.stage1Rootfs)
        try exited.lock.unlock()
        let running = try store.markRunning(try store.createPod())
        let aborted = try store.createPod()
        try aborted.lock.unlock()
        let freshPrepared = try store.markPrepared(try store.createPod())
        let oldPrepared = try store.markPrepared(try store.createPod())
        let old = timespec(tv_sec: 1_000_000, tv_nsec: 0)
        var times = [old, old]
        _ = utimensat(AT_FDCWD, oldPrepared.file(Pod.File.created), &times, 0)

        let marked = try store.markGarbage(expirePrepared: 24 * 3600)
        #expect(Set(marked) == [exited.pod.uuid, aborted.pod.uuid, oldPrepared.uuid])
        #expect(store.state(of: try store.find(exited.pod.uuid)) == .exitedGarbage)
        #expect(store.state(of: try store.find(aborted.pod.uuid)) == .garbage)
        #expect(try store.find(running.pod.uuid).phase == .run)
        #expect(try store.find(freshPrepared.uuid).phase == .prepared)

        var gcCalls: [String] = []
        let kept = try store.sweep(gracePeriod: 3600) { gcCalls.append($0.uuid) }
        #expect(kept.removed.isEmpty, "still within the grace period")
        let swept = try store.sweep(gracePeriod: 0) { gcCalls.append($0.uuid) }
        #expect(Set(swept.removed) == Set(marked))
        #expect(gcCalls == [exited.pod.uuid], "stage1 gc runs for pods that have a stage1")
        #expect(throws: PodError.self) { try store.find(exited.pod.uuid) }
        #expect(try store.find(running.pod.uuid).phase == .run)
        _ = running
    }

    @Test func sweepSkipsALockedPod() throws {
        let dir = TempDir()
        let store = PodStore(dataDir: dir.path)
        let pod = try store.markRunning(try store.createPod())
        try pod.lock.unlock()
        _ = try store.markGarbage(expirePrepared: 3600)
        let holder = try FileLock(path: try store.find(pod.pod.uuid).path)
        try holder.lock(.exclusive)
        let report = try store.sweep(gracePeriod: 0) { _ in }
        #expect(report.kept == [pod.pod.uuid])
        try holder.unlock()
        #expect(try store.sweep(gracePeriod: 0) { _ in }.removed == [pod.pod.uuid])
    }

    @Test func statesTable() {
        #expect(PodState(phase: .run, locked: true) == .running)
        #expect(PodState(phase: .run, locked: false) == .exited)
        #expect(PodState(phase: .exitedGarbage, locked: true) == .exitedDeleting)
        #expect(PodState(phase: .garbage, locked: true) == .deleting)
        #expect(PodState(phase: .prepare, locked: false) == .abortedPrepare)
        #expect(PodState.abortedPrepare.rawValue == "aborted prepare")
    }

    @Test func exitStatusesComeFromTheStage1StatusDirectory() throws {
        let dir = TempDir()
        let store = PodStore(dataDir: dir.path)
        let pod = try store.createPod().pod
        try FileSystem.makeDirectories(pod.stage1Rootfs + "/rkt/status")
        try "5".write(toFile: pod.stage1Rootfs + "/rkt/status/my-app", atomically: true, encoding: .utf8)
        try "0\n".write(toFile: pod.stage1Rootfs + "/rkt/status/other", atomically: true, encoding: .utf8)
        try "1700000000".write(toFile: pod.stage1Rootfs + "/rkt/status/my-app-started", atomically: true, encoding: .utf8)
        #expect(pod.exitStatuses(appNames: ["my-app", "other", "missing"]) == ["my-app": 5, "other": 0])
        #expect(pod.pid == nil)
        try "4242".write(toFile: pod.file(Pod.File.pid), atomically: true, encoding: .utf8)
        #expect(pod.pid == 4242)
        #expect(pod.startedAt != nil)
    }
}
