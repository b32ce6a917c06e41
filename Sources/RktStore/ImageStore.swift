#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import RktArchive
import RktOS
import RktTypes

/// The content-addressed image store under `<data dir>/cas`.
///
/// Consistency rules, so that many `rkt` processes may share it and a killed one never leaves a
/// visible half-imported image:
/// - an image exists for readers only once its row is committed to the index; blob and manifest
///   files are written (and renamed into place) before that, under the image's key lock;
/// - work in progress lives in `cas/tmp`, each file locked by its writer; `gc` removes unlocked
///   leftovers, blobs without a row, and trees without a `rendered` marker.
public final class ImageStore {
    public let layout: StoreLayout
    let db: SQLiteDatabase
    let logger: Logger
    /// Held shared for the store's lifetime, as rkt does on the cas directory.
    private let casLock: FileLock
    /// An image's manifest never changes under its key (the key hashes the image, manifest
    /// included), so each is read and decoded once: a pod start otherwise decodes each image's
    /// manifest two or three times (pod manifest, dependencies, tree rendering).
    private let manifests = ManifestCache()

    static let schemaVersion: Int64 = 1

    public init(dataDir: String, logger: Logger = Logger(label: "rkt.store")) throws(StoreError) {
        layout = StoreLayout(dataDir: dataDir)
        self.logger = logger
        do {
            try FileSystem.makeDirectories(dataDir, mode: 0o2750)
            for dir in [layout.cas, layout.blobs, layout.manifests, layout.trees, layout.imageLocks, layout.treeLocks, layout.tmp, layout.dbDir] {
                try FileSystem.makeDirectories(dir, mode: 0o2770)
            }
            casLock = try FileLock(path: layout.cas)
            try casLock.lock(.shared)
        } catch {
            throw StoreError(.io, "cannot open store in \(dataDir): \(error)", cause: error)
        }
        db = try SQLiteDatabase(path: layout.dbPath)
        try migrate()
    }

    private func migrate() throws(StoreError) {
        // The common case, an index already set up, is checked with a plain read: a write
        // transaction (BEGIN IMMEDIATE) on every open would serialise all rkt commands on the
        // write lock. Only a new or unversioned index takes the transaction below.
        if let current = try? db.query("SELECT version FROM version").first?.first?.integer, current == Self.schemaVersion {
            return
        }
        try db.transaction { () throws(StoreError) in
            try db.execute("CREATE TABLE IF NOT EXISTS version (version INTEGER NOT NULL)")
            let rows = try db.query("SELECT version FROM version")
            if let current = rows.first?.first?.integer {
                if current > Self.schemaVersion {
                    throw StoreError(.database, "store index version \(current) is newer than this rkt supports (\(Self.schemaVersion))")
                }
                return
            }
            try db.execute("""
                CREATE TABLE aciinfo (blobkey TEXT PRIMARY KEY, name TEXT NOT NULL, importtime INTEGER NOT NULL,
                    lastused INTEGER NOT NULL, latest INTEGER NOT NULL DEFAULT 0, size INTEGER NOT NULL DEFAULT 0,
                    treestoresize INTEGER NOT NULL DEFAULT 0)
                """)
            try db.execute("CREATE INDEX aciinfo_name ON aciinfo(name)")
            try db.execute("""
                CREATE TABLE remote (aciurl TEXT PRIMARY KEY, sigurl TEXT NOT NULL DEFAULT '', etag TEXT NOT NULL DEFAULT '',
                    blobkey TEXT NOT NULL, cachemaxage INTEGER NOT NULL DEFAULT 0, downloadtime INTEGER NOT NULL)
                """)
            try db.query("INSERT INTO version (version) VALUES (?)", [.integer(Self.schemaVersion)])
        }
    }

    // MARK: Import

