#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import RktOS
import Stage1Protocol

/// The pods under `<data dir>/pods/<phase>/<uuid>` and rkt's state machine over them:
///
///     run:     mkdir embryo/U → lock → rename to prepare/ → (render) → rename to run/ → exec stage1
///     prepare: … → rename prepare/ → prepared/ (unlocked); run-prepared: lock, rename to run/
///     gc:      run/ (exited: shared lock succeeds) → exited-garbage/; prepare/ (unlocked) and old
///              prepared/ → garbage/; then, past the grace period, lock, clean up, remove.
///
/// Every move is one rename(2); a process that loses a race sees ENOENT and re-resolves.
public struct PodStore: Sendable {
    public let dataDir: String
    public var podsDir: String { dataDir + "/pods" }

    public init(dataDir: String) {
        self.dataDir = dataDir
    }

    public func phaseDir(_ phase: PodPhase) -> String { podsDir + "/" + phase.rawValue }
    public func path(_ uuid: String, in phase: PodPhase) -> String { phaseDir(phase) + "/" + uuid }

    public func ensureLayout() throws(PodError) {
        do {
            try FileSystem.makeDirectories(podsDir, mode: 0o2750)
            for phase in PodPhase.allCases { try FileSystem.makeDirectories(phaseDir(phase), mode: 0o2750) }
        } catch { throw PodError.io(error) }
    }

    // MARK: Creation

    /// A new pod, locked exclusively and already in `prepare/`: nobody can see a half-made pod as
    /// anything but "preparing" (or "aborted prepare" once its creator dies).
    public func createPod() throws(PodError) -> LockedPod {
        try ensureLayout()
        let uuid = UUID().uuidString.lowercased()
        let embryo = path(uuid, in: .embryo)
        do {
            try sysCall("mkdir", path: embryo) { mkdir(embryo, 0o2750) }
            let lock = try FileLock(path: embryo)
            try lock.lock(.exclusive)
            // pod-created's mtime is the creation time rkt reports.
            try FileSystem.writeNew(Data(), to: embryo + "/" + Pod.File.created, mode: 0o640)
            let prepare = path(uuid, in: .prepare)
            try FileSystem.rename(embryo, to: prepare)
            return LockedPod(pod: Pod(uuid: uuid, phase: .prepare, path: prepare), lock: lock)
        } catch {
            try? FileSystem.removeTree(embryo)
            throw PodError.io(error)
        }
    }

    /// prepare/ → prepared/, releasing the lock (rkt prepare's last step).
    public func markPrepared(_ locked: LockedPod) throws(PodError) -> Pod {
        // A prepared pod must survive a reboot: its manifest reaches the disk before it is
        // published. (A pod that is run right away skips this: it does not survive a reboot.)
        let manifest = open(locked.pod.file(Pod.File.manifest), O_RDONLY | O_CLOEXEC)
        if manifest >= 0 {
            fsync(manifest)
            close(manifest)
        }
        let pod = try move(locked, to: .prepared)
        try? locked.lock.unlock()
        return pod
    }

    /// prepare/ or prepared/ → run/, keeping the lock that stage1 will inherit.
    public func markRunning(_ locked: LockedPod) throws(PodError) -> LockedPod {
        guard locked.pod.phase == .prepare || locked.pod.phase == .prepared else {
            throw PodError(.invalidState, "pod \(locked.pod.uuid) is \(locked.pod.phase.rawValue), not prepared")
        }
        let pod = try move(locked, to: .run)
        return LockedPod(pod: pod, lock: locked.lock)
    }

    /// Locks a prepared pod for run-prepared; fails if another process holds it.
    public func lockPrepared(_ uuid: String) throws(PodError) -> LockedPod {
        let pod = try find(uuid)
        guard pod.phase == .prepared else {
            throw PodError(.invalidState, "pod \(uuid) is not prepared (it is \(state(of: pod).rawValue))")
        }
        do {
            let lock = try FileLock(path: pod.path)
            guard try lock.tryLock(.exclusive) else { throw PodError(.busy, "pod \(uuid) is in use by another rkt process") }
            // Re-check under the lock: it may have moved between listing and locking.
            guard FileSystem.isDirectory(pod.path) else { throw PodError(.notFound, "pod \(uuid) moved while being locked") }
            return LockedPod(pod: pod, lock: lock)
        } catch let error as PodError {
            throw error
        } catch let error as SystemError {
            throw PodError.io(error)
        } catch {
            throw PodError(.io, "\(error)")
        }
    }

    func move(_ locked: LockedPod, to phase: PodPhase) throws(PodError) -> Pod {
        let destination = path(locked.pod.uuid, in: phase)
        do { try FileSystem.rename(locked.pod.path, to: destination) } catch { throw PodError.io(error) }
        return Pod(uuid: locked.pod.uuid, phase: phase, path: destination)
    }

    // MARK: Lookup

    /// Every pod, in any phase. A pod caught mid-rename may be missed; that is harmless here.
    public func allPods() throws(PodError) -> [Pod] {
        var pods: [Pod] = []
        for phase in PodPhase.allCases {
            let names: [String]
            do { names = try FileSystem.listIfPresent(phaseDir(phase)) } catch { throw PodError.io(error) }
            for name in names where Self.isUUID(name) {
                pods.append(Pod(uuid: name, phase: phase, path: path(name, in: phase)))
            }
        }
        return pods
    }

    /// Resolves a full UUID or any unambiguous prefix of one.
    public func find(_ prefix: String) throws(PodError) -> Pod {
        let wanted = prefix.lowercased()
        guard !wanted.isEmpty else { throw PodError(.invalidArgument, "empty pod UUID") }
        let matches = try allPods().filter { $0.uuid.hasPrefix(wanted) }
        let unique = Dictionary(grouping: matches, by: \.uuid)
        switch unique.count {
        case 0: throw PodError(.notFound, "no matches found for \"\(prefix)\"")
        case 1:
            // Prefer the later phase if a rename raced the listing.
            let order = PodPhase.allCases
            return matches.max { order.firstIndex(of: $0.phase)! < order.firstIndex(of: $1.phase)! }!
        default: throw PodError(.ambiguous, "ambiguous uuid, \(unique.count) matches")
        }
    }

    /// Reads a UUID from a `--uuid-file` (rkt writes it without a newline; tolerate one).
    public func find(uuidFile: String) throws(PodError) -> Pod {
        let data: Data
        do { data = try FileSystem.read(uuidFile) } catch { throw PodError(.notFound, "cannot read UUID file \(uuidFile): \(error)", cause: error) }
        let text = String(decoding: data, as: UTF8.self).trimmingWhitespace()
        guard Self.isUUID(text) else { throw PodError(.invalidArgument, "UUID file \(uuidFile) does not hold a pod UUID") }
        return try find(text)
    }

    /// The pod's state: its phase, plus a lock probe where the phase alone does not tell.
    public func state(of pod: Pod) -> PodState {
        switch pod.phase {
        case .embryo, .prepared: return PodState(phase: pod.phase, locked: false)
        default:
            guard let lock = try? FileLock(path: pod.path) else { return PodState(phase: pod.phase, locked: false) }
            let free = (try? lock.tryLock(.shared)) ?? false
            return PodState(phase: pod.phase, locked: !free)
        }
    }

    static func isUUID(_ s: String) -> Bool {
        s.count == 36 && UUID(uuidString: s) != nil
    }
}

/// A pod whose directory lock this process holds. The lock lives as long as this value's
/// `lock` does; stage1 inherits it across exec.
public struct LockedPod: Sendable {
    public let pod: Pod
    public let lock: FileLock
}
