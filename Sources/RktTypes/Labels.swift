import Foundation

/// One image label, e.g. `{"name": "os", "value": "linux"}`.
public struct Label: Sendable, Hashable, Codable {
    public var name: ACIdentifier
    public var value: String

    public init(name: ACIdentifier, value: String) {
        self.name = name
        self.value = value
    }

    private enum CodingKeys: String, CodingKey { case name, value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(ACIdentifier.self, forKey: .name)
        value = try container.decodeIfPresent(String.self, forKey: .value) ?? ""
    }
}

/// An ordered list of image labels (appc `types.Labels`).
///
/// Valid labels have unique names, never use the reserved name `name`, and
/// carry a known `os` and, for that os, a known `arch`.
public struct Labels: Sendable, Hashable, Codable, RandomAccessCollection, ExpressibleByArrayLiteral {
    public var items: [Label]

    /// Architectures accepted for each operating system (appc `ValidOSArch`).
    public static let validOSArch: [String: [String]] = [
        "linux": ["amd64", "i386", "aarch64", "aarch64_be", "armv6l", "armv7l", "armv7b", "ppc64", "ppc64le", "s390x"],
        "freebsd": ["amd64", "i386", "arm"],
        "darwin": ["x86_64", "i386"],
    ]

    public init(_ items: [Label] = []) {
        self.items = items
    }

    public init(arrayLiteral elements: Label...) {
        items = elements
    }

    public var startIndex: Int { items.startIndex }
    public var endIndex: Int { items.endIndex }
    public subscript(position: Int) -> Label { items[position] }

    /// The value of the label called `name`, if present.
    public func value(of name: String) -> String? {
        items.first { $0.name.rawValue == name }?.value
    }

    public subscript(name: String) -> String? {
        value(of: name)
    }

    /// Replaces the value of an existing label or appends a new one.
    public mutating func set(_ name: ACIdentifier, to value: String) {
        if let index = items.firstIndex(where: { $0.name == name }) {
            items[index].value = value
        } else {
            items.append(Label(name: name, value: value))
        }
    }

    public func validate() throws(AppcError) {
        var seen: [String: String] = [:]
        for label in items {
            if label.name.rawValue == "name" {
                throw AppcError("invalid label name: \"name\"")
            }
            if seen[label.name.rawValue] != nil {
                throw AppcError("duplicate labels of name \"\(label.name.rawValue)\"")
            }
            seen[label.name.rawValue] = label.value
        }
        try Self.checkOSArch(os: seen["os"], arch: seen["arch"])
    }

    /// Checks an os/arch pair against `validOSArch`; arch is only checked when os is set.
    public static func checkOSArch(os: String?, arch: String?) throws(AppcError) {
        guard let os else { return }
        guard let validArchs = validOSArch[os] else {
            let oses = validOSArch.keys.sorted().joined(separator: " ")
            throw AppcError("bad os \"\(os)\" (must be one of: [\(oses)])")
        }
        if let arch, !validArchs.contains(arch) {
            throw AppcError("bad arch \"\(arch)\" for \(os) (must be one of: [\(validArchs.joined(separator: " "))])")
        }
    }

    public init(from decoder: any Decoder) throws {
        items = try decoder.singleValueContainer().decode([Label].self)
        do throws(AppcError) {
            try validate()
        } catch {
            throw error.located(at: decoder.codingPath)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(items)
    }
}

/// One annotation, e.g. `{"name": "authors", "value": "..."}`.
public struct Annotation: Sendable, Hashable, Codable {
    public var name: ACIdentifier
    public var value: String

    public init(name: ACIdentifier, value: String) {
        self.name = name
        self.value = value
    }

    private enum CodingKeys: String, CodingKey { case name, value }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        name = try container.decode(ACIdentifier.self, forKey: .name)
        value = try container.decodeIfPresent(String.self, forKey: .value) ?? ""
    }
}

/// An ordered list of annotations (appc `types.Annotations`).
///
/// Names must be unique; the well-known `created` annotation must be an
/// RFC 3339 date and `homepage`/`documentation` must be http(s) URLs.
public struct Annotations: Sendable, Hashable, Codable, RandomAccessCollection, ExpressibleByArrayLiteral {
    public var items: [Annotation]

    public init(_ items: [Annotation] = []) {
        self.items = items
    }

    public init(arrayLiteral elements: Annotation...) {
        items = elements
    }

    public var startIndex: Int { items.startIndex }
    public var endIndex: Int { items.endIndex }
    public subscript(position: Int) -> Annotation { items[position] }

    public func value(of name: String) -> String? {
        items.first { $0.name.rawValue == name }?.value
    }

    public subscript(name: String) -> String? {
        value(of: name)
    }

    /// Replaces the value of an existing annotation or appends a new one.
    public mutating func set(_ name: ACIdentifier, to value: String) {
        if let index = items.firstIndex(where: { $0.name == name }) {
            items[index].value = value
        } else {
            items.append(Annotation(name: name, value: value))
        }
    }

    public func validate() throws(AppcError) {
        var seen: [String: String] = [:]
        for annotation in items {
            if seen[annotation.name.rawValue] != nil {
                throw AppcError("duplicate annotations of name \"\(annotation.name.rawValue)\"")
            }
            seen[annotation.name.rawValue] = annotation.value
        }
        if let created = seen["created"] {
            try RFC3339.check(created)
        }
        for name in ["homepage", "documentation"] {
            if let url = seen[name] {
                try WebURL.check(url)
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        items = try decoder.singleValueContainer().decode([Annotation].self)
        do throws(AppcError) {
            try validate()
        } catch {
            throw error.located(at: decoder.codingPath)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(items)
    }
}
