#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// The kind of a tar entry, as far as layout and safety checks care.
enum EntryType: Equatable {
    case regular, directory, symlink, hardlink, characterDevice, blockDevice, fifo, socket, other

    init(mode: mode_t, isHardlink: Bool) {
        if isHardlink { self = .hardlink; return }
        switch mode & S_IFMT {
        case S_IFREG: self = .regular
        case S_IFDIR: self = .directory
        case S_IFLNK: self = .symlink
        case S_IFCHR: self = .characterDevice
        case S_IFBLK: self = .blockDevice
        case S_IFIFO: self = .fifo
        case S_IFSOCK: self = .socket
        default: self = .other
        }
    }

    var label: String {
        switch self {
        case .regular: "regular file"
        case .directory: "directory"
        case .symlink: "symlink"
        case .hardlink: "hard link"
        case .characterDevice: "character device"
        case .blockDevice: "block device"
        case .fifo: "fifo"
        case .socket: "socket"
        case .other: "special file"
        }
    }
}

/// Lexically cleans a slash-separated path the way Go's path.Clean does (so "./rootfs//x/." is
/// "rootfs/x"); ".." components that cannot be cancelled are kept so callers can see the escape.
func cleanPath(_ path: String) -> (absolute: Bool, components: [String]) {
    let absolute = path.hasPrefix("/")
    var out: [String] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
        if part == "." { continue }
        if part == ".." {
            if let last = out.last, last != ".." {
                out.removeLast()
            } else if !absolute {
                out.append("..")
            }
            continue
        }
        out.append(String(part))
    }
    return (absolute, out)
}

/// A name from a tar header; nil when absent. Names must be UTF-8 because the rest of rkt
/// handles paths as Swift strings, and a lossy conversion could make two entries collide.
func decodeName(_ pointer: UnsafePointer<CChar>?, entry: String?, what: String) throws(ArchiveError) -> String? {
    guard let pointer else { return nil }
    if let name = String(validatingCString: pointer) { return name }
    let shown = String(decoding: UnsafeRawBufferPointer(start: pointer, count: strlen(pointer)), as: UTF8.self)
    throw ArchiveError.unsafe(entry ?? shown, "\(what) is not valid UTF-8")
}

/// What an entry is in the ACI layout, after its name has been checked.
struct CheckedEntry {
    enum Role: Equatable { case root, manifest, rootfs, rootfsChild }
    let role: Role
    /// The name as found in the archive, for messages.
    let originalName: String
    /// Components below `rootfs/` (rootfsChild only).
    let rootfsPath: [String]
    let type: EntryType
    /// For hard links: the target's components below `rootfs/`.
    let hardlinkRootfsPath: [String]?
}

/// Validates an ACI's entries one at a time in archive order, as actool's ValidateArchive does,
/// plus the safety rules rkt needs before anything is written: no entry may land outside the
/// image, be written through a symlink of the same image, or link to something outside rootfs.
struct LayoutValidator {
    static let manifestLimit = 1 << 20

    /// Clean name -> type of every entry seen so far.
    private var seen: [String: EntryType] = [:]
    private var symlinkCount = 0
    private var nonDirectoryCount = 0
    private(set) var sawManifest = false
    private(set) var sawRootfs = false

