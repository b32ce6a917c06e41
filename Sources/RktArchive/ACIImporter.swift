#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import CArchive
import Foundation
import RktOS

/// What importing an ACI found out about it.
public struct ImportedACI: Sendable, Equatable {
    /// Hex SHA-512 of the uncompressed tar; the image ID is "sha512-" + this.
    public var sha512Hex: String
    public var uncompressedSize: Int64
    /// The raw bytes of the `manifest` entry; parsing and validating the JSON is the caller's job.
    public var manifest: Data
    public var compression: Compression

    public init(sha512Hex: String, uncompressedSize: Int64, manifest: Data, compression: Compression) {
        self.sha512Hex = sha512Hex
        self.uncompressedSize = uncompressedSize
        self.manifest = manifest
        self.compression = compression
    }

    public var imageID: String { "sha512-" + sha512Hex }
}

/// Reads an ACI once, start to end: decompresses it, hashes and optionally copies the
/// uncompressed tar, and validates its layout and every entry name on the way.
public enum ACIImporter {
    /// - Parameter outputFD: when given, receives exactly the uncompressed tar bytes that were hashed
    ///   (the store keeps images uncompressed); it is written to, never closed or synced.
    public static func importACI(path: String, copyUncompressedTo outputFD: Int32?) throws(ArchiveError) -> ImportedACI {
        let fd = try openArchiveFile(path)
        defer { close(fd) }
        return try withUTF8Locale { () throws(ArchiveError) -> ImportedACI in
            try importStream(fd: fd, path: path, outputFD: outputFD)
        }
    }

    private static func importStream(fd: Int32, path: String, outputFD: Int32?) throws(ArchiveError) -> ImportedACI {
        // Reader A: undoes the compression only; its "raw" format hands out the decoded bytes.
        guard let source = archive_read_new() else { throw ArchiveError(.io, "libarchive: out of memory") }
        defer { archive_read_free(source) }
        addReadFilters(source)
        archive_read_support_format_raw(source)
        let sniffed = Sniffed(fd: fd)
        var rawEntry: OpaquePointer?
        if archive_read_open_fd(source, fd, archiveBlockSize) != ARCHIVE_OK
            || archive_read_next_header(source, &rawEntry) < ARCHIVE_WARN {
            throw startFailure(source, compression: sniffed.compression, looksLikeTar: false, formatStage: false, path: path)
        }
        let compression = try detectedCompression(source)

        let pipeline = Pipeline(source: source, outputFD: outputFD)
        // Reader B: the tar parser, fed through pipeline.nextBlock so every byte it sees was hashed.
        guard let tar = archive_read_new() else { throw ArchiveError(.io, "libarchive: out of memory") }
        defer { archive_read_free(tar) }
        archive_read_support_format_tar(tar)
        let opened = archive_read_open(tar, Unmanaged.passUnretained(pipeline).toOpaque(), nil, pipelineRead, nil)
        if opened != ARCHIVE_OK {
            throw pipeline.failure ?? startFailure(
                tar, compression: compression, looksLikeTar: pipeline.firstBlockLooksLikeTar, formatStage: true, path: path)
        }

        var validator = LayoutValidator()
        var manifest = Data()
        var entryCount = 0
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            var entry: OpaquePointer?
            let result = archive_read_next_header(tar, &entry)
            if result == ARCHIVE_EOF { break }
            if (result != ARCHIVE_OK && result != ARCHIVE_WARN) || entry == nil {  // ARCHIVE_RETRY (-10) is a damaged header too
                if let failure = pipeline.failure { throw failure }
                if entryCount == 0 {
                    throw startFailure(
                        tar, compression: compression, looksLikeTar: pipeline.firstBlockLooksLikeTar, formatStage: true, path: path)
                }
                throw ArchiveError(.corrupt, "corrupt archive: \(archiveMessage(tar)) after \(entryCount) entries")
            }
            guard let entry else { continue }
            entryCount += 1
            let checked = try validator.check(
                name: archive_entry_pathname(entry), mode: archive_entry_mode(entry),
                symlink: archive_entry_symlink(entry), hardlink: archive_entry_hardlink(entry))
            if checked.role == .manifest {
                manifest = try readManifest(tar, entry: entry, name: checked.originalName, pipeline: pipeline, buffer: &buffer)
            } else if archive_read_data_skip(tar) < ARCHIVE_WARN {
                throw pipeline.failure ?? ArchiveError(.corrupt, "corrupt archive: \(archiveMessage(tar)) in \(quoted(checked.originalName))", entry: checked.originalName)
            }
        }
        try validator.finish()
        // The tar parser stops at the end-of-archive blocks; the record padding after them
        // is still part of the image's bytes and so of its ID.
        try pipeline.drain()
        return ImportedACI(
            sha512Hex: pipeline.hasher.finalizeHex(), uncompressedSize: pipeline.total,
            manifest: manifest, compression: compression)
    }

    private static func readManifest(
        _ tar: OpaquePointer, entry: OpaquePointer, name: String, pipeline: Pipeline, buffer: inout [UInt8]
    ) throws(ArchiveError) -> Data {
        let limit = LayoutValidator.manifestLimit
        if archive_entry_size_is_set(entry) != 0 && archive_entry_size(entry) > Int64(limit) {
            throw ArchiveError(.manifestTooLarge, "image manifest is too large: \(archive_entry_size(entry)) bytes (limit \(limit))", entry: name)
        }
        var data = Data()
        while true {
            let n = buffer.withUnsafeMutableBytes { archive_read_data(tar, $0.baseAddress, $0.count) }
            if n == 0 { break }
            if n < 0 {
                throw pipeline.failure ?? ArchiveError(.corrupt, "corrupt archive: \(archiveMessage(tar)) in \(quoted(name))", entry: name)
            }
            data.append(contentsOf: buffer[0..<n])
            if data.count > limit {
                throw ArchiveError(.manifestTooLarge, "image manifest is too large (limit \(limit) bytes)", entry: name)
            }
        }
        return data
    }
}