    /// Imports an ACI file (plain or compressed) in one streaming pass and returns its index row.
    /// Importing an image that is already stored returns the existing image.
    /// `approve`, when given, sees the validated manifest before anything is published (fetch checks
    /// signatures and requested labels there); its error aborts the import with nothing stored and
    /// comes back as the `cause` of an `.invalidImage` error.
    @discardableResult
    public func importImage(path: String, latest: Bool = false, approve: ((ImageManifest) throws -> Void)? = nil) throws(StoreError) -> ImageInfo {
        let tmpPath = layout.tmp + "/import-" + randomSuffix()
        let tmpLock: FileLock
        do {
            tmpLock = try FileLock(path: tmpPath, create: true)
            try tmpLock.lock(.exclusive)
        } catch {
            throw StoreError.io(error)
        }
        defer { unlink(tmpPath) }

        let imported: ImportedACI
        do {
            imported = try ACIImporter.importACI(path: path, copyUncompressedTo: tmpLock.fd)
        } catch {
            throw StoreError.archive(error)
        }
        if let approve {
            let manifest = try Self.validatedManifest(imported.manifest)
            do { try approve(manifest) } catch { throw StoreError(.invalidImage, "\(error)", cause: error) }
        }
        return try commitImport(imported, tmpPath: tmpPath, tmpFD: tmpLock.fd, latest: latest)
    }

    /// Publishes an image whose uncompressed tar is at `tmpPath` (in cas/tmp, locked by the caller,
    /// who removes it afterwards if it is still there): renames it into place as the blob, writes
    /// the manifest and commits the index row.
    func commitImport(_ imported: ImportedACI, tmpPath: String, tmpFD: Int32, latest: Bool) throws(StoreError) -> ImageInfo {
        let manifest = try Self.validatedManifest(imported.manifest)
        let key = ImageKey.key(fromDigestHex: imported.sha512Hex)
        logger.debug("imported image", metadata: ["key": "\(key)", "name": "\(manifest.name.rawValue)", "compression": "\(imported.compression)"])

        let keyLock = try lockImage(key)
        defer { _ = keyLock }
        do {
            let blob = layout.blobPath(key)
            if !FileSystem.isRegularFile(blob) {
                try sysCall("fsync", path: tmpPath) { fsync(tmpFD) }
                let shardDir = (blob as NSString).deletingLastPathComponent
                try FileSystem.makeDirectories(shardDir, mode: 0o2770)
                try sysCall("chmod", path: tmpPath) { fchmod(tmpFD, 0o660) }
                try FileSystem.rename(tmpPath, to: blob)
                FileSystem.syncDirectory(shardDir)
            }
            let manifestFile = layout.manifestPath(key)
            try FileSystem.makeDirectories((manifestFile as NSString).deletingLastPathComponent, mode: 0o2770)
            try FileSystem.writeAtomically(imported.manifest, to: manifestFile, mode: 0o660)
        } catch {
            throw StoreError.io(error)
        }
        let now = Self.nanos(Date())
        try db.transaction { () throws(StoreError) in
            let existing = try db.query("SELECT latest FROM aciinfo WHERE blobkey = ?", [.text(key)])
            if existing.isEmpty {
                try db.query(
                    "INSERT INTO aciinfo (blobkey, name, importtime, lastused, latest, size, treestoresize) VALUES (?, ?, ?, ?, ?, ?, 0)",
                    [.text(key), .text(manifest.name.rawValue), .integer(now), .integer(now), .integer(latest ? 1 : 0), .integer(imported.uncompressedSize)])
            } else {
                try db.query("UPDATE aciinfo SET importtime = ?, lastused = ?, latest = (latest OR ?) WHERE blobkey = ?",
                             [.integer(now), .integer(now), .integer(latest ? 1 : 0), .text(key)])
            }
        }
        guard let info = try image(key: key) else { throw StoreError(.database, "image \(key) vanished after import") }
        return info
    }

    // MARK: Lookup

    public func image(key: String) throws(StoreError) -> ImageInfo? {
        try db.query("SELECT \(Self.columns) FROM aciinfo WHERE blobkey = ?", [.text(key)]).first.map(Self.info)
    }

    public func allImages() throws(StoreError) -> [ImageInfo] {
        try db.query("SELECT \(Self.columns) FROM aciinfo ORDER BY importtime").map(Self.info)
    }

    /// Resolves an ID prefix (`sha512-` + at least 2 hex) to exactly one stored key.
    public func resolveKey(idPrefix: String) throws(StoreError) -> String {
        guard let prefix = ImageKey.normalizedPrefix(idPrefix) else {
            throw StoreError(.invalidReference, "invalid image ID \(idPrefix): want sha512- followed by at least 2 hex digits")
        }
        let rows = try db.query("SELECT blobkey FROM aciinfo WHERE substr(blobkey, 1, ?) = ? ORDER BY blobkey",
                                [.integer(Int64(prefix.count)), .text(prefix)])
        let keys = rows.compactMap { $0.first?.text }
        switch keys.count {
        case 0: throw StoreError(.notFound, "no image with ID \(idPrefix) in the store")
        case 1: return keys[0]
        default:
            let shown = keys.prefix(5).map { ImageKey.short($0, hexDigits: 32) }.joined(separator: ", ")
            throw StoreError(.ambiguous, "ambiguous image ID \(idPrefix): matches \(keys.count) images (\(shown)\(keys.count > 5 ? ", ..." : ""))")
        }
    }

