#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktOS

/// What a gc pass did.
public struct PodGCReport: Sendable {
    public var marked: [String] = []
    public var removed: [String] = []
    /// Pods left for later: still within the grace period, or locked by someone.
    public var kept: [String] = []
    public var failures: [String] = []
}

extension PodStore {
    /// rkt gc, pass one: exited pods move to exited-garbage/, aborted prepares and prepared pods
    /// older than `expirePrepared` to garbage/. The rename updates the directory's ctime, which
    /// starts the grace period.
    public func markGarbage(expirePrepared: TimeInterval, now: Date = Date()) throws(PodError) -> [String] {
        var marked: [String] = []
        for pod in try allPods() {
            let target: PodPhase?
            switch pod.phase {
            case .run: target = state(of: pod) == .exited ? .exitedGarbage : nil
            case .prepare: target = state(of: pod) == .abortedPrepare ? .garbage : nil
            case .prepared:
                let created = pod.createdAt ?? .distantPast
                target = now.timeIntervalSince(created) > expirePrepared ? .garbage : nil
            default: target = nil
            }
            guard let target else { continue }
            do {
                try FileSystem.rename(pod.path, to: path(pod.uuid, in: target))
                marked.append(pod.uuid)
            } catch where error.errno == .noSuchFileOrDirectory {
                continue // another rkt moved it first
            } catch {
                throw PodError.io(error)
            }
        }
        return marked
    }

    /// rkt gc, pass two: for garbage older than the grace period, take the pod's lock, let stage1
    /// clean up (networks, cgroups), unmount what is mounted below the pod, and remove it.
    public func sweep(gracePeriod: TimeInterval, now: Date = Date(), stage1GC: (Pod) throws -> Void) throws(PodError) -> PodGCReport {
        var report = PodGCReport()
        for pod in try allPods() where pod.phase == .exitedGarbage || pod.phase == .garbage {
            var st = stat()
            guard stat(pod.path, &st) == 0 else { continue }
            let marked = Date(timeIntervalSince1970: Double(st.st_ctim.tv_sec))
            guard now.timeIntervalSince(marked) >= gracePeriod else {
                report.kept.append(pod.uuid)
                continue
            }
            do {
                try remove(pod, stage1GC: stage1GC)
                report.removed.append(pod.uuid)
            } catch let error as PodError where error.kind == .busy {
                report.kept.append(pod.uuid)
            } catch {
                report.failures.append("\(pod.uuid): \(error)")
            }
        }
        return report
    }

    /// Removes one exited or garbage pod now (rkt rm): lock, stage1 gc, unmount, delete.
    public func remove(_ pod: Pod, stage1GC: (Pod) throws -> Void) throws {
        let lock: FileLock
        do {
            lock = try FileLock(path: pod.path)
            guard try lock.tryLock(.exclusive) else { throw PodError(.busy, "pod \(pod.uuid) is in use") }
        } catch let error as SystemError where error.errno == .noSuchFileOrDirectory {
            throw PodError(.notFound, "pod \(pod.uuid) is gone")
        }
        _ = lock
        // A pod that still has a stage1 gets its cleanup; one whose prepare died early may not.
        if FileSystem.exists(pod.stage1Rootfs) { try stage1GC(pod) }
        let busy = Mounts.unmountAll(under: pod.path)
        if !busy.isEmpty { throw PodError(.busy, "pod \(pod.uuid): cannot unmount \(busy.joined(separator: ", "))") }
        do { try FileSystem.removeTree(pod.path) } catch { throw PodError.io(error) }
    }
}
