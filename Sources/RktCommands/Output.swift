import ArgumentParser
import Foundation

/// `--format` for listings, as rkt: a table, or JSON in one line or indented.
public enum OutputFormat: String, ExpressibleByArgument, CaseIterable, Sendable {
    case table = ""
    case json
    case jsonPretty = "json-pretty"

    public init?(argument: String) {
        switch argument {
        case "", "table": self = .table
        case "json": self = .json
        case "json-pretty": self = .jsonPretty
        default: return nil
        }
    }

    public static var allValueStrings: [String] { ["json", "json-pretty"] }
}

/// The one place listings are rendered: every format is handled here, so a new format is a
/// compile error until every listing supports it.
enum Output {
    static func render(header: [String], rows: [[String]], json: some Encodable, format: OutputFormat, legend: Bool) throws -> String {
        switch format {
        case .table:
            return table(legend ? [header] + rows : rows)
        case .json, .jsonPretty:
            let encoder = JSONEncoder()
            encoder.outputFormatting = format == .jsonPretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
            encoder.dateEncodingStrategy = .iso8601
            return String(decoding: try encoder.encode(json), as: UTF8.self) + "\n"
        }
    }

    /// Columns padded to their widest cell and separated by a tab-like gap, as Go's tabwriter does.
    static func table(_ rows: [[String]]) -> String {
        guard let columns = rows.map(\.count).max(), columns > 0 else { return "" }
        var widths = [Int](repeating: 0, count: columns)
        for row in rows { for (i, cell) in row.enumerated() { widths[i] = max(widths[i], cell.count) } }
        var out = ""
        for row in rows {
            var line = ""
            for (i, cell) in row.enumerated() {
                line += cell
                if i < row.count - 1 { line += String(repeating: " ", count: widths[i] - cell.count + 2) }
            }
            out += line + "\n"
        }
        return out
    }

    static func print(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    /// IEC sizes as rkt prints them: `512B`, `12KiB`, `5.1MiB`.
    static func humanSize(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 { value /= 1024; unit += 1 }
        if unit == 0 { return "\(bytes)B" }
        return value < 10 ? String(format: "%.1f%@", value, units[unit]) : String(format: "%.0f%@", value, units[unit])
    }

    /// "6 days ago" style, as rkt's listings show times without --full.
    static func relativeTime(_ date: Date, now: Date = Date()) -> String {
        let seconds = Int(now.timeIntervalSince(date))
        if seconds < 1 { return "Just now" }
        let steps: [(Int, String)] = [(31_536_000, "year"), (2_592_000, "month"), (604_800, "week"), (86_400, "day"), (3600, "hour"), (60, "minute"), (1, "second")]
        for (size, name) in steps where seconds >= size {
            let n = seconds / size
            return "\(n) \(name)\(n == 1 ? "" : "s") ago"
        }
        return "Just now"
    }

    /// Absolute times for --full: `2015-09-17 13:27:04.24 +0200 CEST` in rkt; ours is ISO-like with zone.
    static func absoluteTime(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.dateFormat = "yyyy-MM-dd HH:mm:ss.SSS Z zzz"
        return formatter.string(from: date)
    }
}
