#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CArchive
import Foundation
import RktOS
import SystemPackage

/// Packs an image layout directory (`manifest` + `rootfs/`) into an ACI.
public enum ACIWriter {
    /// Writes pax (restricted: plain ustar unless a name, xattr or sparse map needs more) with
    /// `manifest` first, then `rootfs` depth-first in byte order of names, so the same tree always
    /// gives the same bytes (and so the same image ID). Ownership, modes, mtimes, symlinks,
    /// hard links, xattrs, ACLs, sparse files and device nodes are kept; uname/gname and
    /// atime/ctime are left out on purpose. The file appears at `outputPath` only when complete.
    public static func write(layoutDirectory: String, to outputPath: String, compression: Compression) throws(ArchiveError) {
        let manifestPath = layoutDirectory + "/manifest"
        let rootfsPath = layoutDirectory + "/rootfs"
        var st = stat()
        guard lstat(manifestPath, &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else {
            throw ArchiveError(.layout, "no image manifest found in layout \(layoutDirectory)")
        }
        guard lstat(rootfsPath, &st) == 0, (st.st_mode & S_IFMT) == S_IFDIR else {
            throw ArchiveError(.layout, "no rootfs found in layout \(layoutDirectory)")
        }

        let directory = (outputPath as NSString).deletingLastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.tmp-" + (outputPath as NSString).lastPathComponent
            + "-" + String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let fd: Int32
        do {
            fd = try sysCall("open", path: temporary) { open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644) }
        } catch {
            throw ArchiveError.io(error)
        }
        do throws(ArchiveError) {
            try withUTF8Locale { () throws(ArchiveError) in
                let writer = try TreeWriter(fd: fd, compression: compression)
                try writer.add(path: manifestPath, name: "manifest")
                try writer.add(path: rootfsPath, name: "rootfs")
                try writer.addChildren(of: rootfsPath, name: "rootfs")
                try writer.close()
            }
            do {
                try sysCall("fsync", path: temporary) { fsync(fd) }
                close(fd)
                try FileSystem.rename(temporary, to: outputPath)
            } catch {
                throw ArchiveError.io(error)
            }
        } catch {
            close(fd)
            unlink(temporary)
            throw error
        }
    }
}

private final class TreeWriter {
    let archive: OpaquePointer
    let disk: OpaquePointer
    let resolver: OpaquePointer
    var buffer: [UInt8]

    init(fd: Int32, compression: Compression) throws(ArchiveError) {
        guard let archive = archive_write_new() else { throw ArchiveError(.io, "libarchive: out of memory") }
        guard let disk = archive_read_disk_new() else {
            archive_write_free(archive)
            throw ArchiveError(.io, "libarchive: out of memory")
        }
        guard let resolver = archive_entry_linkresolver_new() else {
            archive_write_free(archive)
            archive_read_free(disk)
            throw ArchiveError(.io, "libarchive: out of memory")
        }
        self.archive = archive
        self.disk = disk
        self.resolver = resolver
        self.buffer = [UInt8](repeating: 0, count: archiveBlockSize)
        archive_write_set_format_pax_restricted(archive)
        try addWriteFilter(archive, compression)
        if compression != .none {
            // Block padding belongs inside the tar, not after the compressed stream, where
            // gzip(1) and Go's readers would see trailing garbage.
            archive_write_set_bytes_in_last_block(archive, 1)
        }
        archive_read_disk_set_symlink_physical(disk)
        archive_entry_linkresolver_set_strategy(resolver, archive_format(archive))
        if archive_write_open_fd(archive, fd) != ARCHIVE_OK {
            throw ArchiveError(.io, "writing archive: \(archiveMessage(archive))")
        }
    }

    deinit {
        archive_entry_linkresolver_free(resolver)
        archive_read_free(disk)
        archive_write_free(archive)
    }

    func addChildren(of path: String, name: String) throws(ArchiveError) {
        let children: [String]
        do { children = try FileSystem.list(path) } catch { throw ArchiveError.io(error) }
        for child in children.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            let childPath = path + "/" + child
            let childName = name + "/" + child
            let isDirectory = try add(path: childPath, name: childName)
            if isDirectory { try addChildren(of: childPath, name: childName) }
        }
    }

    /// Writes one entry; returns whether it is a directory to descend into.
    @discardableResult
    func add(path: String, name: String) throws(ArchiveError) -> Bool {
        guard let entry = archive_entry_new() else { throw ArchiveError(.io, "libarchive: out of memory") }
        var current: OpaquePointer? = entry
        var spare: OpaquePointer?
        defer {
            if let current { archive_entry_free(current) }
            if let spare { archive_entry_free(spare) }
        }
        archive_entry_copy_sourcepath(entry, path)
        archive_entry_copy_pathname(entry, name)
        if archive_read_disk_entry_from_file(disk, entry, -1, nil) < ARCHIVE_WARN {
            throw ArchiveError(.io, "reading \(path): \(archiveMessage(disk))",
                               underlying: SystemError("stat", path: path, errno: archiveErrno(disk)))
        }
        // Times that change on every read or copy would make the output irreproducible.
        archive_entry_unset_atime(entry)
        archive_entry_unset_ctime(entry)
        archive_entry_unset_birthtime(entry)
        let mode = archive_entry_filetype(entry)
        let isDirectory = mode == UInt32(Glibc.S_IFDIR)
        let isRegular = mode == UInt32(Glibc.S_IFREG)
        // Hard links: the first name in walk order carries the data, later ones link to it.
        archive_entry_linkify(resolver, &current, &spare)
        guard let toWrite = current else { return isDirectory }
        if archive_write_header(archive, toWrite) < ARCHIVE_WARN {
            throw ArchiveError(.io, "writing \(quoted(name)): \(archiveMessage(archive))", entry: name)
        }
        if isRegular && archive_entry_hardlink(toWrite) == nil && archive_entry_size(toWrite) > 0 {
            try copyContents(path: path, name: name, size: archive_entry_size(toWrite))
        }
        if archive_write_finish_entry(archive) < ARCHIVE_WARN {
            throw ArchiveError(.io, "writing \(quoted(name)): \(archiveMessage(archive))", entry: name)
        }
        return isDirectory
    }

    private func copyContents(path: String, name: String, size: Int64) throws(ArchiveError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { throw ArchiveError.io(SystemError("open", path: path)) }
        defer { Glibc.close(fd) }
        var remaining = size
        let archive = self.archive
        while remaining > 0 {
            let want = Int(min(Int64(buffer.count), remaining))
            let result: Int = buffer.withUnsafeMutableBytes { raw -> Int in
                let n = read(fd, raw.baseAddress, want)
                if n <= 0 { return n }
                // Holes of sparse files read as zeros; the pax writer drops the hole ranges.
                return archive_write_data(archive, raw.baseAddress, n) == n ? n : -2
            }
            if result == -1 && Errno.last == .interrupted { continue }
            if result == -1 { throw ArchiveError.io(SystemError("read", path: path)) }
            if result == -2 { throw ArchiveError(.io, "writing \(quoted(name)): \(archiveMessage(archive))", entry: name) }
            if result == 0 {
                throw ArchiveError(.io, "\(path) shrank while it was being archived", entry: name)
            }
            remaining -= Int64(result)
        }
    }

    func close() throws(ArchiveError) {
        if archive_write_close(archive) != ARCHIVE_OK {
            throw ArchiveError(.io, "writing archive: \(archiveMessage(archive))")
        }
    }
}
