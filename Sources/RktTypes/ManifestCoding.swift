import Foundation

/// Either kind of appc manifest, told apart by `acKind`.
public enum AppcManifest: Sendable, Hashable {
    case image(ImageManifest)
    case pod(PodManifest)

    /// Decodes and validates an image or pod manifest, the check
    /// `actool validate --type=manifest FILE` makes.
    public static func decode(_ data: Data) throws(AppcError) -> AppcManifest {
        let header = try ManifestCoding.header(of: data)
        switch header.acKind {
        case ImageManifest.kind: return .image(try ManifestCoding.decode(ImageManifest.self, from: data))
        case PodManifest.kind: return .pod(try ManifestCoding.decode(PodManifest.self, from: data))
        case nil, "": throw AppcError("ACKind must be set", field: "acKind")
        case let other?: throw AppcError("bad ACKind: \(other)", field: "acKind")
        }
    }

    public func encoded(pretty: Bool = false) throws(AppcError) -> Data {
        switch self {
        case .image(let manifest): try manifest.encoded(pretty: pretty)
        case .pod(let manifest): try manifest.encoded(pretty: pretty)
        }
    }
}

/// JSON plumbing shared by the manifests: error translation and encoder setup.
enum ManifestCoding {
    /// The two fields every manifest starts with, read before the full decode.
    struct Header: Decodable {
        var acKind: String?
        var acVersion: SemVer?
    }

    static func header(of data: Data) throws(AppcError) -> Header {
        try decode(Header.self, from: data)
    }

    static func decode<Value: Decodable>(_ type: Value.Type, from data: Data) throws(AppcError) -> Value {
        do {
            return try JSONDecoder().decode(type, from: data)
        } catch let error as AppcError {
            throw error
        } catch let error as DecodingError {
            throw translate(error)
        } catch {
            throw AppcError("cannot decode JSON: \(error)")
        }
    }

    static func encode<Value: Encodable>(_ value: Value, pretty: Bool) throws(AppcError) -> Data {
        let encoder = JSONEncoder()
        // Sorted keys make the output byte-for-byte reproducible (Foundation's
        // encoder otherwise orders keys by hash).
        encoder.outputFormatting = pretty
            ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            : [.sortedKeys, .withoutEscapingSlashes]
        do {
            return try encoder.encode(value)
        } catch let error as AppcError {
            throw error
        } catch {
            throw AppcError("cannot encode JSON: \(error)")
        }
    }

    /// Runs a validation step and prefixes any error with `path`.
    static func at(_ path: String, _ body: () throws(AppcError) -> Void) throws(AppcError) {
        do {
            try body()
        } catch {
            throw error.located(at: path)
        }
    }

    private static func translate(_ error: DecodingError) -> AppcError {
        switch error {
        case .typeMismatch(let type, let context):
            return AppcError("wrong JSON type (expected \(describe(type)))", field: AppcError.render(context.codingPath))
        case .valueNotFound(let type, let context):
            return AppcError("missing value (expected \(describe(type)))", field: AppcError.render(context.codingPath))
        case .keyNotFound(let key, let context):
            return AppcError("\(key.stringValue) must be set", field: AppcError.render(context.codingPath))
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty {
                let detail = context.underlyingError.map { "\($0)" } ?? context.debugDescription
                return AppcError("invalid JSON: \(detail)")
            }
            return AppcError(context.debugDescription, field: AppcError.render(context.codingPath))
        @unknown default:
            return AppcError("cannot decode JSON: \(error)")
        }
    }

    private static func describe(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: "string"
        case is Bool.Type: "boolean"
        case is Int.Type, is Int64.Type, is UInt.Type, is Double.Type: "number"
        default: type is any Collection.Type ? "array" : "\(type)"
        }
    }
}
