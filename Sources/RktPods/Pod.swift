#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktOS
import RktTypes
import Stage1Protocol

/// One pod directory. A `Pod` found by listing is a snapshot: its phase may change under us when
/// another rkt renames it, which the store's operations handle by re-resolving.
public struct Pod: Sendable {
    public let uuid: String
    public let phase: PodPhase
    public let path: String

    /// rkt's file names inside a pod directory (Documentation/on-disk-format).
    public enum File {
        public static let manifest = "pod"
        public static let created = "pod-created"
        public static let pid = "pid"
        public static let ppid = "ppid"
        public static let stage1TreeStoreID = "stage1TreeStoreID"
        public static let appsInfo = "appsinfo"
        public static let stage1 = "stage1"
        public static let stage1Rootfs = "stage1/rootfs"
        public static let overlayPrepared = "overlay-prepared"
    }

    public func file(_ name: String) -> String { path + "/" + name }

    public var stage1Rootfs: String { file(File.stage1Rootfs) }

    /// The pod manifest as written at prepare time.
    public func manifest() throws(PodError) -> PodManifest {
        let data: Data
        do { data = try FileSystem.read(file(File.manifest)) } catch {
            throw PodError(.invalidManifest, "pod \(uuid) has no readable pod manifest: \(error)", cause: error)
        }
        do { return try PodManifest.decode(data) } catch {
            throw PodError(.invalidManifest, "pod \(uuid) has an invalid pod manifest: \(error)", cause: error)
        }
    }

    public func manifestData() throws(PodError) -> Data {
        do { return try FileSystem.read(file(File.manifest)) } catch {
            throw PodError(.notFound, "pod \(uuid) has no readable pod manifest: \(error)", cause: error)
        }
    }

    /// Creation time: the mtime of `pod-created`, else of the manifest.
    public var createdAt: Date? {
        Self.mtime(file(File.created)) ?? Self.mtime(file(File.manifest))
    }

    /// Start time: the mtime of the `pid` (or `ppid`) file stage1 writes when the pod starts.
    public var startedAt: Date? {
        Self.mtime(file(File.pid)) ?? Self.mtime(file(File.ppid))
    }

    /// The pod's process as stage1 recorded it; nil until known (rkt 1.28+ omits it then).
    public var pid: Int32? {
        for name in [File.pid, File.ppid] {
            if let data = try? FileSystem.read(file(name)),
               let value = Int32(String(decoding: data, as: UTF8.self).trimmingWhitespace()) {
                return value
            }
        }
        return nil
    }

    /// Each app's exit status from `rkt/status/<app>` in the stage1 rootfs (or, when stage1 is no
    /// longer mounted, in the overlay's upper directory). Apps still running have no entry.
    public func exitStatuses(appNames: [String]) -> [String: Int32] {
        var result: [String: Int32] = [:]
        var dirs = [stage1Rootfs + "/rkt/status"]
        if let uppers = try? FileSystem.listIfPresent(file("overlay")) {
            dirs += uppers.sorted().map { file("overlay") + "/" + $0 + "/upper/rkt/status" }
        }
        for name in appNames {
            for dir in dirs {
                guard let data = try? FileSystem.read(dir + "/" + name),
                      let status = Int32(String(decoding: data, as: UTF8.self).trimmingWhitespace()) else { continue }
                result[name] = status
                break
            }
        }
        return result
    }

    static func mtime(_ path: String) -> Date? {
        var st = stat()
        guard stat(path, &st) == 0 else { return nil }
        return Date(timeIntervalSince1970: Double(st.st_mtim.tv_sec) + Double(st.st_mtim.tv_nsec) / 1e9)
    }
}
