#if canImport(Glibc)
import Glibc
#endif
import RktOS

/// Finds the executable for a plugin `type`. In order: each directory of `searchPath` (see
/// `standardSearchPath`), then `resolveImage`, which stage0 points at network-plugin ACIs (the
/// image store, then the plugin images directory) so that this module needs no image store.
public struct PluginLocator: Sendable {
    public var searchPath: [String]
    /// For a type found on no directory, or one written as an image name (`example.com/cni-x`):
    /// the host path of the executable a plugin image carries, or nil.
    public var resolveImage: (@Sendable (String) throws -> String?)?

    public init(searchPath: [String], resolveImage: (@Sendable (String) throws -> String?)? = nil) {
        self.searchPath = searchPath
        self.resolveImage = resolveImage
    }

    /// rkt's order, then the CNI conventions: `<localConfig>/net.d`, `/usr/lib/rkt/plugins/net`,
    /// the stage1's `usr/lib/rkt/plugins/net`, each directory of `$CNI_PATH`, `/usr/lib/cni`,
    /// `/opt/cni/bin`, and last the directory of the `rkt` binary (a development build keeps its
    /// plugins beside it).
    public static func standardSearchPath(localConfig: String, stage1Rootfs: String?, environment: [String: String], binaryDirectory: String?) -> [String] {
        var path = [NetworkConfigurations.directory(localConfig: localConfig), "/usr/lib/rkt/plugins/net"]
        if let stage1Rootfs { path.append(stage1Rootfs + "/usr/lib/rkt/plugins/net") }
        path += (environment["CNI_PATH"] ?? "").split(separator: ":").map(String.init).filter { !$0.isEmpty }
        path += ["/usr/lib/cni", "/opt/cni/bin"]
        if let binaryDirectory { path.append(binaryDirectory) }
        var seen = Set<String>()
        return path.filter { seen.insert($0).inserted }
    }

    public func executable(for type: String) throws(NetworkError) -> String {
        if !type.contains("/") {
            for dir in searchPath {
                let candidate = dir + "/" + type
                if FileSystem.isRegularFile(candidate) && access(candidate, X_OK) == 0 { return candidate }
            }
        }
        if let resolveImage {
            do {
                if let path = try resolveImage(type) { return path }
            } catch {
                throw NetworkError(.pluginNotFound, step: "finding plugin \(type)", "\(error)")
            }
        }
        throw NetworkError(.pluginNotFound, step: "finding plugin \(type)",
                           "no executable \(type) in \(searchPath.joined(separator: ":")) and no network plugin image of that name")
    }
}
