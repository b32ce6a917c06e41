#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CArchive
import CRktShim
import Foundation
import RktOS
import SystemPackage

public struct ExtractOptions: Sendable {
    /// Write the contents of `rootfs/` directly into the destination and leave out `manifest`.
    public var rootfsOnly: Bool
    /// Apply the image on top of an existing tree (a lower dependency layer): entries replace
    /// existing files, symlinks of the lower layers are followed as a chroot would (never out of
    /// the tree), and whiteouts `.wh.NAME` remove NAME (`.wh..wh..opq` empties the directory of
    /// lower-layer content) instead of being written.
    public var layering: Bool
    /// Restore uid/gid from the archive; only root may.
    public var preserveOwnership: Bool
    /// Write whiteouts in overlayfs's form instead of as files, for a tree that will be an
    /// overlay lower layer: `.wh.NAME` becomes NAME as a 0/0 character device, `.wh..wh..opq`
    /// sets `trusted.overlay.opaque=y` on its directory (both need root). Other `.wh..wh.`
    /// names (aufs bookkeeping) are dropped. Ignored when `layering` (whiteouts are applied then).
    public var overlayWhiteouts: Bool

    public init(rootfsOnly: Bool = false, layering: Bool = false, preserveOwnership: Bool = geteuid() == 0, overlayWhiteouts: Bool = false) {
        self.rootfsOnly = rootfsOnly
        self.layering = layering
        self.preserveOwnership = preserveOwnership
        self.overlayWhiteouts = overlayWhiteouts
    }
}

/// What an extraction left out without failing.
public struct ExtractReport: Sendable, Equatable {
    /// Device nodes that could not be created because the caller may not (EPERM as non-root).
    public var skippedDevices: [String] = []
    /// Metadata libarchive could not restore (e.g. xattrs on a file system that refuses them).
    public var warnings: [String] = []
}

/// Unpacks an ACI with libarchive's disk writer, after the same name and layout checks the
/// importer makes, so a hostile archive cannot write outside `destination`.
public enum ACIExtractor {
    /// If `destination` did not exist, it is created and removed again when extraction fails.
    /// If it existed (e.g. layering onto lower layers), a failure leaves it partially written:
    /// callers extract into a fresh temporary directory and rename it into place.
    @discardableResult
    public static func extract(archivePath: String, to destination: String, options: ExtractOptions) throws(ArchiveError) -> ExtractReport {
        let existed = FileSystem.exists(destination)
        if existed && !FileSystem.isDirectory(destination) {
            throw ArchiveError.io(SystemError("extract", path: destination, errno: .notDirectory))
        }
        do throws(ArchiveError) {
            let fd = try openArchiveFile(archivePath)
            defer { close(fd) }
            if !existed && mkdir(destination, 0o755) != 0 {
                // Usually the parent exists (a fresh temporary directory); create the chain if not.
                guard Errno.last == .noSuchFileOrDirectory else { throw ArchiveError.io(SystemError("mkdir", path: destination)) }
                do { try FileSystem.makeDirectories(destination, mode: 0o755) } catch { throw ArchiveError.io(error) }
            }
            // libarchive refuses to write through any symlink on an entry's path, including
            // ones above the destination, so the destination is given to it symlink-free.
            guard let resolved = realpath(destination, nil) else {
                throw ArchiveError.io(SystemError("realpath", path: destination))
            }
            let root = String(cString: resolved)
            free(resolved)
            return try withUTF8Locale { () throws(ArchiveError) -> ExtractReport in
                var extraction = Extraction(root: root, options: options)
                return try extraction.run(fd: fd, path: archivePath)
            }
        } catch {
            if !existed { try? FileSystem.removeTree(destination) }
            throw error
        }
    }
}

private struct Extraction {
    let root: String
    let options: ExtractOptions
    /// Where rootfs/ content goes.
    let rootfsBase: String
    var validator = LayoutValidator()
    var report = ExtractReport()
    /// rootfs-relative clean name -> absolute path written (hard link targets, opaque whiteouts).
    var written: [String: String] = [:]
    var writtenPaths = Set<String>()
    var skipped = Set<String>()