    /// Images with this name whose manifest carries every requested label, newest import first.
    public func findImages(_ reference: ImageReference) throws(StoreError) -> [ImageInfo] {
        let rows = try db.query("SELECT \(Self.columns) FROM aciinfo WHERE name = ? ORDER BY importtime DESC, blobkey",
                                [.text(reference.name)]).map(Self.info)
        if reference.labels.isEmpty { return rows }
        var matches: [ImageInfo] = []
        for row in rows {
            let facts = StoreManifestFacts(try manifest(key: row.key))
            if reference.labels.allSatisfy({ facts.labels[$0.key] == $0.value }) { matches.append(row) }
        }
        return matches
    }

    /// Resolves what a user typed (an ID prefix or a name with labels) to one image.
    /// For a name, the most recently imported match wins, as rkt's store lookup does.
    public func resolve(_ text: String) throws(StoreError) -> ImageInfo {
        if ImageKey.looksLikeID(text) {
            let key = try resolveKey(idPrefix: text)
            guard let info = try image(key: key) else { throw StoreError(.notFound, "no image with ID \(text) in the store") }
            return info
        }
        let reference = try ImageReference.parse(text)
        guard let first = try findImages(reference).first else {
            throw StoreError(.notFound, "no image named \(reference) in the store")
        }
        return first
    }

    public func manifestData(key: String) throws(StoreError) -> Data {
        if let cached = manifests.data(key) { return cached }
        let data: Data
        do { data = try FileSystem.read(layout.manifestPath(key)) } catch {
            throw StoreError(.notFound, "manifest of image \(key) is missing from the store: \(error)", cause: error)
        }
        manifests.store(data: data, for: key)
        return data
    }

    public func manifest(key: String) throws(StoreError) -> ImageManifest {
        if let cached = manifests.decoded(key) { return cached }
        let manifest = try Self.validatedManifest(try manifestData(key: key))
        manifests.store(decoded: manifest, for: key)
        return manifest
    }

    public func blobPath(key: String) -> String { layout.blobPath(key) }

    public func markUsed(key: String) throws(StoreError) {
        try db.query("UPDATE aciinfo SET lastused = ? WHERE blobkey = ?", [.integer(Self.nanos(Date())), .text(key)])
    }

    // MARK: Remote records

    public func remote(aciURL: String) throws(StoreError) -> RemoteRecord? {
        try db.query("SELECT aciurl, sigurl, etag, blobkey, cachemaxage, downloadtime FROM remote WHERE aciurl = ?", [.text(aciURL)]).first.map { r in
            RemoteRecord(aciURL: r[0].text ?? "", signatureURL: r[1].text ?? "", etag: r[2].text ?? "", blobKey: r[3].text ?? "",
                         cacheMaxAge: r[4].integer ?? 0, downloadTime: Self.date(r[5].integer ?? 0))
        }
    }

    public func writeRemote(_ record: RemoteRecord) throws(StoreError) {
        try db.query("INSERT OR REPLACE INTO remote (aciurl, sigurl, etag, blobkey, cachemaxage, downloadtime) VALUES (?, ?, ?, ?, ?, ?)",
                     [.text(record.aciURL), .text(record.signatureURL), .text(record.etag), .text(record.blobKey),
                      .integer(record.cacheMaxAge), .integer(Self.nanos(record.downloadTime))])
    }

    // MARK: Removal

