#if canImport(Glibc)
import Glibc
#endif
import CArchive
import Foundation
import RktOS

/// Rewrites one image layer (a tar, possibly gzip/zstd/xz/bzip2-compressed) as an uncompressed
/// ACI: `manifest` first, then `rootfs/` and the layer's entries below it, unchanged otherwise.
/// OCI whiteouts (`.wh.NAME`, `.wh..wh..opq`) are kept as entries: they are exactly the appc
/// whiteouts the store's renderer applies when it lays a layer over the ones below.
enum LayerConverter {
    static func convert(blobPath: String, manifest: Data, to outputFD: Int32, what: String) throws(FetchError) {
        try withUTF8CType { () throws(FetchError) in
            guard let reader = archive_read_new() else { throw FetchError(.io, "libarchive: out of memory") }
            defer { archive_read_free(reader) }
            addLayerReadFilters(reader)
            archive_read_support_format_tar(reader)
            guard archive_read_open_filename(reader, blobPath, 1 << 20) == ARCHIVE_OK else {
                throw FetchError(.malformedResponse, "\(what): not a tar archive: \(libarchiveMessage(reader))")
            }
            guard let writer = archive_write_new() else { throw FetchError(.io, "libarchive: out of memory") }
            defer { archive_write_free(writer) }
            archive_write_set_format_pax_restricted(writer)
            archive_write_add_filter_none(writer)
            // 1 MiB writes rather than tar's 10 KiB records (a 50 MiB layer was 5000 write calls);
            // no padding after the end-of-archive blocks.
            archive_write_set_bytes_per_block(writer, 1 << 20)
            archive_write_set_bytes_in_last_block(writer, 1)
            guard archive_write_open_fd(writer, outputFD) == ARCHIVE_OK else {
                throw FetchError(.io, "\(what): writing the layer image: \(libarchiveMessage(writer))")
            }
            try writeSynthetic(writer, name: "manifest", type: Glibc.S_IFREG, mode: 0o644, data: manifest, what: what)
            try writeSynthetic(writer, name: "rootfs", type: Glibc.S_IFDIR, mode: 0o755, data: Data(), what: what)

            var directories = Set<String>()
            var buffer = [UInt8](repeating: 0, count: 256 << 10)
            var count = 0
            while true {
                var entry: OpaquePointer?
                let result = archive_read_next_header(reader, &entry)
                if result == ARCHIVE_EOF { break }
                guard result >= ARCHIVE_WARN, let entry else {
                    throw FetchError(.malformedResponse, "\(what): corrupt layer after \(count) entries: \(libarchiveMessage(reader))")
                }
                count += 1
                guard let rawName = archive_entry_pathname(entry) else {
                    throw FetchError(.malformedResponse, "\(what): entry \(count) has a name that is not valid UTF-8")
                }
                guard let name = normalizedName(String(cString: rawName)) else {
                    // The layer's own root directory: rootfs/ stands for it.
                    try skip(reader, what: what)
                    continue
                }
                let isDirectory = archive_entry_filetype(entry) == UInt32(Glibc.S_IFDIR)
                if isDirectory {
                    // Some layer writers repeat directory entries; the ACI importer refuses duplicates.
                    if directories.contains(name) { try skip(reader, what: what); continue }
                    directories.insert(name)
                }
                archive_entry_copy_pathname(entry, "rootfs/" + name)
                if let link = archive_entry_hardlink(entry) {
                    guard let target = normalizedName(String(cString: link)) else {
                        throw FetchError(.malformedResponse, "\(what): hard link \(quotedArg(name)) points at the layer root")
                    }
                    archive_entry_copy_hardlink(entry, "rootfs/" + target)
                    archive_entry_set_size(entry, 0)
                }
                // Times of no meaning for the content would make conversions differ.
                archive_entry_unset_atime(entry)
                archive_entry_unset_ctime(entry)
                if archive_write_header(writer, entry) < ARCHIVE_WARN {
                    throw FetchError(.io, "\(what): writing \(quotedArg(name)): \(libarchiveMessage(writer))")
                }
                if archive_entry_hardlink(entry) == nil && archive_entry_size(entry) > 0 {
                    while true {
                        let n = buffer.withUnsafeMutableBytes { archive_read_data(reader, $0.baseAddress, $0.count) }
                        if n == 0 { break }
                        if n < 0 {
                            throw FetchError(.malformedResponse, "\(what): corrupt layer in \(quotedArg(name)): \(libarchiveMessage(reader))")
                        }
                        let written = buffer.withUnsafeBytes { archive_write_data(writer, $0.baseAddress, n) }
                        if written != n {
                            throw FetchError(.io, "\(what): writing \(quotedArg(name)): \(libarchiveMessage(writer))")
                        }
                    }
                } else {
                    try skip(reader, what: what)
                }
                if archive_write_finish_entry(writer) < ARCHIVE_WARN {
                    throw FetchError(.io, "\(what): writing \(quotedArg(name)): \(libarchiveMessage(writer))")
                }
            }
            if archive_write_close(writer) != ARCHIVE_OK {
                throw FetchError(.io, "\(what): writing the layer image: \(libarchiveMessage(writer))")
            }
        }
    }