    init(root: String, options: ExtractOptions) {
        self.root = root
        self.options = options
        self.rootfsBase = options.rootfsOnly ? root : root + "/rootfs"
    }

    mutating func run(fd: Int32, path: String) throws(ArchiveError) -> ExtractReport {
        guard let reader = archive_read_new() else { throw ArchiveError(.io, "libarchive: out of memory") }
        defer { archive_read_free(reader) }
        addReadFilters(reader)
        archive_read_support_format_tar(reader)
        let sniffed = Sniffed(fd: fd)
        if archive_read_open_fd(reader, fd, archiveBlockSize) != ARCHIVE_OK {
            throw startFailure(reader, compression: sniffed.compression, looksLikeTar: sniffed.looksLikeTar, formatStage: false, path: path)
        }
        guard let writer = archive_write_disk_new() else { throw ArchiveError(.io, "libarchive: out of memory") }
        defer { archive_write_free(writer) }
        // Not ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS: we hand libarchive absolute paths under
        // `root` ourselves, after LayoutValidator refused absolute and escaping names.
        // Not ARCHIVE_EXTRACT_SPARSE: it makes libarchive look for zero blocks by writing one
        // 4 KiB block per write(2) (50,000 calls for a 200 MiB layer). Holes stored in the archive
        // (sparse entries) are still holes: write_disk seeks over them without the flag.
        var flags = ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT
            | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL
            | ARCHIVE_EXTRACT_FFLAGS
        if options.preserveOwnership { flags |= ARCHIVE_EXTRACT_OWNER }
        if options.layering { flags |= ARCHIVE_EXTRACT_UNLINK }
        archive_write_disk_set_options(writer, flags)
        archive_write_disk_set_standard_lookup(writer)

        var entryCount = 0
        while true {
            var entry: OpaquePointer?
            let result = archive_read_next_header(reader, &entry)
            if result == ARCHIVE_EOF { break }
            if (result != ARCHIVE_OK && result != ARCHIVE_WARN) || entry == nil {  // ARCHIVE_RETRY (-10) is a damaged header too
                if entryCount == 0 {
                    throw startFailure(reader, compression: sniffed.compression, looksLikeTar: sniffed.looksLikeTar, formatStage: false, path: path)
                }
                throw ArchiveError(.corrupt, "corrupt archive: \(archiveMessage(reader)) after \(entryCount) entries")
            }
            guard let entry else { continue }
            if entryCount == 0 { _ = try detectedCompression(reader) }
            entryCount += 1
            let checked = try validator.check(
                name: archive_entry_pathname(entry), mode: archive_entry_mode(entry),
                symlink: archive_entry_symlink(entry), hardlink: archive_entry_hardlink(entry))
            try extractEntry(checked, entry: entry, reader: reader, writer: writer)
        }
        try validator.finish()
        // Closing applies the deferred directory modes and times.
        if archive_write_close(writer) < ARCHIVE_WARN {
            throw ArchiveError(.io, "extracting to \(root): \(archiveMessage(writer))",
                               underlying: SystemError("archive_write_close", path: root, errno: archiveErrno(writer)))
        }
        return report
    }

