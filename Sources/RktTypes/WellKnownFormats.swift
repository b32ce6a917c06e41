import Foundation

/// RFC 3339 timestamps as Go's `time.Parse(time.RFC3339, …)` accepts them,
/// used for the `created` annotation.
enum RFC3339 {
    static func check(_ text: String) throws(AppcError) {
        guard isValid(text) else {
            throw AppcError("bad Date: cannot parse \"\(text)\" as RFC 3339 (2006-01-02T15:04:05Z07:00)")
        }
    }

    static func isValid(_ text: String) -> Bool {
        var reader = DigitReader(Array(text.utf8))
        guard let year = reader.number(digits: 4), reader.literal("-"),
              let month = reader.number(digits: 2), reader.literal("-"),
              let day = reader.number(digits: 2), reader.literal("T"),
              // Go parses the RFC 3339 hour with a non-fixed width: "9" is accepted.
              let hour = reader.number(digits: 2, allowShorter: true), reader.literal(":"),
              let minute = reader.number(digits: 2), reader.literal(":"),
              let second = reader.number(digits: 2) else { return false }
        // Optional fractional seconds, introduced by "." or "," and at least one digit.
        if reader.peekIsSeparatorThenDigit() {
            reader.skip()
            reader.skipDigits()
        }
        if reader.literal("Z") {
            // UTC
        } else {
            // Go does not range-check the offset ("+99:99" is accepted).
            guard reader.literal("+") || reader.literal("-"),
                  reader.number(digits: 2) != nil, reader.literal(":"),
                  reader.number(digits: 2) != nil else { return false }
        }
        guard reader.atEnd, (1...12).contains(month), hour < 24, minute < 60, second < 60 else { return false }
        return (1...daysIn(month: month, year: year)).contains(day)
    }

    private static func daysIn(month: Int, year: Int) -> Int {
        switch month {
        case 2:
            let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
            return leap ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    private struct DigitReader {
        let bytes: [UInt8]
        var position = 0

        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { position == bytes.count }

        private func isDigit(at index: Int) -> Bool {
            index < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[index])
        }

        mutating func number(digits: Int, allowShorter: Bool = false) -> Int? {
            var value = 0
            var count = 0
            while count < digits, isDigit(at: position) {
                value = value * 10 + Int(bytes[position] - UInt8(ascii: "0"))
                position += 1
                count += 1
            }
            if count == digits || (allowShorter && count > 0) { return value }
            return nil
        }

        mutating func literal(_ character: Unicode.Scalar) -> Bool {
            guard position < bytes.count, bytes[position] == UInt8(ascii: character) else { return false }
            position += 1
            return true
        }

        func peekIsSeparatorThenDigit() -> Bool {
            position < bytes.count && (bytes[position] == UInt8(ascii: ".") || bytes[position] == UInt8(ascii: ","))
                && isDigit(at: position + 1)
        }

        mutating func skip() { position += 1 }

        mutating func skipDigits() {
            while isDigit(at: position) { position += 1 }
        }
    }
}

/// http/https URLs as Go's `url.Parse` plus the appc scheme check accept them,
/// used for the `homepage` and `documentation` annotations.
enum WebURL {
    static func check(_ text: String) throws(AppcError) {
        if let problem = problem(in: text) {
            throw AppcError(problem)
        }
    }

    private static func problem(in text: String) -> String? {
        let bytes = Array(text.utf8)
        if bytes.contains(where: { $0 < 0x20 || $0 == 0x7f }) {
            return "bad URL: net/url: invalid control character in URL"
        }
        var rest = bytes[...]
        if let hash = rest.firstIndex(of: UInt8(ascii: "#")) {
            guard hasValidEscapes(rest[(hash + 1)...], inHost: false) else { return "bad URL: invalid URL escape" }
            rest = rest[..<hash]
        }
        guard let scheme = scheme(of: rest) else {
            return "bad URL scheme, must be http/https"
        }
        let lowered = String(decoding: scheme, as: UTF8.self).lowercased()
        rest = rest[(rest.startIndex + scheme.count + 1)...]
        if let question = rest.firstIndex(of: UInt8(ascii: "?")) {
            rest = rest[..<question]
        }
        if rest.starts(with: Array("//".utf8)) {
            let authorityStart = rest.startIndex + 2
            let authorityEnd = rest[authorityStart...].firstIndex(of: UInt8(ascii: "/")) ?? rest.endIndex
            if let problem = authorityProblem(rest[authorityStart..<authorityEnd]) { return problem }
            rest = rest[authorityEnd...]
        }
        guard hasValidEscapes(rest, inHost: false) else { return "bad URL: invalid URL escape" }
        guard lowered == "http" || lowered == "https" else { return "bad URL scheme, must be http/https" }
        return nil
    }

    /// The scheme before the first ":", or nil when there is none (Go then
    /// treats the whole string as a path, which fails the scheme check).
    private static func scheme(of bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8>? {
        for index in bytes.indices {
            let byte = bytes[index]
            let isLetter = (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
            let isSchemeSymbol = (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
            if isLetter { continue }
            if isSchemeSymbol, index != bytes.startIndex { continue }
            if byte == UInt8(ascii: ":"), index != bytes.startIndex {
                return bytes[..<index]
            }
            return nil
        }
        return nil
    }

    private static func authorityProblem(_ authority: ArraySlice<UInt8>) -> String? {
        var host = authority
        if let at = authority.lastIndex(of: UInt8(ascii: "@")) {
            let userinfo = authority[..<at]
            let allowed = Set("-._:~!$&'()*+,;=%@".utf8)
            if !userinfo.allSatisfy({ isAlphanumeric($0) || allowed.contains($0) }) {
                return "bad URL: net/url: invalid userinfo"
            }
            host = authority[(at + 1)...]
        }
        var portPart: ArraySlice<UInt8> = []
        if host.first == UInt8(ascii: "[") {
            guard let close = host.firstIndex(of: UInt8(ascii: "]")) else {
                return "bad URL: missing ']' in host"
            }
            portPart = host[(close + 1)...]
            host = host[host.startIndex...close]
        } else if let colon = host.lastIndex(of: UInt8(ascii: ":")) {
            portPart = host[colon...]
            host = host[..<colon]
        }
        if !portPart.isEmpty {
            guard portPart.first == UInt8(ascii: ":"),
                  portPart.dropFirst().allSatisfy({ (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) }) else {
                return "bad URL: invalid port after host"
            }
        }
        guard hasValidEscapes(host, inHost: true) else { return "bad URL: invalid URL escape in host" }
        let allowedInHost = Set("!$&'()*+,;=:[]<>\"-._~%".utf8)
        if !host.allSatisfy({ $0 >= 0x80 || isAlphanumeric($0) || allowedInHost.contains($0) }) {
            return "bad URL: invalid character in host name"
        }
        return nil
    }

    private static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
            || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return byte - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Every "%" must start a two-hex-digit escape; in a host only "%25" or
    /// escapes of non-ASCII bytes are allowed.
    private static func hasValidEscapes(_ bytes: ArraySlice<UInt8>, inHost: Bool) -> Bool {
        var index = bytes.startIndex
        while index < bytes.endIndex {
            if bytes[index] == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex,
                      let high = hexValue(bytes[index + 1]), hexValue(bytes[index + 2]) != nil else { return false }
                if inHost, high < 8, !(bytes[index + 1] == UInt8(ascii: "2") && bytes[index + 2] == UInt8(ascii: "5")) {
                    return false
                }
                index += 3
            } else {
                index += 1
            }
        }
        return true
    }
}
