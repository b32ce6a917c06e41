#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktOS
import SystemPackage

/// Mounts an overlay of several lower layers (top first) with an upper and a work directory.
///
/// The classic `mount(2)` takes every option in one string of at most a page, and a layer path
/// in the tree store is about 100 bytes, so an image of 40 layers would not fit. Linux 6.8 added
/// `lowerdir+` to the new mount API: `fsconfig` is given each lower layer on its own, so the
/// number of layers is limited only by overlayfs (500). We use that when the kernel has it, and
/// `mount(2)` with the joined list otherwise; the tree store renders an image as layers only
/// when one of the two can mount it (`canMount`), else it flattens the image into one tree.
public enum OverlayMount {
    /// The option string limit of `mount(2)`: one page, including the terminating NUL.
    static let classicOptionLimit = Int(sysconf(Int32(_SC_PAGESIZE))) - 1

    public static func mount(lowerDirs: [String], upper: String, work: String, target: String) throws(SystemError) {
        if appendsLowerLayers {
            try mountAppending(lowerDirs: lowerDirs, upper: upper, work: work, target: target)
        } else {
            let options = classicOptions(lowerDirs: lowerDirs, upper: upper, work: work)
            guard options.utf8.count <= classicOptionLimit else {
                throw SystemError("mount overlay (\(lowerDirs.count) layers, options longer than a page)", path: target, errno: Errno(rawValue: E2BIG))
            }
            try sysCall("mount overlay", path: target) { Glibc.mount("overlay", target, "overlay", 0, options) }
        }
    }

    /// Whether an overlay of these lower layers can be mounted here, with room for upper and
    /// work directories of `reservedLength` bytes (pod paths).
    public static func canMount(lowerDirs: [String], reservedLength: Int = 512) -> Bool {
        if lowerDirs.count > 500 { return false }
        if appendsLowerLayers { return true }
        return classicOptions(lowerDirs: lowerDirs, upper: "", work: "").utf8.count + reservedLength <= classicOptionLimit
    }

    /// Does this kernel's overlayfs take `lowerdir+` (Linux 6.8+)? Asked once per process: an
    /// fs context is opened and given one lower layer, and nothing is mounted.
    public static let appendsLowerLayers: Bool = {
        let context = fsopen("overlay", UInt32(FSOPEN_CLOEXEC))
        guard context >= 0 else { return false }
        defer { close(context) }
        return fsconfig(context, FSCONFIG_SET_STRING.rawValue, "lowerdir+", "/", 0) == 0
    }()

    private static func mountAppending(lowerDirs: [String], upper: String, work: String, target: String) throws(SystemError) {
        let context = try sysCall("fsopen overlay", path: target) { fsopen("overlay", UInt32(FSOPEN_CLOEXEC)) }
        defer { close(context) }
        func set(_ key: String, _ value: String) throws(SystemError) {
            try sysCall("fsconfig \(key)", path: value) { fsconfig(context, FSCONFIG_SET_STRING.rawValue, key, value, 0) }
        }
        try set("source", "overlay")
        for lower in lowerDirs { try set("lowerdir+", lower) }
        try set("upperdir", upper)
        try set("workdir", work)
        try sysCall("fsconfig create overlay", path: target) { fsconfig(context, FSCONFIG_CMD_CREATE.rawValue, nil, nil, 0) }
        let mounted = try sysCall("fsmount overlay", path: target) { fsmount(context, UInt32(FSMOUNT_CLOEXEC), 0) }
        defer { close(mounted) }
        try sysCall("move_mount overlay", path: target) { move_mount(mounted, "", AT_FDCWD, target, UInt32(MOVE_MOUNT_F_EMPTY_PATH)) }
    }

    /// overlayfs's option syntax: `\`, `,` and `:` in a path are escaped; lower layers are joined with `:`.
    static func classicOptions(lowerDirs: [String], upper: String, work: String) -> String {
        func escape(_ path: String) -> String {
            path.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: ",", with: "\\,").replacingOccurrences(of: ":", with: "\\:")
        }
        return "lowerdir=\(lowerDirs.map(escape).joined(separator: ":")),upperdir=\(escape(upper)),workdir=\(escape(work))"
    }
}