    private mutating func extractEntry(_ checked: CheckedEntry, entry: OpaquePointer, reader: OpaquePointer, writer: OpaquePointer) throws(ArchiveError) {
        let name = checked.originalName
        let target: String
        switch checked.role {
        case .root:
            return try skipData(reader, name: name)
        case .manifest:
            if archive_entry_size(entry) > Int64(LayoutValidator.manifestLimit) {
                throw ArchiveError(.manifestTooLarge, "image manifest is too large: \(archive_entry_size(entry)) bytes (limit \(LayoutValidator.manifestLimit))", entry: name)
            }
            if options.rootfsOnly { return try skipData(reader, name: name) }
            target = root + "/manifest"
        case .rootfs:
            target = rootfsBase
        case .rootfsChild:
            let relative = checked.rootfsPath
            var parent = Array(relative.dropLast())
            if options.layering {
                parent = try resolveInRoot(parent, name: name)
                let last = relative[relative.count - 1]
                if last.hasPrefix(".wh.") {
                    try applyWhiteout(String(last.dropFirst(4)), in: parent, name: name)
                    return try skipData(reader, name: name)
                }
            } else if options.overlayWhiteouts, relative[relative.count - 1].hasPrefix(".wh.") {
                try writeOverlayWhiteout(String(relative[relative.count - 1].dropFirst(4)), in: parent, name: name)
                return try skipData(reader, name: name)
            }
            target = ([rootfsBase] + parent + [relative[relative.count - 1]]).joined(separator: "/")
        }

        let relativeName = checked.rootfsPath.joined(separator: "/")
        if let linkPath = checked.hardlinkRootfsPath {
            let linkName = linkPath.joined(separator: "/")
            if skipped.contains(linkName) {
                skipped.insert(relativeName)
                report.skippedDevices.append(name)
                return try skipData(reader, name: name)
            }
            guard let linkTarget = written[linkName] else {
                throw ArchiveError.unsafe(name, "hard link target \(quoted("rootfs/" + linkName)) was not extracted")
            }
            archive_entry_copy_hardlink(entry, linkTarget)
        }
        archive_entry_copy_pathname(entry, target)

        let headerResult = archive_write_header(writer, entry)
        if headerResult < ARCHIVE_WARN {
            let errno = archiveErrno(writer)
            let isDevice = checked.type == .characterDevice || checked.type == .blockDevice
            if isDevice && (errno == .notPermitted || errno == .permissionDenied) && geteuid() != 0 {
                skipped.insert(relativeName)
                report.skippedDevices.append(name)
                return try skipData(reader, name: name)
            }
            throw writeFailure(writer, step: "create", name: name, target: target)
        }
        if headerResult == ARCHIVE_WARN { report.warnings.append("\(name): \(archiveMessage(writer))") }

        if archive_entry_size(entry) > 0 {
            try copyData(reader, writer, name: name, target: target)
        }
        let finishResult = archive_write_finish_entry(writer)
        if finishResult < ARCHIVE_WARN { throw writeFailure(writer, step: "finish", name: name, target: target) }
        if finishResult == ARCHIVE_WARN { report.warnings.append("\(name): \(archiveMessage(writer))") }

        if checked.role == .rootfsChild {
            written[relativeName] = target
            writtenPaths.insert(target)
        }
    }

    private func copyData(_ reader: OpaquePointer, _ writer: OpaquePointer, name: String, target: String) throws(ArchiveError) {
        while true {
            var buffer: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            let r = archive_read_data_block(reader, &buffer, &size, &offset)
            if r == ARCHIVE_EOF { return }
            if r < ARCHIVE_WARN {
                throw ArchiveError(.corrupt, "corrupt archive: \(archiveMessage(reader)) in \(quoted(name))", entry: name)
            }
            // Block offsets carry the holes of sparse entries; write_disk seeks over them.
            if size > 0, archive_write_data_block(writer, buffer, size, offset) < ARCHIVE_WARN {
                throw writeFailure(writer, step: "write", name: name, target: target)
            }
        }
    }

    private func skipData(_ reader: OpaquePointer, name: String) throws(ArchiveError) {
        if archive_read_data_skip(reader) < ARCHIVE_WARN {
            throw ArchiveError(.corrupt, "corrupt archive: \(archiveMessage(reader)) in \(quoted(name))", entry: name)
        }
    }

    private func writeFailure(_ writer: OpaquePointer, step: String, name: String, target: String) -> ArchiveError {
        let errno = archiveErrno(writer)
        let message = archiveMessage(writer)
        let kind: ArchiveError.Kind = isSystemErrno(errno) ? .io : .unsafeEntry
        return ArchiveError(kind, "extracting \(quoted(name)): \(message)", entry: name,
                            underlying: isSystemErrno(errno) ? SystemError(step, path: target, errno: errno) : nil)
    }

