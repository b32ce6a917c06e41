import Foundation

/// The error object of the protocol: `{"code": Int, "msg": String, "details": String?}`. A plugin
/// prints it and exits non-zero; stage0 also throws it for negotiation and validation failures.
public struct Stage1Error: Error, Codable, Sendable, Hashable, CustomStringConvertible {
    /// An error code. Open: 1–99 are reserved for this specification, 100 and above are for plugins.
    public struct Code: RawRepresentable, Codable, Sendable, Hashable, CustomStringConvertible,
        ExpressibleByIntegerLiteral
    {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        public init(integerLiteral value: Int) { self.rawValue = value }

        public init(from decoder: any Decoder) throws {
            rawValue = try decoder.singleValueContainer().decode(Int.self)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.singleValueContainer()
            try container.encode(rawValue)
        }

        /// 1: the request's `protocolVersion` is not one the plugin speaks (or, in stage0, there is
        /// no common version).
        public static let incompatibleVersion: Code = 1
        /// 2: the request needs a command, feature or field value the plugin does not support.
        public static let unsupported: Code = 2
        /// 3: the request is malformed: not JSON, a required member missing, a value of the wrong type
        /// or out of range, the request file or descriptor missing.
        public static let invalidRequest: Code = 3
        /// 4: the pod (or the app named in the request) is not found or not running.
        public static let podNotRunning: Code = 4
        /// 5: an I/O or system call failed.
        public static let ioFailure: Code = 5
        /// 6: stage0 only: the stage1 image or the plugin broke this specification (bad annotations,
        /// an unparsable response, a failure without an error object).
        public static let invalidPlugin: Code = 6
        /// The first plugin-specific code.
        public static let firstPluginSpecific: Code = 100

        /// Whether the code belongs to the plugin rather than to this specification.
        public var isPluginSpecific: Bool { rawValue >= 100 }

        /// A short name for the codes this specification defines.
        public var name: String {
            switch rawValue {
            case 1: "incompatible protocol version"
            case 2: "unsupported"
            case 3: "invalid request"
            case 4: "pod not running"
            case 5: "I/O failure"
            case 6: "invalid plugin"
            case 100...: "plugin-specific"
            default: "reserved"
            }
        }

        public var description: String { "\(rawValue) (\(name))" }
    }

    public var code: Code
    public var msg: String
    public var details: String?

    public init(code: Code, msg: String, details: String? = nil) {
        self.code = code
        self.msg = msg
        self.details = details
    }

    public var description: String {
        var text = "stage1 error \(code.rawValue) (\(code.name)): \(msg)"
        if let details, !details.isEmpty { text += ": \(details)" }
        return text
    }

    /// The error object as compact JSON with sorted keys (no trailing newline).
    public func encoded() -> Data { Stage1JSON.encode(self) }

    /// Prints the error object as one line and exits: for `run` and `enter` (exec'd, stdout belongs
    /// to the pod) on stderr with status 254; otherwise on stdout with status 1.
    public func exit(for command: Stage1Command? = nil) -> Never {
        if command?.isExecd == true {
            FileHandle.standardError.write(encoded() + Data("\n".utf8))
            Foundation.exit(Stage1Protocol.execFailureExitStatus)
        }
        FileHandle.standardOutput.write(encoded() + Data("\n".utf8))
        Foundation.exit(Stage1Protocol.childFailureExitStatus)
    }
}