    /// Removes an image from the index, then its files. Rendered trees go at the next `image gc`,
    /// because a pod may still be using them. An image that another stored image lists as a
    /// dependency (e.g. a registry layer) is refused unless `checkDependents` is false.
    public func remove(key: String, checkDependents: Bool = true) throws(StoreError) {
        if checkDependents, let users = try dependents()[key], !users.isEmpty {
            var names: [String] = []
            for user in users.sorted() { names.append(try image(key: user)?.name ?? user) }
            throw StoreError(.dependency, "image \(ImageKey.short(key)) is a dependency of \(names.joined(separator: ", ")): remove \(users.count == 1 ? "it" : "them") first")
        }
        let keyLock = try lockImage(key)
        defer { _ = keyLock }
        let removed = try db.transaction { () throws(StoreError) -> Bool in
            let exists = !(try db.query("SELECT 1 FROM aciinfo WHERE blobkey = ?", [.text(key)]).isEmpty)
            try db.query("DELETE FROM aciinfo WHERE blobkey = ?", [.text(key)])
            try db.query("DELETE FROM remote WHERE blobkey = ?", [.text(key)])
            return exists
        }
        guard removed else { throw StoreError(.notFound, "no image with ID \(key) in the store") }
        manifests.forget(key)
        unlink(layout.blobPath(key))
        unlink(layout.manifestPath(key))
    }

    // MARK: Export

    /// Copies the stored ACI (uncompressed tar: its hash is the image ID) to `destination`.
    public func export(key: String, to destination: String, overwrite: Bool) throws(StoreError) {
        if !overwrite && FileSystem.exists(destination) {
            throw StoreError(.exists, "\(destination) already exists (use --overwrite)")
        }
        do {
            try copyFile(from: layout.blobPath(key), to: destination)
        } catch {
            throw StoreError.io(error)
        }
        try markUsed(key: key)
    }

    // MARK: Helpers

    func lockImage(_ key: String) throws(StoreError) -> FileLock {
        do { return try FileLock.acquire(path: layout.imageLocks + "/" + key, .exclusive) } catch { throw StoreError.io(error) }
    }

    static let columns = "blobkey, name, importtime, lastused, latest, size, treestoresize"

    static func info(_ row: [SQLiteDatabase.Value]) -> ImageInfo {
        ImageInfo(key: row[0].text ?? "", name: row[1].text ?? "", importTime: date(row[2].integer ?? 0),
                  lastUsed: date(row[3].integer ?? 0), latest: (row[4].integer ?? 0) != 0,
                  size: row[5].integer ?? 0, treeStoreSize: row[6].integer ?? 0)
    }

    static func nanos(_ date: Date) -> Int64 { Int64(date.timeIntervalSince1970 * 1_000_000_000) }
    static func date(_ nanos: Int64) -> Date { Date(timeIntervalSince1970: Double(nanos) / 1_000_000_000) }
}

/// Manifests by image key, raw and decoded; locked because layer trees render in parallel.
final class ManifestCache: @unchecked Sendable {
    private let lock = NSLock()
    private var raw: [String: Data] = [:]
    private var decodedManifests: [String: ImageManifest] = [:]

    func data(_ key: String) -> Data? { lock.withLock { raw[key] } }
    func decoded(_ key: String) -> ImageManifest? { lock.withLock { decodedManifests[key] } }
    func store(data: Data, for key: String) { lock.withLock { raw[key] = data } }
    func store(decoded: ImageManifest, for key: String) { lock.withLock { decodedManifests[key] = decoded } }
    func forget(_ key: String) {
        lock.withLock {
            raw[key] = nil
            decodedManifests[key] = nil
        }
    }
}

func randomSuffix() -> String {
    String(UInt64.random(in: 0...UInt64.max), radix: 16)
}

/// Copies a regular file through a temporary sibling and an atomic rename.
func copyFile(from source: String, to destination: String, mode: mode_t = 0o644) throws(SystemError) {
    let input = try sysCall("open", path: source) { open(source, O_RDONLY | O_CLOEXEC) }
    defer { close(input) }
    let dir = (destination as NSString).deletingLastPathComponent
    let tmp = (dir.isEmpty ? "." : dir) + "/.tmp-" + (destination as NSString).lastPathComponent + "-" + randomSuffix()
    let output = try sysCall("open", path: tmp) { open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode) }
    do throws(SystemError) {
        var st = stat()
        try sysCall("fstat", path: source) { fstat(input, &st) }
        var remaining = Int(st.st_size)
        while remaining > 0 {
            let n = try FileSystem.copyFileRange(from: input, to: output, count: remaining, path: destination)
            if n == 0 { break }
            remaining -= n
        }
        try sysCall("fsync", path: tmp) { fsync(output) }
        close(output)
        try FileSystem.rename(tmp, to: destination)
    } catch {
        close(output)
        unlink(tmp)
        throw error
    }
}
