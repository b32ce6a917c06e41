import Foundation
import RktOS
@testable import RktStore
import Testing

@Suite struct ImageStoreTests {
    @Test func importIsIdempotentAndKeyedByTheUncompressedTar() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let store = try ImageStore(dataDir: fx.dataDir)
        let path = try fx.aci("one", manifest: ACIFixture.manifest("example.com/one"), files: ["a": "A"])
        let first = try store.importImage(path: path)
        let second = try store.importImage(path: path)
        #expect(first.key == second.key)
        #expect(first.key.count == "sha512-".count + 64)
        #expect(try store.allImages().count == 1)
        #expect(FileSystem.isRegularFile(store.layout.blobPath(first.key)))
        #expect(first.size == Int64(try FileSystem.statInfo(path).st_size))
        #expect(try store.resolve("example.com/one").key == first.key)
        #expect(try store.resolve(String(first.key.prefix(10))).key == first.key)
        #expect(try store.resolve(first.key + "0000000000").key == first.key, "a full 128-hex ID resolves to its 64-hex key")
    }

    /// Opening a set-up index takes no write lock, so commands that only read (run, image list)
    /// open it while another process is mid-write (an import). A write transaction per open made
    /// every command queue on the writer (here: wait out the 60 s busy timeout and fail).
    @Test func openingTheIndexDoesNotWaitForAWriter() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let key: String
        do {
            let store = try ImageStore(dataDir: fx.dataDir)
            key = try store.importImage(path: try fx.aci("one", manifest: ACIFixture.manifest("example.com/one"))).key
        }
        let writer = try SQLiteDatabase(path: StoreLayout(dataDir: fx.dataDir).dbPath)
        try writer.execute("BEGIN IMMEDIATE")
        defer { try? writer.execute("ROLLBACK") }
        let started = Date()
        let reader = try ImageStore(dataDir: fx.dataDir)
        #expect(try reader.resolve("example.com/one").key == key)
        #expect(Date().timeIntervalSince(started) < 5)
    }

    /// Manifests are cached per store; a removed image's manifest must not outlive it.
    @Test func removedImageManifestIsNotServedFromTheCache() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let store = try ImageStore(dataDir: fx.dataDir)
        let key = try store.importImage(path: try fx.aci("one", manifest: ACIFixture.manifest("example.com/one"))).key
        #expect(try store.manifest(key: key).name.rawValue == "example.com/one")
        #expect(try store.manifest(key: key).name.rawValue == "example.com/one")
        try store.remove(key: key)
        #expect(throws: StoreError.self) { try store.manifest(key: key) }
        #expect(throws: StoreError.self) { try store.manifestData(key: key) }
    }

    @Test func ambiguousPrefixNamesTheCandidates() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let store = try ImageStore(dataDir: fx.dataDir)
        // With 256 two-digit prefixes, a few dozen images share one almost surely; keep going until they do.
        var byPrefix: [String: [String]] = [:]
        var collision: [String]?
        for i in 0..<200 where collision == nil {
            let path = try fx.aci("img\(i)", manifest: ACIFixture.manifest("example.com/img\(i)"))
            let key = try store.importImage(path: path).key
            let prefix = String(key.prefix(9))
            byPrefix[prefix, default: []].append(key)
            if byPrefix[prefix]!.count == 2 { collision = byPrefix[prefix] }
        }
        let keys = try #require(collision)
        let prefix = String(keys[0].prefix(9))
        #expect {
            _ = try store.resolveKey(idPrefix: prefix)
        } throws: { error in
            guard let error = error as? StoreError, error.kind == .ambiguous else { return false }
            return error.message.contains(String(keys[0].prefix(20))) && error.message.contains(String(keys[1].prefix(20)))
        }
        #expect(throws: StoreError.self) { try store.resolveKey(idPrefix: "sha512-a") }
        #expect(throws: StoreError.self) { try store.resolveKey(idPrefix: "sha512-xyz") }
    }

    /// Manifests that are well-formed archives but invalid appc: rejected, and nothing is left behind.
    @Test(arguments: [
        ("not json", "{"),
        ("wrong kind", #"{"acKind":"PodManifest","acVersion":"0.8.11","name":"example.com/x"}"#),
        ("no name", #"{"acKind":"ImageManifest","acVersion":"0.8.11"}"#),
        ("upper-case name", #"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"Example.com/X"}"#),
        ("bad version", #"{"acKind":"ImageManifest","acVersion":"zero","name":"example.com/x"}"#),
        ("duplicate annotation", ACIFixture.manifest("example.com/x", extra: #""annotations":[{"name":"a","value":"1"},{"name":"a","value":"2"}]"#)),
        ("bad arch", #"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"pdp11"}]}"#),
        ("duplicate label", #"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x","labels":[{"name":"os","value":"linux"},{"name":"os","value":"linux"}]}"#),
    ])
    func invalidManifestLeavesNothing(label: String, manifest: String) throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let store = try ImageStore(dataDir: fx.dataDir)
        let path = try fx.aci("bad", manifest: manifest)
        #expect(throws: StoreError.self, "\(label)") { try store.importImage(path: path) }
        #expect(try store.allImages().isEmpty)
        for dir in [store.layout.blobs, store.layout.manifests, store.layout.tmp, store.layout.trees] {
            #expect(filesUnder(dir).isEmpty, "\(label): \(dir) has \(filesUnder(dir))")
        }
    }

    @Test func concurrentImportsFromManyStoreInstances() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let paths = try (0..<6).map { try fx.aci("c\($0)", manifest: ACIFixture.manifest("example.com/c\($0)"), files: ["f": "\($0)"]) }
        let dataDir = fx.dataDir
        _ = try ImageStore(dataDir: dataDir)
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: 24) { i in
            do {
                let store = try ImageStore(dataDir: dataDir)
                let info = try store.importImage(path: paths[i % paths.count])
                _ = try store.renderTree(key: info.key)
            } catch {
                failures.withLock { $0.append("\(error)") }
            }
        }
        #expect(failures.withLock { $0 }.isEmpty)
        let store = try ImageStore(dataDir: dataDir)
        #expect(try store.allImages().count == 6)
        #expect(try FileSystem.list(store.layout.trees).count == 6)
        #expect(filesUnder(store.layout.tmp).isEmpty)
    }

    @Test func refusesANewerIndexSchema() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        _ = try ImageStore(dataDir: fx.dataDir)
        try run("/usr/bin/env", ["python3", "-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('update version set version=99'); c.commit()", fx.dataDir + "/cas/db/index.sqlite"])
        #expect {
            _ = try ImageStore(dataDir: fx.dataDir)
        } throws: { ($0 as? StoreError)?.message.contains("newer") == true }
    }

    @Test func gcRemovesWhatAKilledImportLeftButNotLiveWork() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let store = try ImageStore(dataDir: fx.dataDir)
        let path = try fx.aci("real", manifest: ACIFixture.manifest("example.com/real"))
        let kept = try store.importImage(path: path)
        // A dead importer's temp file, a blob and manifest whose index row was never committed,
        // an unfinished tree, and a live importer's temp file (locked by us).
        let dead = store.layout.tmp + "/import-dead"
        _ = FileManager.default.createFile(atPath: dead, contents: Data("partial".utf8))
        let orphanKey = "sha512-" + String(repeating: "ab", count: 32)
        try FileSystem.makeDirectories(store.layout.blobs + "/ab")
        try FileSystem.makeDirectories(store.layout.manifests + "/ab")
        _ = FileManager.default.createFile(atPath: store.layout.blobPath(orphanKey), contents: Data("x".utf8))
        _ = FileManager.default.createFile(atPath: store.layout.manifestPath(orphanKey), contents: Data("{}".utf8))
        try FileSystem.makeDirectories(store.layout.trees + "/deps-sha512-unfinished/rootfs")
        let live = store.layout.tmp + "/import-live"
        let liveLock = try FileLock(path: live, create: true)
        try liveLock.lock(.exclusive)

        let report = try store.garbageCollect(gracePeriod: 3600, referencedTrees: [])
        #expect(report.removedImages.isEmpty)
        #expect(!FileSystem.exists(dead))
        #expect(!FileSystem.exists(store.layout.blobPath(orphanKey)))
        #expect(!FileSystem.exists(store.layout.manifestPath(orphanKey)))
        #expect(!FileSystem.exists(store.layout.trees + "/deps-sha512-unfinished"))
        #expect(FileSystem.exists(live), "a temp file whose writer holds its lock is work in progress")
        #expect(FileSystem.exists(store.layout.blobPath(kept.key)))
        _ = liveLock
    }

    @Test func remoteRecordsRoundTrip() throws {
        let fx = try ACIFixture()
        defer { fx.cleanup() }
        let store = try ImageStore(dataDir: fx.dataDir)
        let record = RemoteRecord(aciURL: "https://example.com/a.aci", signatureURL: "https://example.com/a.aci.asc", etag: "\"abc\"",
                                  blobKey: "sha512-00", cacheMaxAge: 60, downloadTime: Date(timeIntervalSince1970: 1_700_000_000))
        try store.writeRemote(record)
        #expect(try store.remote(aciURL: record.aciURL) == record)
        #expect(try store.remote(aciURL: "https://example.com/other") == nil)
    }
}

/// A tiny lock for test bookkeeping across concurrentPerform's threads.
final class Mutex<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T {
        lock.lock()
        defer { lock.unlock() }
        return body(&value)
    }
}
