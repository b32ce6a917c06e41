#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import RktOS
import RktTypes
import Stage1Protocol

/// stage0's side of the stage1 protocol: finds a pod's entrypoints from its stage1 manifest,
/// asks the plugin what it supports, and calls or execs it with a JSON request.
public struct Stage1Launcher {
    public let pod: Pod
    public let entrypoints: Stage1Entrypoints
    let logger: Logger
    let debug: Bool

    public init(pod: Pod, logger: Logger, debug: Bool) throws(PodError) {
        self.pod = pod
        self.logger = logger
        self.debug = debug
        let data: Data
        do { data = try FileSystem.read(pod.file("stage1/manifest")) } catch {
            throw PodError(.invalidState, "pod \(pod.uuid) has no stage1 manifest", cause: error)
        }
        do { entrypoints = try Stage1Manifest.entrypoints(imageManifest: data) } catch {
            throw PodError(.invalidManifest, "stage1 of pod \(pod.uuid): \(error)", cause: error)
        }
        if entrypoints.isLegacy {
            throw PodError(.invalidManifest, "stage1 of pod \(pod.uuid) speaks only rkt's legacy argv interface, which this rkt does not drive; it needs the \(Stage1Manifest.protocolAnnotation) annotation")
        }
    }

    var podInfo: PodInfo { PodInfo(uuid: pod.uuid, path: pod.path) }

    func request(_ payload: Stage1Request.Payload) throws(PodError) -> Stage1Request {
        let version: String
        do { version = try Stage1Protocol.negotiate(requested: Stage1Protocol.supportedVersions, supported: entrypoints.protocolVersions) } catch {
            throw PodError(.invalidState, "stage1: \(error)", cause: error)
        }
        return Stage1Request(protocolVersion: version, pod: podInfo, debug: debug, payload: payload)
    }

    /// Writes the request where the plugin will find it (`$RKT_STAGE1_REQUEST`).
    func writeRequest(_ request: Stage1Request) throws(PodError) -> String {
        let path = pod.file("stage1/request-\(request.command.rawValue).json")
        do { try FileSystem.writeAtomically(request.encoded(), to: path, mode: 0o600, sync: false) } catch { throw PodError.io(error) }
        return path
    }

    func hostPath(_ command: Stage1Command) throws(PodError) -> String {
        guard let path = entrypoints.hostPath(for: command, stage1Rootfs: pod.stage1Rootfs) else {
            throw PodError(.invalidState, "stage1 of pod \(pod.uuid) has no \(command.rawValue) entrypoint")
        }
        guard FileSystem.isRegularFile(path) else {
            throw PodError(.invalidState, "stage1 \(command.rawValue) entrypoint \(path) is missing (is the pod's stage1 mounted?)")
        }
        return path
    }

    /// Runs an entrypoint as a child (describe, stop, gc) and decodes its one JSON answer.
    func call<T: Decodable>(_ payload: Stage1Request.Payload, expecting: T.Type) throws -> T {
        let request = try request(payload)
        let requestPath = try writeRequest(request)
        let command: Stage1Command = payload.command == .describe && entrypoints.describe == nil ? .run : payload.command
        let executable = try hostPath(command)
        var environment = ProcessInfo.processInfo.environment
        environment.merge(Stage1Protocol.environment(requestPath: requestPath)) { $1 }
        logger.debug("calling stage1", metadata: ["command": "\(payload.command.rawValue)", "entrypoint": "\(executable)"])
        let result = try Spawn.run(executable, arguments: [Stage1Protocol.argumentPrefix + request.protocolVersion],
                                   environment: environment, directory: pod.path)
        let data = result.stdout
        let status = result.status
        return try Stage1Response.decode(T.self, stdout: data, exitStatus: status)
    }

    /// The plugin's `describe` answer. A stage1 tree never changes once rendered, so the answer is
    /// kept per tree (`<dataDir>/cache/stage1-describe/<tree ID>.json`) and the plugin is asked once.
    public func describe() throws -> DescribeResponse {
        let cache = describeCachePath()
        if let cache, let data = try? FileSystem.read(cache), let cached = try? JSONDecoder().decode(DescribeResponse.self, from: data) {
            return cached
        }
        let answer = try call(.describe, expecting: DescribeResponse.self)
        if let cache {
            // Best effort: without the cache the next pod asks the plugin again.
            try? FileSystem.makeDirectories(FileSystem.parentDirectory(of: cache))
            if let data = try? JSONEncoder().encode(answer) { try? FileSystem.writeAtomically(data, to: cache, mode: 0o644, sync: false) }
        }
        return answer
    }