/// Carries bytes from the decompressing reader to the tar parser, hashing and copying them on
/// the way. Blocks are passed through without copying: libarchive promises the tar parser's
/// buffer stays valid until its next read callback, which is exactly when we advance reader A.
private final class Pipeline {
    let source: OpaquePointer
    let outputFD: Int32?
    var hasher = StreamingDigest()
    var total: Int64 = 0
    /// How far the copy has been handed to the kernel for writeback.
    var writebackStarted: Int64 = 0
    var failure: ArchiveError?
    var finished = false
    /// Whether the first 512 bytes carry the ustar magic, to tell "damaged tar" from "not tar".
    var firstBlockLooksLikeTar = false

    init(source: OpaquePointer, outputFD: Int32?) {
        self.source = source
        self.outputFD = outputFD
    }

    /// The next decoded block (empty at end of stream), already hashed and copied.
    func nextBlock() throws(ArchiveError) -> UnsafeRawBufferPointer {
        if finished { return UnsafeRawBufferPointer(start: nil, count: 0) }
        while true {
            var buffer: UnsafeRawPointer?
            var size = 0
            var offset: la_int64_t = 0
            let result = archive_read_data_block(source, &buffer, &size, &offset)
            if result == ARCHIVE_EOF {
                finished = true
                return UnsafeRawBufferPointer(start: nil, count: 0)
            }
            if result < ARCHIVE_WARN {
                let errno = archiveErrno(source)
                let message = archiveMessage(source)
                if isSystemErrno(errno) {
                    throw ArchiveError(.io, "reading archive: \(message)", underlying: SystemError("read", errno: errno))
                }
                throw ArchiveError(.corrupt, "corrupt archive: \(message)")
            }
            guard let buffer, size > 0 else { continue }
            let block = UnsafeRawBufferPointer(start: buffer, count: size)
            if total == 0 { firstBlockLooksLikeTar = hasUstarMagic(block) }
            hasher.update(block)
            total += Int64(size)
            if let outputFD {
                do {
                    try writeFully(fd: outputFD, block, path: nil)
                    // The store fsyncs the blob before publishing it; flushing as we go keeps
                    // that fsync from stalling on hundreds of megabytes at the end.
                    if total - writebackStarted >= 8 << 20 {
                        FileSystem.startWriteback(fd: outputFD, offset: writebackStarted, length: total - writebackStarted)
                        writebackStarted = total
                    }
                } catch {
                    throw ArchiveError(.io, "copying the uncompressed image: \(error)", underlying: error)
                }
            }
            return block
        }
    }

    func drain() throws(ArchiveError) {
        while try nextBlock().count > 0 {}
    }
}

private let pipelineRead: @convention(c) (OpaquePointer?, UnsafeMutableRawPointer?, UnsafeMutablePointer<UnsafeRawPointer?>?) -> Int = {
    _, client, bufferOut in
    guard let client, let bufferOut else { return -1 }
    let pipeline = Unmanaged<Pipeline>.fromOpaque(client).takeUnretainedValue()
    if pipeline.failure != nil { return -1 }
    do throws(ArchiveError) {
        let block = try pipeline.nextBlock()
        bufferOut.pointee = block.baseAddress
        return block.count
    } catch {
        pipeline.failure = error
        return -1
    }
}
