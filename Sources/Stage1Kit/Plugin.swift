import Foundation
import Glibc
import Stage1Protocol

/// The entry point our stage1 plugins share: read the request, answer `describe`, dispatch the
/// rest, and report errors where the protocol says (stdout for called commands, stderr for the
/// exec'd `run` and `enter`).
public enum Stage1Plugin {
    public struct Commands {
        public var run: (Stage1Request, RunPayload) throws(Stage1Error) -> Never
        /// nil: the plugin does not implement `enter`.
        public var enter: ((Stage1Request, EnterPayload) throws(Stage1Error) -> Never)?
        public var stop: (Stage1Request, StopPayload) throws(Stage1Error) -> Void
        public var gc: (Stage1Request) throws(Stage1Error) -> Void

        public init(
            run: @escaping (Stage1Request, RunPayload) throws(Stage1Error) -> Never,
            enter: ((Stage1Request, EnterPayload) throws(Stage1Error) -> Never)?,
            stop: @escaping (Stage1Request, StopPayload) throws(Stage1Error) -> Void,
            gc: @escaping (Stage1Request) throws(Stage1Error) -> Void
        ) {
            self.run = run
            self.enter = enter
            self.stop = stop
            self.gc = gc
        }
    }

    public static func main(name: String, version: String, features: [Stage1Feature], commands: Commands) -> Never {
        Stage1Kit.pluginName = name
        do throws(Stage1Error) {
            let request = try Stage1Request.readFromEnvironment(protocolEnvironment())
            debugEnabled = request.debug
            switch request.payload {
            case .describe:
                Stage1Response.write(DescribeResponse(name: name, version: version, features: features))
            case .run(let payload):
                do throws(Stage1Error) { try commands.run(request, payload) } catch { error.exit(for: .run) }
            case .enter(let payload):
                guard let enter = commands.enter else {
                    Stage1Error(code: .unsupported, msg: "\(name) does not implement enter").exit(for: .enter)
                }
                do throws(Stage1Error) { try enter(request, payload) } catch { error.exit(for: .enter) }
            case .stop(let payload):
                try commands.stop(request, payload)
                Stage1Response.write(OKResponse())
            case .gc:
                try commands.gc(request)
                Stage1Response.write(OKResponse())
            }
            exit(0)
        } catch {
            error.exit(for: commandHint())
        }
    }

    /// The protocol's variables alone: ProcessInfo's whole environment dictionary cost about half
    /// a millisecond of every pod start.
    static func protocolEnvironment() -> [String: String] {
        var environment: [String: String] = [:]
        for name in [Stage1Protocol.requestFDEnvironmentVariable, Stage1Protocol.requestEnvironmentVariable] {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return environment
    }

    /// The command named in the request file, for choosing where an unparsable request's error goes.
    static func commandHint() -> Stage1Command? {
        guard let path = protocolEnvironment()[Stage1Protocol.requestEnvironmentVariable],
              let data = readFile(path),
              let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let name = object["command"] as? String
        else { return nil }
        return Stage1Command(rawValue: name)
    }
}

extension PodLock {
    /// The pid in the pod's `pid` file, provided the pod runs: its lock is held (a shared lock we
    /// can take means nobody holds it). Throws `podNotRunning` otherwise.
    public static func runningPID(_ pod: PodInfo) throws(Stage1Error) -> pid_t {
        let notRunning = { (details: String) in Stage1Error(code: .podNotRunning, msg: "the pod is not running", details: details) }
        let fd = open(pod.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw notRunning("\(pod.path): \(errnoString(errno))") }
        let unlocked = flock(fd, LOCK_SH | LOCK_NB) == 0
        close(fd)
        if unlocked { throw notRunning("the pod lock is not held") }
        guard let (pid, _) = PodFiles(pod: pod).readPID() else { throw notRunning("no pid file in \(pod.path)") }
        return pid
    }

    /// Sends `signal` to `pid`; a vanished process means the pod is not running.
    public static func signal(_ pid: pid_t, _ signal: Int32) throws(Stage1Error) {
        guard kill(pid, signal) == 0 else {
            let code = errno
            if code == ESRCH { throw Stage1Error(code: .podNotRunning, msg: "the pod is not running", details: "process \(pid) does not exist") }
            throw systemError("kill", "\(pid)", code)
        }
        debug("sent signal \(signal) to pid \(pid)")
    }
}

extension VolumeMount {
    /// What to bind for this mount: a host volume's source (which must exist; recursive unless
    /// the volume says otherwise), or the pod's directory for an empty volume.
    public func hostSource(podPath: String) throws(Stage1Error) -> (path: String, recursive: Bool) {
        guard volume.kind == "host" else { return (try EmptyVolume.create(volume, podPath: podPath), false) }
        guard let path = volume.source, path.hasPrefix("/") else {
            throw Stage1Error(code: .invalidRequest, msg: "host volume \(volume.name) has no absolute source")
        }
        guard fileExists(path) else {
            throw systemError("stat", path, ENOENT, msg: "the source \(path) of volume \(volume.name) does not exist")
        }
        return (path, volume.recursive ?? true)
    }

    /// Mounts in an order that puts parents before children (by depth, stable).
    public static func parentsFirst(_ mounts: [VolumeMount]) -> [VolumeMount] {
        mounts.enumerated().sorted { a, b in
            let da = a.element.path.split(separator: "/").count, db = b.element.path.split(separator: "/").count
            return da != db ? da < db : a.offset < b.offset
        }.map(\.element)
    }
}
