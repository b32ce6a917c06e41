import ArgumentParser
import Foundation

/// A Go-style duration as rkt's flags take it: `30m`, `24h`, `1h30m`, `90s`, `500ms`, `0`.
public struct GoDuration: ExpressibleByArgument, Sendable, Equatable, CustomStringConvertible {
    public let seconds: TimeInterval

    public init(seconds: TimeInterval) { self.seconds = seconds }

    public init?(argument: String) {
        guard let value = Self.parse(argument) else { return nil }
        seconds = value
    }

    static func parse(_ text: String) -> TimeInterval? {
        if text == "0" { return 0 }
        let units: [String: Double] = ["ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "m": 60, "h": 3600]
        var total: Double = 0
        var number = ""
        var unit = ""
        var sawAny = false
        func flush() -> Bool {
            guard let value = Double(number), let scale = units[unit] else { return false }
            total += value * scale
            number = ""
            unit = ""
            sawAny = true
            return true
        }
        for character in text {
            if character.isNumber || character == "." {
                if !unit.isEmpty { guard flush() else { return nil } }
                number.append(character)
            } else {
                guard !number.isEmpty else { return nil }
                unit.append(character)
            }
        }
        guard flush(), sawAny else { return nil }
        return total
    }

    public var description: String {
        var s = Int(seconds)
        if s == 0 { return "0s" }
        var out = ""
        if s >= 3600 { out += "\(s / 3600)h"; s %= 3600 }
        if s >= 60 { out += "\(s / 60)m"; s %= 60 }
        if s > 0 || out.isEmpty { out += "\(s)s" }
        return out
    }
}