    mutating func check(
        name rawName: UnsafePointer<CChar>?, mode: mode_t,
        symlink rawSymlink: UnsafePointer<CChar>?, hardlink rawHardlink: UnsafePointer<CChar>?
    ) throws(ArchiveError) -> CheckedEntry {
        guard let name = try decodeName(rawName, entry: nil, what: "name") else {
            throw ArchiveError(.corrupt, "corrupt archive: entry without a name")
        }
        let type = EntryType(mode: mode, isHardlink: rawHardlink != nil)
        let (absolute, components) = cleanPath(name)
        if absolute { throw ArchiveError.unsafe(name, "absolute path") }
        if components.first == ".." { throw ArchiveError.unsafe(name, "path leaves the image") }
        if components.isEmpty {
            // "." / "./": the layout's own directory; actool ignores it and so do we.
            return CheckedEntry(role: .root, originalName: name, rootfsPath: [], type: type, hardlinkRootfsPath: nil)
        }
        let clean = components.joined(separator: "/")
        if seen[clean] != nil {
            throw ArchiveError(.layout, "duplicate file entry in archive: \(clean)", entry: name)
        }

        let role: CheckedEntry.Role
        switch (components[0], components.count) {
        case ("manifest", 1):
            guard type == .regular else {
                throw ArchiveError(.layout, "image manifest \(quoted(name)) is a \(type.label), not a regular file", entry: name)
            }
            role = .manifest
            sawManifest = true
        case ("rootfs", 1):
            guard type == .directory else {
                throw ArchiveError(.layout, "rootfs is not a directory (\(quoted(name)) is a \(type.label))", entry: name)
            }
            role = .rootfs
            sawRootfs = true
        case ("rootfs", _):
            role = .rootfsChild
        default:
            throw ArchiveError(.layout, "unrecognized file path in layout: \(quoted(name))", entry: name)
        }

        if role == .rootfsChild && nonDirectoryCount > 0 {
            try checkParents(components, name: name)
        }

        var hardlinkPath: [String]?
        if type == .hardlink {
            hardlinkPath = try checkHardlink(rawHardlink, name: name)
        } else if type == .symlink && role == .rootfsChild {
            try checkSymlink(rawSymlink, rootfsPath: components.dropFirst(), name: name)
        }

        seen[clean] = type
        if type != .directory { nonDirectoryCount += 1 }
        if type == .symlink { symlinkCount += 1 }
        return CheckedEntry(
            role: role, originalName: name, rootfsPath: Array(components.dropFirst()),
            type: type, hardlinkRootfsPath: hardlinkPath)
    }

    /// Every earlier entry on the way to this one must be a directory: a symlink there would
    /// redirect the write (possibly out of the image), a file there would be silently replaced.
    private func checkParents(_ components: [String], name: String) throws(ArchiveError) {
        var prefix = components[0]
        for component in components.dropFirst().dropLast() {
            prefix += "/" + component
            guard let parentType = seen[prefix] else { continue }
            if parentType == .symlink {
                throw ArchiveError.unsafe(name, "written through symlink \(quoted(prefix))")
            }
            if parentType != .directory {
                throw ArchiveError.unsafe(name, "parent \(quoted(prefix)) is a \(parentType.label), not a directory")
            }
        }
    }

    /// Relative symlink targets are resolved against the link's directory and must stay inside
    /// rootfs; absolute ones are rootfs-relative inside the container and so always stay inside.
    private func checkSymlink(_ raw: UnsafePointer<CChar>?, rootfsPath: ArraySlice<String>, name: String) throws(ArchiveError) {
        guard let target = try decodeName(raw, entry: name, what: "symlink target") else { return }
        if target.hasPrefix("/") { return }
        var depth = rootfsPath.count - 1
        for part in target.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == ".." {
                depth -= 1
                if depth < 0 { throw ArchiveError.unsafe(name, "symlink target \(quoted(target)) leaves rootfs") }
            } else {
                depth += 1
            }
        }
    }

    private func checkHardlink(_ raw: UnsafePointer<CChar>?, name: String) throws(ArchiveError) -> [String] {
        guard let target = try decodeName(raw, entry: name, what: "hard link target") else {
            throw ArchiveError.unsafe(name, "hard link without a target")
        }
        let (absolute, components) = cleanPath(target)
        if absolute { throw ArchiveError.unsafe(name, "hard link target \(quoted(target)) is absolute") }
        if components.first == ".." { throw ArchiveError.unsafe(name, "hard link target \(quoted(target)) leaves the image") }
        guard components.count > 1, components[0] == "rootfs" else {
            throw ArchiveError.unsafe(name, "hard link target \(quoted(target)) is outside rootfs")
        }
        guard let targetType = seen[components.joined(separator: "/")] else {
            throw ArchiveError.unsafe(name, "hard link target \(quoted(target)) is not an earlier entry of the image")
        }
        if targetType == .directory {
            throw ArchiveError.unsafe(name, "hard link target \(quoted(target)) is a directory")
        }
        return Array(components.dropFirst())
    }

    func finish() throws(ArchiveError) {
        if !sawManifest { throw ArchiveError(.layout, "no image manifest found in layout") }
        if !sawRootfs { throw ArchiveError(.layout, "no rootfs found in layout") }
    }
}
