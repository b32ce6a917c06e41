import Foundation

/// The answer to `describe`.
public struct DescribeResponse: Codable, Sendable, Equatable {
    /// Every protocol version the plugin speaks.
    public var protocolVersions: [String]
    /// The plugin's name (usually its image name).
    public var name: String
    /// The plugin's version.
    public var version: String
    /// The features the plugin implements.
    public var features: [Stage1Feature]

    public init(protocolVersions: [String] = Stage1Protocol.supportedVersions, name: String, version: String, features: [Stage1Feature]) {
        self.protocolVersions = protocolVersions
        self.name = name
        self.version = version
        self.features = features
    }

    enum CodingKeys: String, CodingKey { case protocolVersions, name, version, features }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        protocolVersions = try c.decode([String].self, forKey: .protocolVersions)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        version = try c.decodeIfPresent(String.self, forKey: .version) ?? ""
        features = try c.decodeIfPresent([Stage1Feature].self, forKey: .features) ?? []
    }

    /// Whether the plugin lists `feature`.
    public func supports(_ feature: Stage1Feature) -> Bool { features.contains(feature) }
}

/// The answer to `gc` and `stop`: `{"ok":true}`.
public struct OKResponse: Codable, Sendable, Equatable {
    public var ok: Bool
    public init() { ok = true }
}

/// Writing responses (plugin side) and reading them (stage0 side).
public enum Stage1Response {
    /// A response as compact JSON with sorted keys, no trailing newline.
    public static func encoded<T: Encodable>(_ response: T) -> Data { Stage1JSON.encode(response) }

    /// Writes a response to stdout as one line.
    public static func write<T: Encodable>(_ response: T) {
        FileHandle.standardOutput.write(encoded(response) + Data("\n".utf8))
    }

    /// Stage0 side: interprets what a child entrypoint printed on stdout and its exit status.
    ///
    /// - Exit status 0: stdout must hold one `T` object (surrounding whitespace allowed).
    /// - Non-zero: stdout should hold an error object, which is thrown as is.
    /// - Throws: the plugin's `Stage1Error`, or `.invalidPlugin` when stdout is not what the
    ///   specification requires (the message quotes the start of the output).
    public static func decode<T: Decodable>(_ type: T.Type, stdout: Data, exitStatus: Int32) throws(Stage1Error) -> T {
        let decoder = Stage1JSON.decoder()
        if exitStatus != 0 {
            if let error = try? decoder.decode(Stage1Error.self, from: stdout) { throw error }
            throw Stage1Error(
                code: .invalidPlugin,
                msg: "the stage1 entrypoint exited with status \(exitStatus) without an error object",
                details: excerpt(stdout))
        }
        do {
            return try decoder.decode(T.self, from: stdout)
        } catch {
            throw Stage1Error(
                code: .invalidPlugin, msg: "the stage1 entrypoint printed an invalid response",
                details: "\(Stage1JSON.describe(error)); output: \(excerpt(stdout))")
        }
    }

    private static func excerpt(_ data: Data) -> String {
        let text = String(decoding: data.prefix(200), as: UTF8.self).trimmingWhitespace()
        return text.isEmpty ? "(no output)" : text
    }
}

extension Stage1Request {
    /// Plugin side: reads the request stage0 passed. If `RKT_STAGE1_REQUEST_FD` is set, the request is
    /// read from that descriptor (from offset 0 when it is seekable), which is then closed so the
    /// apps do not inherit it; otherwise, or if the descriptor cannot be read, from the file named
    /// by `RKT_STAGE1_REQUEST`.
    ///
    /// - Throws: `Stage1Error` `.invalidRequest` when neither variable is usable, `.ioFailure`
    ///   when the file cannot be read, and whatever `decode(_:supportedVersions:)` throws.
    public static func readFromEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment,
        supportedVersions: [String] = Stage1Protocol.supportedVersions
    ) throws(Stage1Error) -> Stage1Request {
        if let text = environment[Stage1Protocol.requestFDEnvironmentVariable], !text.isEmpty {
            guard let fd = Int32(text), fd >= 0 else {
                throw Stage1Error(
                    code: .invalidRequest,
                    msg: "\(Stage1Protocol.requestFDEnvironmentVariable)=\(text) is not a file descriptor")
            }
            if let data = readDescriptor(fd) {
                return try decode(data, supportedVersions: supportedVersions)
            }
        }
        guard let path = environment[Stage1Protocol.requestEnvironmentVariable], !path.isEmpty else {
            throw Stage1Error(
                code: .invalidRequest,
                msg: "\(Stage1Protocol.requestEnvironmentVariable) is not set: this program is a stage1 entrypoint and must be started by rkt")
        }
        // open(2) and read(2): Foundation's URL-based reading costs more than the read itself.
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0, let data = Stage1IO.readToEnd(fd: fd) else {
            let code = errno
            if fd >= 0 { close(fd) }
            throw Stage1Error(code: .ioFailure, msg: "cannot read the request file \(path)", details: String(cString: strerror(code)))
        }
        close(fd)
        return try decode(data, supportedVersions: supportedVersions)
    }

    private static func readDescriptor(_ fd: Int32) -> Data? {
        guard fcntl(fd, F_GETFD) != -1 else { return nil }
        defer { close(fd) }
        _ = lseek(fd, 0, SEEK_SET)  // fails harmlessly on pipes
        return Stage1IO.readToEnd(fd: fd)
    }
}

/// Small I/O helpers for plugin authors.
public enum Stage1IO {
    /// Everything readable from `fd` until EOF, retrying EINTR; nil on a read error. (Foundation
    /// trusts st_size, which is 0 for /proc files, so it cannot be used for those.)
    public static func readToEnd(fd: Int32) -> Data? {
        var data = Data()
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n > 0 {
                data.append(contentsOf: buffer[0..<n])
            } else if n == 0 {
                return data
            } else if errno != EINTR {
                return nil
            }
        }
    }
}