    /// The image ACI of a converted image: its manifest and an empty rootfs (the layers are
    /// dependencies). Fixed times, so the same manifest always gives the same image ID.
    static func writeEmptyImage(manifest: Data, to outputFD: Int32, what: String) throws(FetchError) {
        guard let writer = archive_write_new() else { throw FetchError(.io, "libarchive: out of memory") }
        defer { archive_write_free(writer) }
        archive_write_set_format_pax_restricted(writer)
        archive_write_add_filter_none(writer)
        guard archive_write_open_fd(writer, outputFD) == ARCHIVE_OK else {
            throw FetchError(.io, "\(what): writing the image: \(libarchiveMessage(writer))")
        }
        try writeSynthetic(writer, name: "manifest", type: Glibc.S_IFREG, mode: 0o644, data: manifest, what: what)
        try writeSynthetic(writer, name: "rootfs", type: Glibc.S_IFDIR, mode: 0o755, data: Data(), what: what)
        if archive_write_close(writer) != ARCHIVE_OK {
            throw FetchError(.io, "\(what): writing the image: \(libarchiveMessage(writer))")
        }
    }

    /// Strips `/` and `./` prefixes and trailing slashes; nil for the root itself.
    static func normalizedName(_ name: String) -> String? {
        var parts = name.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        while parts.first == "." { parts.removeFirst() }
        parts.removeAll { $0 == "." }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }

    private static func writeSynthetic(_ writer: OpaquePointer, name: String, type: mode_t, mode: mode_t, data: Data, what: String) throws(FetchError) {
        guard let entry = archive_entry_new() else { throw FetchError(.io, "libarchive: out of memory") }
        defer { archive_entry_free(entry) }
        archive_entry_copy_pathname(entry, name)
        archive_entry_set_filetype(entry, UInt32(type))
        archive_entry_set_perm(entry, mode)
        archive_entry_set_size(entry, Int64(data.count))
        archive_entry_set_mtime(entry, 0, 0)
        guard archive_write_header(writer, entry) >= ARCHIVE_WARN else {
            throw FetchError(.io, "\(what): writing \(name): \(libarchiveMessage(writer))")
        }
        if !data.isEmpty {
            let written = data.withUnsafeBytes { archive_write_data(writer, $0.baseAddress, $0.count) }
            guard written == data.count else { throw FetchError(.io, "\(what): writing \(name): \(libarchiveMessage(writer))") }
        }
        archive_write_finish_entry(writer)
    }

    private static func skip(_ reader: OpaquePointer, what: String) throws(FetchError) {
        if archive_read_data_skip(reader) < ARCHIVE_WARN {
            throw FetchError(.malformedResponse, "\(what): corrupt layer: \(libarchiveMessage(reader))")
        }
    }
}