    /// Resolves directory components below rootfs the way the kernel would inside a chroot of
    /// rootfs: symlinks left by lower layers are followed, but ".." and absolute targets stop
    /// at rootfs. libarchive then sees a symlink-free path.
    private func resolveInRoot(_ components: [String], name: String) throws(ArchiveError) -> [String] {
        var resolved: [String] = []
        var pending = Array(components.reversed())
        var hops = 0
        while let component = pending.popLast() {
            if component.isEmpty || component == "." { continue }
            if component == ".." {
                if !resolved.isEmpty { resolved.removeLast() }
                continue
            }
            let candidate = ([rootfsBase] + resolved + [component]).joined(separator: "/")
            var st = stat()
            guard lstat(candidate, &st) == 0, (st.st_mode & S_IFMT) == S_IFLNK else {
                resolved.append(component)
                continue
            }
            hops += 1
            if hops > 40 { throw ArchiveError.unsafe(name, "too many levels of symbolic links below rootfs") }
            var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
            let n = readlink(candidate, &buffer, buffer.count - 1)
            if n < 0 { throw ArchiveError.io(SystemError("readlink", path: candidate)) }
            let linkTarget = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if linkTarget.hasPrefix("/") { resolved.removeAll() }
            pending.append(contentsOf: linkTarget.split(separator: "/").map(String.init).reversed())
        }
        return resolved
    }

    /// overlayfs's whiteouts: a 0/0 character device hides NAME of the layers below; the
    /// `trusted.overlay.opaque` xattr hides the lower layers' content of a directory.
    private func writeOverlayWhiteout(_ hidden: String, in parent: [String], name: String) throws(ArchiveError) {
        if hidden.hasPrefix(".wh.") && hidden != ".wh..opq" { return }  // aufs metadata (.wh..wh..plnk, ...)
        guard hidden == ".wh..opq" || (!hidden.isEmpty && hidden != "." && hidden != "..") else {
            throw ArchiveError.unsafe(name, "whiteout of an invalid name")
        }
        // The directory is written by this archive only: never create through a symlink it left.
        var directory = rootfsBase
        for component in parent {
            directory += "/" + component
            var st = stat()
            if lstat(directory, &st) == 0 {
                guard (st.st_mode & S_IFMT) == S_IFDIR else { throw ArchiveError.unsafe(name, "whiteout below a non-directory") }
            } else if mkdir(directory, 0o755) != 0 {
                throw ArchiveError.io(SystemError("mkdir", path: directory))
            }
        }
        if hidden == ".wh..opq" {
            let value: [UInt8] = [UInt8(ascii: "y")]
            if rkt_lsetxattr(directory, "trusted.overlay.opaque", value, value.count, 0) != 0 {
                throw ArchiveError(.io, "marking \(quoted(name)) opaque", entry: name, underlying: SystemError("setxattr trusted.overlay.opaque", path: directory))
            }
            return
        }
        let path = directory + "/" + hidden
        do { try FileSystem.removeTree(path) } catch { throw ArchiveError.io(error) }
        if mknod(path, S_IFCHR, 0) != 0 {
            throw ArchiveError(.io, "writing whiteout \(quoted(name))", entry: name, underlying: SystemError("mknod", path: path))
        }
    }

    private mutating func applyWhiteout(_ hidden: String, in parent: [String], name: String) throws(ArchiveError) {
        let directory = ([rootfsBase] + parent).joined(separator: "/")
        do {
            if hidden == ".wh..opq" {
                // Opaque directory: lower-layer children go, this image's own entries stay.
                for child in try FileSystem.listIfPresent(directory) where !writtenPaths.contains(directory + "/" + child) {
                    try FileSystem.removeTree(directory + "/" + child)
                }
            } else if !hidden.isEmpty && hidden != "." && hidden != ".." {
                try FileSystem.removeTree(directory + "/" + hidden)
            }
        } catch {
            throw ArchiveError(.io, "applying whiteout \(quoted(name)): \(error)", entry: name, underlying: error)
        }
    }
}
