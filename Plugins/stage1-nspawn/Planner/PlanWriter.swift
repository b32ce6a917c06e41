import Foundation
import Stage1Kit
import Stage1Protocol

/// The plan file rkt-pod-init carries out (format in PodInit/plan.h): NUL-terminated strings,
/// records in order. Pod-level operations run in the pod's mount namespace before any app starts.
struct PlanWriter {
    private(set) var bytes: [UInt8] = []

    private mutating func token(_ text: String) {
        bytes.append(contentsOf: text.utf8)
        bytes.append(0)
    }

    mutating func append(_ other: PlanWriter) { bytes.append(contentsOf: other.bytes) }

    mutating func record(_ name: String, _ arguments: String...) {
        token(name)
        for argument in arguments { token(argument) }
    }

    mutating func list(_ name: String, _ items: [String]) {
        token(name)
        token(String(items.count))
        for item in items { token(item) }
    }

    // MARK: Operations

    mutating func mkdir(_ path: String, mode: Int = 0o755) { record("mkdir", path, String(mode, radix: 8)) }
    mutating func file(_ path: String, mode: Int = 0o644) { record("file", path, String(mode, radix: 8)) }
    mutating func symlink(_ target: String, at path: String) { record("symlink", target, path) }
    mutating func mknod(_ path: String, mode: Int, major: Int, minor: Int) {
        record("mknod", path, String(mode, radix: 8), String(major), String(minor))
    }
    mutating func mount(_ source: String, on target: String, type: String = "", flags: UInt, data: String = "") {
        record("mount", source, target, type, String(flags), data)
    }
    enum ReadOnlyMode: Int {
        /// Bind the path onto itself, then make that mount read-only.
        case bind = 0
        /// The same, recursively.
        case bindRecursive = 1
        /// Remount the mount already at the path read-only.
        case inPlace = 2
    }
    mutating func readOnly(_ path: String, _ mode: ReadOnlyMode) { record("ro", path, String(mode.rawValue)) }
    /// Adds mount flags (MS_NODEV, MS_RDONLY, …) to the mount already at `path`.
    mutating func restrict(_ path: String, flags: UInt) { record("restrict", path, String(flags)) }
    mutating func mask(_ path: String) { record("mask", path) }
    mutating func console(_ path: String) { record("console", path) }

    /// Writes the plan atomically (it is read once, by the pod's init).
    func write(to path: String) throws(Stage1Error) {
        try Stage1Files.write(Data(bytes), to: path)
    }
}