    /// `<dataDir>/cache/stage1-describe/<tree ID>.json` for this pod's stage1 tree; nil when the pod
    /// does not record its tree (a stage1 from outside the tree store is asked every time).
    func describeCachePath() -> String? {
        guard let data = try? FileSystem.read(pod.file(Pod.File.stage1TreeStoreID)) else { return nil }
        let treeID = String(decoding: data, as: UTF8.self).trimmingWhitespace()
        guard !treeID.isEmpty, !treeID.contains("/"), treeID != ".", treeID != ".." else { return nil }
        // pods/<phase>/<uuid> lives directly under the data dir.
        let dataDir = FileSystem.parentDirectory(of: FileSystem.parentDirectory(of: FileSystem.parentDirectory(of: pod.path)))
        return Self.describeCacheDirectory(dataDir: dataDir) + "/" + treeID + ".json"
    }

    static func describeCacheDirectory(dataDir: String) -> String { dataDir + "/cache/stage1-describe" }

    /// `image gc`: drops the cached answers of trees for which `treeExists` says no.
    public static func pruneDescribeCache(dataDir: String, treeExists: (String) -> Bool) {
        let cache = describeCacheDirectory(dataDir: dataDir)
        for file in (try? FileManager.default.contentsOfDirectory(atPath: cache)) ?? [] where file.hasSuffix(".json") {
            if !treeExists(String(file.dropLast(".json".count))) { try? FileManager.default.removeItem(atPath: cache + "/" + file) }
        }
    }


    public func stop(force: Bool) throws {
        _ = try call(.stop(StopPayload(force: force)), expecting: OKResponse.self)
    }

    public func gc(localConfig: String) throws {
        _ = try call(.gc(GCPayload(localConfig: localConfig)), expecting: OKResponse.self)
    }

    /// Replaces this process with the stage1 `run` entrypoint (rkt execs, never forks, stage1),
    /// handing over the pod lock. Returns only by throwing.
    public func execRun(_ payload: RunPayload, lock: FileLock, manifest: PodManifest, describe: DescribeResponse) throws -> Never {
        var payload = payload
        payload.lockFD = lock.fd
        // Under a systemd Type=notify service: the plugin reports the pod's readiness, since rkt
        // itself (exec'd away into stage1) never will (stage1-protocol.md, run.notifySocket).
        // getenv, not ProcessInfo.environment: that builds the whole environment on every pod start.
        if payload.notifySocket == nil, let value = getenv("NOTIFY_SOCKET"), case let socket = String(cString: value), !socket.isEmpty {
            payload.notifySocket = socket
            if !describe.supports(.notify) {
                logger.warning("stage1 \(describe.name) does not report readiness to the service manager (NOTIFY_SOCKET); a Type=notify service will not become active")
            }
        }
        let request = try request(.run(payload))
        // What the request alone does not show but the pod manifest does.
        var additional: [FeatureRequirement] = []
        if !manifest.volumes.isEmpty || manifest.apps.contains(where: { !$0.mounts.isEmpty }) {
            additional.append(FeatureRequirement(.volumes, reason: "the pod manifest has volumes"))
        }
        if manifest.apps.contains(where: { !($0.app?.isolators.isEmpty ?? true) }) {
            additional.append(FeatureRequirement(.isolators, reason: "an app has isolators"))
        }
        do { try Stage1Protocol.negotiate(requested: request, supported: describe, additional: additional) } catch {
            throw PodError(.invalidArgument, "stage1 \(describe.name) cannot run this pod: \(error)", cause: error)
        }
        try exec(.run, request: request, lock: lock)
    }

    /// Replaces this process with the stage1 `enter` entrypoint.
    public func execEnter(_ payload: EnterPayload) throws -> Never {
        try exec(.enter, request: try request(.enter(payload)), lock: nil)
    }

    private func exec(_ command: Stage1Command, request: Stage1Request, lock: FileLock?) throws -> Never {
        let requestPath = try writeRequest(request)
        let executable = try hostPath(command)
        if let lock {
            do { try lock.inheritOnExec() } catch { throw PodError.io(error) }
            setenv(Stage1Protocol.lockFDEnvironmentVariable, String(lock.fd), 1)
        }
        setenv(Stage1Protocol.requestEnvironmentVariable, requestPath, 1)
        guard chdir(pod.path) == 0 else { throw PodError.io(SystemError("chdir", path: pod.path)) }
        logger.debug("exec stage1", metadata: ["command": "\(command.rawValue)", "entrypoint": "\(executable)"])
        fflush(nil) // all C streams: nothing buffered may be lost at exec
        let argv = [executable, Stage1Protocol.argumentPrefix + request.protocolVersion]
        var cArgs = argv.map { strdup($0) } + [nil]
        execv(executable, &cArgs)
        throw PodError.io(SystemError("exec", path: executable))
    }
}

extension ResolvedApp {
    /// The appc app section as stage1 receives it (same field names, so JSON carries it over).
    public init(_ app: App) throws {
        let data = try JSONEncoder().encode(app)
        self = try JSONDecoder().decode(ResolvedApp.self, from: data)
    }
}
