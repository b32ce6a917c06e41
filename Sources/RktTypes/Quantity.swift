import Foundation

/// A Kubernetes-style resource quantity as used by the appc `resource/*`
/// isolators: `500m`, `1`, `128Mi`, `1G`, `2.5Gi`, `1e3`.
///
/// Parsing follows appc's `resource.ParseQuantity` exactly (same accepted
/// grammar, rounding up to nano units, capping binary quantities at 2^63-1).
/// Values are kept as exact decimals, so comparisons never lose precision.
/// Equality and ordering compare values only: `1Ki == 1024`.
public struct Quantity: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// How the quantity was written, which decides its canonical spelling.
    public enum Format: String, Sendable, Hashable {
        /// Powers of ten with SI suffixes: `n u m k M G T P E`.
        case decimalSI
        /// Powers of two: `Ki Mi Gi Ti Pi Ei`.
        case binarySI
        /// Scientific notation: `1e3`.
        case decimalExponent
    }

    public let format: Format
    let isNegative: Bool
    let magnitude: DecimalMagnitude

    init(isNegative: Bool, magnitude: DecimalMagnitude, format: Format) {
        self.isNegative = isNegative && !magnitude.isZero
        self.magnitude = magnitude
        self.format = format
    }

    /// An integer quantity, e.g. `Quantity(integer: 16 << 20, format: .binarySI)` is `16Mi`.
    public init(integer: Int64, format: Format = .decimalSI) {
        self.init(isNegative: integer < 0, magnitude: DecimalMagnitude(integer.magnitude), format: format)
    }

    /// A quantity of thousandths, e.g. `Quantity(milliValue: 500)` is `500m`.
    public init(milliValue: Int64) {
        self.init(isNegative: milliValue < 0,
                  magnitude: DecimalMagnitude(milliValue.magnitude).shifted(by: -3),
                  format: .decimalSI)
    }

    private static let formatMessage =
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"

    /// Parses a quantity string (no surrounding whitespace allowed).
    public init(_ text: String) throws(AppcError) {
        if text.isEmpty { throw AppcError(Self.formatMessage) }
        let pieces = try Self.split(text)
        guard let (base, exponent, format) = Self.interpret(suffix: pieces.suffix) else {
            throw AppcError("unable to parse quantity's suffix")
        }

        // Go takes an exact int64 fast path when the number is short enough and
        // needs no sub-nano rounding; otherwise it re-parses the text as a
        // decimal, which fails when there are no digits at all (".Ki", "e-10").
        let significantDigits = max(pieces.integerDigits.count, 1) + pieces.fractionDigits.count
        let usesFastPath: Bool
        switch base {
        case 10:
            usesFastPath = 18 - significantDigits >= 0 && exponent - pieces.fractionDigits.count >= -9
        default:
            let precision = 15 - max(pieces.integerDigits.count, 1) - Int(Float(exponent) * 3 / 10) - 1
            usesFastPath = pieces.fractionDigits.isEmpty && precision >= 0
        }
        if !usesFastPath && !pieces.hasDigits {
            throw AppcError("unable to parse numeric part of quantity")
        }

        var magnitude = DecimalMagnitude(digits: pieces.integerDigits + pieces.fractionDigits,
                                         exponent: -pieces.fractionDigits.count)
        if base == 10 {
            magnitude = magnitude.shifted(by: exponent)
        } else {
            magnitude = magnitude.multipliedByPowerOfTwo(exponent)
        }
        // Non-zero amounts round up (away from zero) to whole nano units, so a
        // request for "some" resource never becomes zero.
        magnitude = magnitude.roundedUp(toExponent: -9)
        var finalFormat = format
        if format == .binarySI {
            if magnitude > DecimalMagnitude.int64Max {
                magnitude = DecimalMagnitude.int64Max
            }
            if !magnitude.isZero && magnitude < DecimalMagnitude.one {
                finalFormat = .decimalSI
            }
        }
        self.init(isNegative: !pieces.isPositive, magnitude: magnitude, format: finalFormat)
    }

    private struct Pieces {
        var isPositive = true
        var integerDigits: [UInt8] = []
        var fractionDigits: [UInt8] = []
        var hasDigits = false
        var suffix = ""
    }

    /// Splits `[+-]digits[.digits]suffix` like Go's `parseQuantityString`.
    private static func split(_ text: String) throws(AppcError) -> Pieces {
        let bytes = Array(text.utf8)
        var pieces = Pieces()
        var position = 0
        let isDigit = { (byte: UInt8) in byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") || bytes[position] == UInt8(ascii: "+") {
            pieces.isPositive = bytes[position] == UInt8(ascii: "+")
            position += 1
        }
        while position < bytes.count, bytes[position] == UInt8(ascii: "0") {
            pieces.hasDigits = true
            position += 1
        }
        if position == bytes.count { return pieces }
        while position < bytes.count, isDigit(bytes[position]) {
            pieces.integerDigits.append(bytes[position] - UInt8(ascii: "0"))
            pieces.hasDigits = true
            position += 1
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: ".") {
            position += 1
            while position < bytes.count, isDigit(bytes[position]) {
                pieces.fractionDigits.append(bytes[position] - UInt8(ascii: "0"))
                pieces.hasDigits = true
                position += 1
            }
        }
        let suffixStart = position
        let suffixLetters = Set("eEinumkKMGTP".utf8)
        while position < bytes.count, suffixLetters.contains(bytes[position]) {
            position += 1
        }
        if position < bytes.count, bytes[position] == UInt8(ascii: "-") || bytes[position] == UInt8(ascii: "+") {
            position += 1
        }
        while position < bytes.count, isDigit(bytes[position]) {
            position += 1
        }
        guard position == bytes.count else { throw AppcError(formatMessage) }
        pieces.suffix = String(decoding: bytes[suffixStart...], as: UTF8.self)
        return pieces
    }

    private static let decimalSuffixes: [String: Int] = [
        "": 0, "n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18,
    ]
    private static let binarySuffixes: [String: Int] = ["Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60]

    private static func interpret(suffix: String) -> (base: Int, exponent: Int, format: Format)? {
        if let exponent = decimalSuffixes[suffix] { return (10, exponent, .decimalSI) }
        if let exponent = binarySuffixes[suffix] { return (2, exponent, .binarySI) }
        guard suffix.count > 1, suffix.first == "e" || suffix.first == "E" else { return nil }
        var digits = suffix.dropFirst()
        let negative = digits.first == "-"
        if digits.first == "-" || digits.first == "+" { digits = digits.dropFirst() }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit), let parsed = Int64(digits) else { return nil }
        // Go keeps the exponent in an int32, truncating silently.
        let exponent = Int(Int32(truncatingIfNeeded: negative ? -parsed : parsed))
        return (10, exponent, .decimalExponent)
    }

    public var isZero: Bool { magnitude.isZero }

    /// The value in whole units, rounded up (`1500m` → 2; `128Mi` → 134217728).
    /// Saturates at the Int64 range.
    public var value: Int64 { scaledValue(exponent: 0) }

    /// The value in thousandths, rounded up (`500m` → 500, `2` → 2000).
    public var milliValue: Int64 { scaledValue(exponent: -3) }

    /// The value in units of 10^exponent, rounded away from zero, saturating.
    public func scaledValue(exponent: Int) -> Int64 {
        let count = magnitude.shifted(by: -exponent).roundedUp(toExponent: 0).integerValue
        guard let count, count <= UInt64(Int64.max) else { return isNegative ? Int64.min : Int64.max }
        return isNegative ? -Int64(count) : Int64(count)
    }

    /// The canonical spelling, as appc's `Quantity.String()`: `1Gi`, `500m`, `1e9`.
    public var description: String {
        if magnitude.isZero { return "0" }
        let sign = isNegative ? "-" : ""
        if format == .binarySI, magnitude >= DecimalMagnitude(1024), magnitude.isInteger,
           let binary = magnitude.binaryCanonical() {
            return sign + binary
        }
        // Decimal forms: move the exponent down to a multiple of three.
        var digits = magnitude.digitString
        var exponent = magnitude.exponent
        while exponent % 3 != 0 {
            digits += "0"
            exponent -= 1
        }
        let siSuffixes: [Int: String] = [-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"]
        if format != .decimalExponent, let suffix = siSuffixes[exponent] {
            return sign + digits + suffix
        }
        // Decimal exponent form; also used for SI values beyond "E", which Go
        // would print without any suffix (a different value).
        return sign + digits + (exponent == 0 ? "" : "e\(exponent)")
    }

    public static func == (lhs: Quantity, rhs: Quantity) -> Bool {
        lhs.isNegative == rhs.isNegative && lhs.magnitude == rhs.magnitude
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(isNegative)
        hasher.combine(magnitude)
    }

    public static func < (lhs: Quantity, rhs: Quantity) -> Bool {
        switch (lhs.isNegative, rhs.isNegative) {
        case (true, false): return true
        case (false, true): return false
        case (false, false): return lhs.magnitude < rhs.magnitude
        case (true, true): return rhs.magnitude < lhs.magnitude
        }
    }

    /// Decodes a JSON string (surrounding whitespace trimmed, as Go does) or a
    /// bare JSON number.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text: String
        if let string = try? container.decode(String.self) {
            text = string.trimmingCharacters(in: .whitespacesAndNewlines)
        } else if let integer = try? container.decode(Int64.self) {
            text = String(integer)
        } else {
            text = String(try container.decode(Double.self))
        }
        do throws(AppcError) {
            try self.init(text)
        } catch {
            throw error.located(at: decoder.codingPath)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A non-negative exact decimal `digits × 10^exponent`, normalised so that
/// there are no leading or trailing zero digits (zero has no digits).
struct DecimalMagnitude: Sendable, Hashable, Comparable {
    private(set) var digits: [UInt8]
    private(set) var exponent: Int

    static let one = DecimalMagnitude(1)
    static let int64Max = DecimalMagnitude(UInt64(Int64.max))

    init(digits: [UInt8], exponent: Int) {
        var digits = digits[...]
        while digits.first == 0 { digits = digits.dropFirst() }
        var exponent = exponent
        while digits.last == 0 {
            digits = digits.dropLast()
            exponent += 1
        }
        self.digits = Array(digits)
        self.exponent = digits.isEmpty ? 0 : exponent
    }

    init(_ value: UInt64) {
        self.init(digits: String(value).utf8.map { $0 - UInt8(ascii: "0") }, exponent: 0)
    }

    var isZero: Bool { digits.isEmpty }
    var isInteger: Bool { exponent >= 0 }
    var digitString: String { String(decoding: digits.map { $0 + UInt8(ascii: "0") }, as: UTF8.self) }

    /// Multiplies by 10^places.
    func shifted(by places: Int) -> DecimalMagnitude {
        isZero ? self : DecimalMagnitude(digits: digits, exponent: exponent + places)
    }

    func multipliedByPowerOfTwo(_ power: Int) -> DecimalMagnitude {
        var result = digits
        var remaining = power
        while remaining > 0, !result.isEmpty {
            let step = min(remaining, 20)
            result = Self.multiply(result, by: UInt64(1) << UInt64(step))
            remaining -= step
        }
        return DecimalMagnitude(digits: result, exponent: exponent)
    }

    private static func multiply(_ digits: [UInt8], by factor: UInt64) -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(digits.count + 8)
        var carry: UInt64 = 0
        for digit in digits.reversed() {
            let product = UInt64(digit) * factor + carry
            result.append(UInt8(product % 10))
            carry = product / 10
        }
        while carry > 0 {
            result.append(UInt8(carry % 10))
            carry /= 10
        }
        return result.reversed()
    }

    /// Rounds away from zero so that no digit remains below 10^target.
    func roundedUp(toExponent target: Int) -> DecimalMagnitude {
        guard !isZero, exponent < target else { return self }
        let dropped = target - exponent
        guard dropped < digits.count else {
            // Everything is below the target unit: the smallest non-zero amount.
            return DecimalMagnitude(digits: [1], exponent: target)
        }
        // Normalisation guarantees the last digit is non-zero, so the dropped
        // part is never zero and we always add one unit.
        var kept = Array(digits.dropLast(dropped))
        var index = kept.count - 1
        while index >= 0 {
            if kept[index] == 9 {
                kept[index] = 0
                index -= 1
            } else {
                kept[index] += 1
                break
            }
        }
        if index < 0 { kept.insert(1, at: 0) }
        return DecimalMagnitude(digits: kept, exponent: target)
    }

    /// The value as an integer when it is one and fits in 64 bits.
    var integerValue: UInt64? {
        guard isInteger else { return nil }
        guard digits.count + exponent <= 20 else { return nil }
        var value: UInt64 = 0
        for digit in digits + Array(repeating: 0, count: exponent) {
            let (times10, overflow1) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = times10.addingReportingOverflow(UInt64(digit))
            if overflow1 || overflow2 { return nil }
            value = sum
        }
        return value
    }

    /// `N` plus the largest binary suffix that divides the (integer) value.
    func binaryCanonical() -> String? {
        guard var value = integerValue else { return nil }
        let suffixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"]
        var times = 0
        while value >= 1024, value % 1024 == 0, times < suffixes.count - 1 {
            value /= 1024
            times += 1
        }
        return "\(value)\(suffixes[times])"
    }

    static func < (lhs: DecimalMagnitude, rhs: DecimalMagnitude) -> Bool {
        if lhs.isZero || rhs.isZero { return lhs.isZero && !rhs.isZero }
        // Compare orders of magnitude first, then digits left to right.
        let lhsOrder = lhs.digits.count + lhs.exponent
        let rhsOrder = rhs.digits.count + rhs.exponent
        if lhsOrder != rhsOrder { return lhsOrder < rhsOrder }
        for index in 0..<max(lhs.digits.count, rhs.digits.count) {
            let left = index < lhs.digits.count ? lhs.digits[index] : 0
            let right = index < rhs.digits.count ? rhs.digits[index] : 0
            if left != right { return left < right }
        }
        return false
    }
}
