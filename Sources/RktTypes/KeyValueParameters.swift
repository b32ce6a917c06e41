import Foundation

/// The `NAME,key=value,key=value` syntax rkt uses on its command line for
/// volumes, mount points and ports (appc `common.MakeQueryString` followed by
/// `url.ParseQuery`): the leading word becomes `name=NAME`, keys must be unique.
struct KeyValueParameters {
    private(set) var pairs: [(key: String, value: String)] = []

    init(parsing text: String) throws(AppcError) {
        let prefixed = "name=" + text
        var seenKeys = Set<String>()
        for part in prefixed.split(separator: ",", omittingEmptySubsequences: false) {
            guard let equals = part.firstIndex(of: "=") else {
                throw AppcError("malformed string \"\(prefixed)\" - has a label without a value: \(part)")
            }
            let key = String(part[..<equals])
            let value = String(part[part.index(after: equals)...])
            if seenKeys.contains(key) {
                throw AppcError("label \(key) with multiple values")
            }
            seenKeys.insert(key)
            pairs.append((key, value))
        }
    }

    /// Go `strconv.ParseBool` spellings.
    static func parseBool(_ text: String) throws(AppcError) -> Bool {
        switch text {
        case "1", "t", "T", "TRUE", "true", "True": return true
        case "0", "f", "F", "FALSE", "false", "False": return false
        default: throw AppcError("strconv.ParseBool: parsing \"\(text)\": invalid syntax")
        }
    }

    /// Go `strconv.Atoi`: optional sign, decimal digits.
    static func parseInt(_ text: String) throws(AppcError) -> Int {
        let digits = text.hasPrefix("+") || text.hasPrefix("-") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy(\.isASCIIDigit) else {
            throw AppcError("strconv.Atoi: parsing \"\(text)\": invalid syntax")
        }
        guard let value = Int(text.hasPrefix("+") ? String(digits) : text) else {
            throw AppcError("strconv.Atoi: parsing \"\(text)\": value out of range")
        }
        return value
    }

    /// Go `strconv.ParseUint(text, 10, 16)`.
    static func parseUInt16(_ text: String) throws(AppcError) -> UInt {
        guard !text.isEmpty, text.allSatisfy(\.isASCIIDigit) else {
            throw AppcError("strconv.ParseUint: parsing \"\(text)\": invalid syntax")
        }
        guard let value = UInt16(text) else {
            throw AppcError("strconv.ParseUint: parsing \"\(text)\": value out of range")
        }
        return UInt(value)
    }
}
