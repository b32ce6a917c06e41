#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CArchive
import Foundation
import RktOS
import SystemPackage

/// The compression of an ACI, detected from its content (never from its file name).
public enum Compression: String, Sendable, CaseIterable, CustomStringConvertible {
    case none, gzip, bzip2, xz, zstd

    public var description: String { rawValue }

    init?(filterCode: Int32) {
        switch filterCode {
        case ARCHIVE_FILTER_NONE: self = .none
        case ARCHIVE_FILTER_GZIP: self = .gzip
        case ARCHIVE_FILTER_BZIP2: self = .bzip2
        case ARCHIVE_FILTER_XZ: self = .xz
        case ARCHIVE_FILTER_ZSTD: self = .zstd
        default: return nil
        }
    }
}

/// 1 MiB: large enough that per-block overhead disappears next to hashing and decompression.
let archiveBlockSize = 1 << 20

/// Runs `body` with a UTF-8 LC_CTYPE on this thread only. libarchive converts pax (UTF-8) names to
/// the current locale's charset; under the C locale every non-ASCII name would become "?".
func withUTF8Locale<T>(_ body: () throws(ArchiveError) -> T) throws(ArchiveError) -> T {
    guard let utf8 = newlocale(Int32(LC_CTYPE_MASK), "C.UTF-8", nil) else { return try body() }
    let previous = uselocale(utf8)
    defer {
        uselocale(previous)
        freelocale(utf8)
    }
    return try body()
}

func archiveMessage(_ archive: OpaquePointer?) -> String {
    guard let archive, let text = archive_error_string(archive) else { return "unknown error" }
    return String(decoding: UnsafeRawBufferPointer(start: text, count: strlen(text)), as: UTF8.self)
}

func archiveErrno(_ archive: OpaquePointer?) -> Errno {
    guard let archive else { return Errno(rawValue: 0) }
    return Errno(rawValue: archive_errno(archive))
}

/// libarchive reports format problems with ARCHIVE_ERRNO_MISC (-1), ARCHIVE_ERRNO_FILE_FORMAT
/// (EILSEQ) or ARCHIVE_ERRNO_PROGRAMMER (EINVAL); anything else positive came from the OS.
func isSystemErrno(_ errno: Errno) -> Bool {
    errno.rawValue > 0 && errno.rawValue != EILSEQ && errno.rawValue != EINVAL
}

/// Opens `path` for reading, refusing an empty file up front (libarchive's message for it is obscure).
func openArchiveFile(_ path: String) throws(ArchiveError) -> Int32 {
    let fd: Int32
    do {
        fd = try sysCall("open", path: path) { open(path, O_RDONLY | O_CLOEXEC) }
    } catch {
        throw ArchiveError.io(error)
    }
    var st = stat()
    if fstat(fd, &st) != 0 {
        let error = SystemError("fstat", path: path)
        close(fd)
        throw ArchiveError.io(error)
    }
    if (st.st_mode & S_IFMT) == S_IFDIR {
        close(fd)
        throw ArchiveError.io(SystemError("open", path: path, errno: .isDirectory))
    }
    if (st.st_mode & S_IFMT) == S_IFREG && st.st_size == 0 {
        close(fd)
        throw ArchiveError(.notAnArchive, "not an ACI: \(path) is an empty file")
    }
    return fd
}

/// What the first bytes of a file say, for error messages only (libarchive does the detection
/// that matters): which compression its magic number claims, and whether it starts with a ustar header.
struct Sniffed {
    var compression: Compression = .none
    var looksLikeTar = false

    init(fd: Int32) {
        var head = [UInt8](repeating: 0, count: 512)
        let n = head.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, 0) }
        guard n > 0 else { return }
        let bytes = head.prefix(n)
        if bytes.starts(with: [0x1f, 0x8b]) { compression = .gzip }
        else if bytes.starts(with: [0x42, 0x5a, 0x68]) { compression = .bzip2 }
        else if bytes.starts(with: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) { compression = .xz }
        else if bytes.starts(with: [0x28, 0xb5, 0x2f, 0xfd]) { compression = .zstd }
        looksLikeTar = head.withUnsafeBytes { hasUstarMagic(UnsafeRawBufferPointer(rebasing: $0.prefix(n))) }
    }
}

func hasUstarMagic(_ block: UnsafeRawBufferPointer) -> Bool {
    block.count >= 263 && block[257] == 0x75 && block[258] == 0x73 && block[259] == 0x74
        && block[260] == 0x61 && block[261] == 0x72
}

/// Explains why reading could not even start (libarchive's own words are terse).
/// `formatStage`: the bytes were decoded fine and the tar parser refused them.
func startFailure(_ archive: OpaquePointer, compression: Compression, looksLikeTar: Bool, formatStage: Bool, path: String) -> ArchiveError {
    let errno = archiveErrno(archive)
    let message = archiveMessage(archive)
    if isSystemErrno(errno) {
        return ArchiveError(.io, "reading \(path): \(message)", underlying: SystemError("read", path: path, errno: errno))
    }
    if formatStage || errno.rawValue == EILSEQ {
        if looksLikeTar {
            return ArchiveError(.corrupt, "corrupt archive: the first tar header is damaged (\(message))")
        }
        let what = compression == .none ? "the file" : "the decompressed \(compression) stream"
        return ArchiveError(.notAnArchive, "not an ACI: \(what) is not a tar archive (\(message))")
    }
    if compression != .none {
        return ArchiveError(.corrupt, "corrupt archive: damaged \(compression) stream (\(message))")
    }
    return ArchiveError(.notAnArchive, "not an ACI: \(message)")
}

