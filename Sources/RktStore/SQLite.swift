import CSQLite
import Foundation

/// A minimal SQLite connection: prepared statements, typed binds, transactions.
/// The index is small and touched once per command, so a thin wrapper beats a large dependency.
final class SQLiteDatabase {
    private var handle: OpaquePointer?
    let path: String

    init(path: String) throws(StoreError) {
        self.path = path
        var db: OpaquePointer?
        let rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            sqlite3_close(db)
            throw StoreError(.database, "cannot open index database \(path): \(message)")
        }
        handle = db
        // Many rkt processes share the index: wait for the writer instead of failing.
        sqlite3_busy_timeout(db, 60_000)
        // Switching a new database to WAL needs an exclusive lock and returns SQLITE_BUSY at once,
        // without the busy handler, while another process creates the index.
        try execute("PRAGMA journal_mode=WAL", retryingBusyFor: 60)
        try execute("PRAGMA synchronous=NORMAL")
        try execute("PRAGMA foreign_keys=ON")
    }

    deinit { sqlite3_close_v2(handle) }

    enum Value: Sendable {
        case text(String), integer(Int64), null
    }

    private func fail(_ context: String) -> StoreError {
        StoreError(.database, "\(context): \(String(cString: sqlite3_errmsg(handle)))")
    }

    /// Runs `sql`; a SQLITE_BUSY or SQLITE_LOCKED answer is retried for up to `retryingBusyFor`
    /// seconds (for what the busy handler does not cover).
    func execute(_ sql: String, retryingBusyFor seconds: Double = 0) throws(StoreError) {
        let deadline = Date().addingTimeInterval(seconds)
        while true {
            var message: UnsafeMutablePointer<CChar>?
            let rc = sqlite3_exec(handle, sql, nil, nil, &message)
            if rc == SQLITE_OK { return }
            let text = message.map { String(cString: $0) } ?? "unknown error"
            sqlite3_free(message)
            guard (rc & 0xff == SQLITE_BUSY || rc & 0xff == SQLITE_LOCKED) && Date() < deadline else {
                throw StoreError(.database, "index database: \(text) (in \(sql.prefix(60)))")
            }
            usleep(UInt32.random(in: 2_000...20_000))
        }
    }

    /// Runs one statement; returns the rows as arrays of column values.
    @discardableResult
    func query(_ sql: String, _ params: [Value] = []) throws(StoreError) -> [[Value]] {
        var stmt: OpaquePointer?
        guard sqlite3_prepare_v2(handle, sql, -1, &stmt, nil) == SQLITE_OK else { throw fail("prepare") }
        defer { sqlite3_finalize(stmt) }
        for (i, p) in params.enumerated() {
            let index = Int32(i + 1)
            switch p {
            case .text(let s): sqlite3_bind_text(stmt, index, s, -1, sqliteTransient)
            case .integer(let v): sqlite3_bind_int64(stmt, index, v)
            case .null: sqlite3_bind_null(stmt, index)
            }
        }
        var rows: [[Value]] = []
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw fail("step") }
            var row: [Value] = []
            for c in 0..<sqlite3_column_count(stmt) {
                switch sqlite3_column_type(stmt, c) {
                case SQLITE_INTEGER: row.append(.integer(sqlite3_column_int64(stmt, c)))
                case SQLITE_NULL: row.append(.null)
                default: row.append(.text(sqlite3_column_text(stmt, c).map { String(cString: $0) } ?? ""))
                }
            }
            rows.append(row)
        }
        return rows
    }

    /// BEGIN IMMEDIATE takes the write lock up front, so two importers never deadlock on upgrade.
    func transaction<T>(_ body: () throws(StoreError) -> T) throws(StoreError) -> T {
        try execute("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try execute("COMMIT")
            return result
        } catch {
            try? execute("ROLLBACK")
            throw error
        }
    }
}

private let sqliteTransient = unsafeBitCast(-1, to: sqlite3_destructor_type.self)

extension SQLiteDatabase.Value {
    var text: String? { if case .text(let s) = self { return s }; return nil }
    var integer: Int64? { if case .integer(let v) = self { return v }; return nil }
}
