/// CNI specification versions (`major.minor.patch`) and the negotiation between a configuration,
/// a plugin and this runtime.
public struct CNIVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    public let major: Int, minor: Int, patch: Int

    public init(_ major: Int, _ minor: Int, _ patch: Int) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// Parses `1.0.0`; also `0.3` (missing parts are 0), as some old configurations write.
    public init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...3).contains(parts.count) else { return nil }
        var numbers: [Int] = []
        for part in parts {
            guard !part.isEmpty, part.allSatisfy(\.isASCII), let value = Int(part), value >= 0 else { return nil }
            numbers.append(value)
        }
        while numbers.count < 3 { numbers.append(0) }
        self.init(numbers[0], numbers[1], numbers[2])
    }

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (a: CNIVersion, b: CNIVersion) -> Bool {
        (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch)
    }

    public static let v010 = CNIVersion(0, 1, 0)
    public static let v020 = CNIVersion(0, 2, 0)
    public static let v030 = CNIVersion(0, 3, 0)
    public static let v031 = CNIVersion(0, 3, 1)
    public static let v040 = CNIVersion(0, 4, 0)
    public static let v100 = CNIVersion(1, 0, 0)
    public static let v110 = CNIVersion(1, 1, 0)

    /// Every version this runtime speaks.
    public static let supported: [CNIVersion] = [.v010, .v020, .v030, .v031, .v040, .v100, .v110]

    /// What a plugin that does not answer VERSION supports (the CNI spec's legacy assumption).
    public static let legacyPluginVersions: [CNIVersion] = [.v010, .v020]

    /// Results up to 0.2.0 have `ip4`/`ip6`; later ones `interfaces`/`ips`/`routes`.
    public var hasLegacyResult: Bool { self < .v030 }
    /// CHECK exists from 0.4.0; DEL gets the ADD result as `prevResult` from 0.4.0.
    public var supportsCheck: Bool { self >= .v040 }
    /// GC and STATUS exist from 1.1.0.
    public var supportsGCAndStatus: Bool { self >= .v110 }

    /// The version to run a network with: the configuration's own when every plugin of the chain
    /// and this runtime speak it, else the highest version below it that all of them speak (the
    /// configuration is then sent with that `cniVersion`; the schema only grew over time).
    public static func negotiate(config: CNIVersion, plugins: [(name: String, versions: [CNIVersion])]) throws(NetworkError) -> CNIVersion {
        var common = Set(supported.filter { $0 <= config })
        for plugin in plugins { common.formIntersection(plugin.versions) }
        if let best = common.max() { return best }
        let described = plugins.map { "\($0.name) speaks \($0.versions.sorted().map(\.description).joined(separator: ", "))" }
        throw NetworkError(.incompatibleVersion, step: "CNI version negotiation",
                           "no common CNI version at or below the configuration's \(config): \(described.joined(separator: "; ")); rkt speaks \(supported.map(\.description).joined(separator: ", "))")
    }
}