/// The decompressors an ACI may use. Only these (not filter_all) so a static link stays small.
func addReadFilters(_ archive: OpaquePointer) {
    archive_read_support_filter_none(archive)
    archive_read_support_filter_gzip(archive)
    archive_read_support_filter_bzip2(archive)
    archive_read_support_filter_xz(archive)
    archive_read_support_filter_zstd(archive)
}

/// The compression libarchive detected; nested compression (a .tar.gz.gz) is refused because
/// rkt, like actool, strips exactly one layer.
func detectedCompression(_ archive: OpaquePointer) throws(ArchiveError) -> Compression {
    // Filter 0 is the outermost decoder; the last one is the raw client reader.
    let count = archive_filter_count(archive)
    if count > 2 {
        throw ArchiveError(.unsupported, "unsupported archive: nested compression (\(filterNames(archive)))")
    }
    guard let compression = Compression(filterCode: archive_filter_code(archive, 0)) else {
        throw ArchiveError(.unsupported, "unsupported archive compression: \(filterNames(archive))")
    }
    return compression
}

private func filterNames(_ archive: OpaquePointer) -> String {
    var names: [String] = []
    for i in 0..<max(0, archive_filter_count(archive) - 1) {
        if let name = archive_filter_name(archive, i) { names.append(String(cString: name)) }
    }
    return names.joined(separator: " inside ")
}

/// Adds the write-side filter for `compression`, with settings that keep output reproducible.
func addWriteFilter(_ archive: OpaquePointer, _ compression: Compression) throws(ArchiveError) {
    let result: Int32
    switch compression {
    case .none: result = archive_write_add_filter_none(archive)
    case .gzip:
        result = archive_write_add_filter_gzip(archive)
        // No mtime in the gzip header: the same tree must give the same bytes.
        archive_write_set_filter_option(archive, "gzip", "timestamp", nil)
    case .bzip2: result = archive_write_add_filter_bzip2(archive)
    case .xz: result = archive_write_add_filter_xz(archive)
    case .zstd: result = archive_write_add_filter_zstd(archive)
    }
    if result < ARCHIVE_WARN {
        throw ArchiveError(.unsupported, "cannot write \(compression) compression: \(archiveMessage(archive))")
    }
}

/// Compresses a byte buffer in memory (libarchive's raw format: no tar framing).
/// Small helper for fixtures and tests; image writing goes through ACIWriter.
public enum StreamCompressor {
    public static func compress(_ data: Data, as compression: Compression) throws(ArchiveError) -> Data {
        if compression == .none { return data }
        guard let archive = archive_write_new() else { throw ArchiveError(.io, "libarchive: out of memory") }
        defer { archive_write_free(archive) }
        let sink = DataSink()
        archive_write_set_format_raw(archive)
        try addWriteFilter(archive, compression)
        // Unblocked output: block padding after a compressed stream is trailing garbage to gzip(1).
        archive_write_set_bytes_per_block(archive, 0)
        let opened = archive_write_open(archive, Unmanaged.passUnretained(sink).toOpaque(), nil, dataSinkWrite, nil)
        guard opened == ARCHIVE_OK, let entry = archive_entry_new() else {
            throw ArchiveError(.io, "compress: \(archiveMessage(archive))")
        }
        defer { archive_entry_free(entry) }
        archive_entry_set_filetype(entry, UInt32(Glibc.S_IFREG))
        archive_entry_copy_pathname(entry, "data")
        archive_entry_set_size(entry, Int64(data.count))
        guard archive_write_header(archive, entry) >= ARCHIVE_WARN else {
            throw ArchiveError(.io, "compress: \(archiveMessage(archive))")
        }
        let written = data.withUnsafeBytes { raw -> Int in
            guard let base = raw.baseAddress else { return 0 }
            return archive_write_data(archive, base, raw.count)
        }
        guard written == data.count, archive_write_close(archive) == ARCHIVE_OK else {
            throw ArchiveError(.io, "compress: \(archiveMessage(archive))")
        }
        return withExtendedLifetime(sink) { sink.data }
    }
}

private final class DataSink {
    var data = Data()
}

private let dataSinkWrite: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeRawPointer?, Int) -> Int = {
    _, client, buffer, length in
    guard let client, let buffer else { return -1 }
    let sink = Unmanaged<DataSink>.fromOpaque(client).takeUnretainedValue()
    sink.data.append(buffer.assumingMemoryBound(to: UInt8.self), count: length)
    return length
}

/// write(2) of a whole buffer, retrying short writes and EINTR.
func writeFully(fd: Int32, _ bytes: UnsafeRawBufferPointer, path: String?) throws(SystemError) {
    guard let base = bytes.baseAddress else { return }
    var offset = 0
    while offset < bytes.count {
        let n = write(fd, base + offset, bytes.count - offset)
        if n < 0 {
            if Errno.last == .interrupted { continue }
            throw SystemError("write", path: path)
        }
        offset += n
    }
}
