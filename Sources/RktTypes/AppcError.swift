import Foundation

/// A validation or parsing failure for appc schema data.
///
/// `message` mirrors the wording of the appc Go validator so that users who know
/// `actool` recognise it; `field` (when known) is the JSON path of the offending
/// value, e.g. `app.isolators[1].value`.
public struct AppcError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    public var field: String?

    public init(_ message: String, field: String? = nil) {
        self.message = message
        self.field = field
    }

    public var description: String {
        guard let field, !field.isEmpty else { return message }
        return "\(field): \(message)"
    }

    /// Returns a copy whose field path is prefixed with `path` (outermost first).
    func located(at path: String) -> AppcError {
        guard !path.isEmpty else { return self }
        var copy = self
        if let field, !field.isEmpty {
            copy.field = field.hasPrefix("[") ? path + field : path + "." + field
        } else {
            copy.field = path
        }
        return copy
    }

    func located(at codingPath: [any CodingKey]) -> AppcError {
        located(at: Self.render(codingPath))
    }

    /// Renders a Codable coding path as `a.b[2].c`.
    static func render(_ codingPath: [any CodingKey]) -> String {
        var rendered = ""
        for key in codingPath {
            if let index = key.intValue {
                rendered += "[\(index)]"
            } else if rendered.isEmpty {
                rendered = key.stringValue
            } else {
                rendered += "." + key.stringValue
            }
        }
        return rendered
    }
}
