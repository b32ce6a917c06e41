import Foundation

/// A registry image named as `docker://[REGISTRY[:PORT]/]NAME[:TAG|@DIGEST]`, normalised the way
/// Docker does: no registry means Docker Hub (`registry-1.docker.io`), where bare names live
/// under `library/`.
public struct DockerReference: Sendable, Equatable, CustomStringConvertible {
    public static let defaultRegistry = "registry-1.docker.io"

    /// `host[:port]` as used in URLs and in `dockerAuth` configuration.
    public var registry: String
    /// The repository path, e.g. `library/busybox`.
    public var repository: String
    public var tag: String?
    /// `sha256:<hex>` when pinned by digest.
    public var digest: String?

    /// What to ask the registry's manifest endpoint for.
    public var manifestReference: String { digest ?? tag ?? "latest" }

    public var description: String {
        "\(registry)/\(repository)" + (digest.map { "@" + $0 } ?? ":" + (tag ?? "latest"))
    }

    /// Parses with or without the `docker://` prefix.
    public static func parse(_ text: String) throws(FetchError) -> DockerReference {
        var rest = text.hasPrefix("docker://") ? String(text.dropFirst("docker://".count)) : text
        guard !rest.isEmpty else { throw FetchError(.invalidArgument, "invalid docker image \(quotedArg(text)): empty name") }
        var digest: String?
        if let at = rest.firstIndex(of: "@") {
            let value = String(rest[rest.index(after: at)...])
            guard OCIDigest.isValid(value) else {
                throw FetchError(.invalidArgument, "invalid docker image \(quotedArg(text)): digest must be sha256:<64 hex>")
            }
            digest = value
            rest = String(rest[..<at])
        }
        var tag: String?
        // A colon after the last slash separates the tag; one before it belongs to a registry port.
        if let colon = rest.lastIndex(of: ":"), !rest[colon...].contains("/") {
            tag = String(rest[rest.index(after: colon)...])
            rest = String(rest[..<colon])
            guard let tag, !tag.isEmpty, tag.count <= 128,
                  tag.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_.-".contains($0)) }) else {
                throw FetchError(.invalidArgument, "invalid docker image \(quotedArg(text)): bad tag")
            }
        }
        var components = rest.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        var registry = defaultRegistry
        // Docker's rule: the first component is a registry if it has a dot or a port, or is localhost.
        if components.count > 1, let first = components.first,
           first.contains(".") || first.contains(":") || first == "localhost" {
            registry = first
            components.removeFirst()
        }
        if registry == "docker.io" || registry == "index.docker.io" { registry = defaultRegistry }
        guard !components.isEmpty, components.allSatisfy(Self.isValidComponent) else {
            throw FetchError(.invalidArgument, "invalid docker image \(quotedArg(text)): repository names are lowercase letters, digits and separators (._-) between slashes")
        }
        if registry == defaultRegistry && components.count == 1 { components.insert("library", at: 0) }
        return DockerReference(registry: registry, repository: components.joined(separator: "/"), tag: digest == nil ? (tag ?? "latest") : tag, digest: digest)
    }

    private static func isValidComponent(_ s: String) -> Bool {
        guard let first = s.first, let last = s.last, first.isLetter || first.isNumber, last.isLetter || last.isNumber else { return false }
        return s.allSatisfy { ($0.isASCII && ($0.isLowercase || $0.isNumber)) || "._-".contains($0) }
    }

    /// The appc image name of the converted image: `registry/repository`, with the port's colon
    /// (not allowed in appc names) turned into a dash, as docker2aci did.
    public var appcName: String {
        let raw = registry.replacingOccurrences(of: ":", with: "-") + "/" + repository
        return raw.lowercased()
    }
}

func quotedArg(_ s: String) -> String { "\"" + s + "\"" }
