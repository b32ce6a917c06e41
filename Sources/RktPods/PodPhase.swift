/// The directory a pod lives in under `<data dir>/pods`; pods move between them only by rename(2).
public enum PodPhase: String, CaseIterable, Sendable {
    case embryo
    case prepare
    case prepared
    case run
    case exitedGarbage = "exited-garbage"
    case garbage
}

/// A pod's state as rkt reports it: its phase plus whether someone holds its lock.
public enum PodState: String, Sendable, Equatable, CaseIterable {
    case embryo
    case preparing
    case abortedPrepare = "aborted prepare"
    case prepared
    case running
    case deleting
    case exitedDeleting = "exited deleting"
    case exited
    case exitedGarbage = "exited garbage"
    case garbage

    /// rkt's table: the phase directory, and whether the pod's lock is held by someone.
    public init(phase: PodPhase, locked: Bool) {
        switch phase {
        case .embryo: self = .embryo
        case .prepare: self = locked ? .preparing : .abortedPrepare
        case .prepared: self = .prepared
        case .run: self = locked ? .running : .exited
        case .exitedGarbage: self = locked ? .exitedDeleting : .exitedGarbage
        case .garbage: self = locked ? .deleting : .garbage
        }
    }

    /// Finished pods: their apps have stopped and their status is final.
    public var isExited: Bool { self == .exited || self == .exitedGarbage || self == .exitedDeleting }
}
