import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A download progress line on stderr, redrawn at most 10 times a second:
/// `Downloading app.aci: [=====>      ] 12.3 MiB/40.0 MiB  8.1 MiB/s  ETA 3s`.
/// Silent unless stderr is a terminal, so logs and pipes stay clean.
public final class ProgressBar {
    private let label: String
    private let total: Int64?
    private var done: Int64
    private let start = Date()
    private var lastDraw = Date.distantPast
    private let enabled: Bool
    private let initial: Int64

    public static var stderrIsTerminal: Bool { isatty(2) == 1 }

    public init(label: String, total: Int64?, alreadyDone: Int64 = 0, enabled: Bool = ProgressBar.stderrIsTerminal) {
        self.label = label
        self.total = total
        self.done = alreadyDone
        self.initial = alreadyDone
        self.enabled = enabled
    }

    public func advance(by count: Int) {
        done += Int64(count)
        guard enabled else { return }
        let now = Date()
        if now.timeIntervalSince(lastDraw) >= 0.1 {
            lastDraw = now
            draw(now: now, final: false)
        }
    }

    public func finish() {
        guard enabled else { return }
        draw(now: Date(), final: true)
    }

    /// The text of the line (without carriage return), for tests and drawing.
    public func line(elapsed: TimeInterval, width: Int = 24) -> String {
        let rate = elapsed > 0 ? Double(done - initial) / elapsed : 0
        var text = "Downloading \(label): "
        if let total, total > 0 {
            let fraction = min(1, Double(done) / Double(total))
            let filled = Int(fraction * Double(width))
            text += "[" + String(repeating: "=", count: filled) + (filled < width ? ">" : "")
                + String(repeating: " ", count: max(0, width - filled - 1)) + "] "
            text += "\(ProgressBar.size(done))/\(ProgressBar.size(total))"
        } else {
            text += ProgressBar.size(done)
        }
        text += "  \(ProgressBar.size(Int64(rate)))/s"
        if let total, rate > 0, done < total {
            text += "  ETA \(ProgressBar.duration(Double(total - done) / rate))"
        }
        return text
    }

    private func draw(now: Date, final: Bool) {
        let text = "\r" + line(elapsed: now.timeIntervalSince(start)) + "\u{1B}[K" + (final ? "\n" : "")
        var bytes = Array(text.utf8)
        _ = bytes.withUnsafeMutableBytes { write(2, $0.baseAddress, $0.count) }
    }

    static func size(_ bytes: Int64) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var value = Double(bytes)
        var unit = 0
        while value >= 1024 && unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        return unit == 0 ? "\(bytes) B" : String(format: "%.1f", value) + " " + units[unit]
    }

    static func duration(_ seconds: Double) -> String {
        let s = Int(seconds.rounded(.up))
        if s < 60 { return "\(s)s" }
        if s < 3600 { return "\(s / 60)m\(String(format: "%02d", s % 60))s" }
        return "\(s / 3600)h\(String(format: "%02d", (s % 3600) / 60))m"
    }
}