/// Unpacks a plain tar (a `docker save` tarball or an OCI layout archive) into `directory`, with
/// libarchive's guards against absolute names, `..` and writing through symlinks.
enum PlainTar {
    static func extract(_ path: String, into directory: String) throws(FetchError) {
        try withUTF8CType { () throws(FetchError) in
            guard let reader = archive_read_new(), let writer = archive_write_disk_new() else { throw FetchError(.io, "libarchive: out of memory") }
            defer {
                archive_read_free(reader)
                archive_write_free(writer)
            }
            addLayerReadFilters(reader)
            archive_read_support_format_tar(reader)
            archive_write_disk_set_options(writer, ARCHIVE_EXTRACT_SECURE_SYMLINKS | ARCHIVE_EXTRACT_SECURE_NODOTDOT)
            guard archive_read_open_filename(reader, path, 1 << 20) == ARCHIVE_OK else {
                throw FetchError(.malformedResponse, "\(path): not a tar archive: \(libarchiveMessage(reader))")
            }
            while true {
                var entry: OpaquePointer?
                let result = archive_read_next_header(reader, &entry)
                if result == ARCHIVE_EOF { break }
                guard result >= ARCHIVE_WARN, let entry, let raw = archive_entry_pathname(entry) else {
                    throw FetchError(.malformedResponse, "\(path): corrupt archive: \(libarchiveMessage(reader))")
                }
                let type = archive_entry_filetype(entry)
                guard type == UInt32(Glibc.S_IFREG) || type == UInt32(Glibc.S_IFDIR) else {
                    // An image archive holds only files and directories; skip anything else.
                    archive_read_data_skip(reader)
                    continue
                }
                guard let name = LayerConverter.normalizedName(String(cString: raw)) else { continue }
                archive_entry_copy_pathname(entry, directory + "/" + name)
                archive_entry_set_perm(entry, type == UInt32(Glibc.S_IFDIR) ? 0o755 : 0o644)
                guard archive_write_header(writer, entry) >= ARCHIVE_WARN else {
                    throw FetchError(.io, "\(path): extracting \(quotedArg(name)): \(libarchiveMessage(writer))")
                }
                while archive_entry_size(entry) > 0 {
                    var block: UnsafeRawPointer?
                    var size = 0
                    var offset: la_int64_t = 0
                    let r = archive_read_data_block(reader, &block, &size, &offset)
                    if r == ARCHIVE_EOF { break }
                    guard r >= ARCHIVE_WARN else {
                        throw FetchError(.malformedResponse, "\(path): corrupt archive in \(quotedArg(name)): \(libarchiveMessage(reader))")
                    }
                    if size > 0 && archive_write_data_block(writer, block, size, offset) < ARCHIVE_WARN {
                        throw FetchError(.io, "\(path): extracting \(quotedArg(name)): \(libarchiveMessage(writer))")
                    }
                }
                archive_write_finish_entry(writer)
            }
            archive_write_close(writer)
        }
    }

    /// The top-level names of a tar archive (reading headers only), to tell `docker save`
    /// tarballs (`manifest.json`) and OCI layouts (`oci-layout`) from ACIs (`manifest`, `rootfs`).
    static func topLevelNames(_ path: String, limit: Int = 100_000) -> Set<String>? {
        var names = Set<String>()
        let ok = withUTF8CTypeNonThrowing { () -> Bool in
            guard let reader = archive_read_new() else { return false }
            defer { archive_read_free(reader) }
            addLayerReadFilters(reader)
            archive_read_support_format_tar(reader)
            guard archive_read_open_filename(reader, path, 1 << 20) == ARCHIVE_OK else { return false }
            var count = 0
            while count < limit {
                var entry: OpaquePointer?
                let result = archive_read_next_header(reader, &entry)
                if result == ARCHIVE_EOF { break }
                guard result >= ARCHIVE_WARN, let entry, let raw = archive_entry_pathname(entry) else { return count > 0 }
                count += 1
                if let name = LayerConverter.normalizedName(String(cString: raw)), let top = name.split(separator: "/").first {
                    names.insert(String(top))
                    // An ACI names its manifest and rootfs first: no need to read further.
                    if top == "rootfs" || name == "manifest" { return true }
                }
                archive_read_data_skip(reader)
            }
            return true
        }
        return ok ? names : nil
    }
}

func addLayerReadFilters(_ archive: OpaquePointer) {
    archive_read_support_filter_none(archive)
    archive_read_support_filter_gzip(archive)
    archive_read_support_filter_zstd(archive)
    archive_read_support_filter_xz(archive)
    archive_read_support_filter_bzip2(archive)
}

func libarchiveMessage(_ archive: OpaquePointer?) -> String {
    guard let archive, let text = archive_error_string(archive) else { return "unknown error" }
    return String(cString: text)
}

/// Runs `body` with a UTF-8 LC_CTYPE on this thread: libarchive converts pax (UTF-8) names to
/// the locale's charset, and the C locale would turn every non-ASCII name into "?".
func withUTF8CType<T>(_ body: () throws(FetchError) -> T) throws(FetchError) -> T {
    guard let utf8 = newlocale(Int32(LC_CTYPE_MASK), "C.UTF-8", nil) else { return try body() }
    let previous = uselocale(utf8)
    defer {
        uselocale(previous)
        freelocale(utf8)
    }
    return try body()
}

func withUTF8CTypeNonThrowing<T>(_ body: () -> T) -> T {
    guard let utf8 = newlocale(Int32(LC_CTYPE_MASK), "C.UTF-8", nil) else { return body() }
    let previous = uselocale(utf8)
    defer {
        uselocale(previous)
        freelocale(utf8)
    }
    return body()
}
