import Foundation
import Stage1Protocol

/// JSON helpers over Stage1Protocol's `JSONValue`: CNI configurations and results are free-form
/// objects that must pass through this runtime unchanged apart from the members CNI injects.
enum CNIJSON {
    static func encode(_ value: JSONValue) -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // JSONValue holds no non-finite numbers when it came from JSON, so this cannot fail.
        return (try? encoder.encode(value)) ?? Data("null".utf8)
    }

    static func decode(_ data: Data) throws -> JSONValue {
        try JSONDecoder().decode(JSONValue.self, from: data)
    }
}

extension JSONValue {
    var objectValue: [String: JSONValue]? {
        if case .object(let object) = self { return object }
        return nil
    }

    var arrayValue: [JSONValue]? {
        if case .array(let array) = self { return array }
        return nil
    }

    var stringValue: String? {
        if case .string(let string) = self { return string }
        return nil
    }

    var boolValue: Bool? {
        if case .bool(let bool) = self { return bool }
        return nil
    }

    var intValue: Int? {
        switch self {
        case .integer(let value): return Int(value)
        case .number(let value) where value == value.rounded(): return Int(value)
        default: return nil
        }
    }

    subscript(key: String) -> JSONValue? { objectValue?[key] }
}
