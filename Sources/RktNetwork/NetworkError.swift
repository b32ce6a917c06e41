import RktOS

/// Everything that fails in the CNI runtime: the step that failed, and what the plugin or the
/// system said. Only the CLI turns it into a message and exit status 254.
public struct NetworkError: Error, CustomStringConvertible, Sendable {
    public enum Kind: Sendable, Equatable {
        /// `--net` or a configuration is wrong (unknown or duplicate network, bad JSON).
        case invalidArgument
        /// A network configuration file cannot be used.
        case invalidConfig
        /// No executable for a plugin `type`.
        case pluginNotFound
        /// The plugin and the configuration share no CNI version.
        case incompatibleVersion
        /// The plugin answered with a CNI error object, or broke the protocol.
        case plugin
        /// A system call failed (namespace, mount, file).
        case system
        /// A firewall command failed.
        case firewall
    }

    public let kind: Kind
    /// What was being done, e.g. `ADD network default (cni-bridge)`.
    public let step: String
    public let message: String
    /// The plugin's CNI error code, when it sent one.
    public let pluginCode: Int?
    public let cause: SystemError?

    public init(_ kind: Kind, step: String, _ message: String, pluginCode: Int? = nil, cause: SystemError? = nil) {
        self.kind = kind
        self.step = step
        self.message = message
        self.pluginCode = pluginCode
        self.cause = cause
    }

    static func system(_ step: String, _ error: SystemError) -> NetworkError {
        NetworkError(.system, step: step, error.description, cause: error)
    }

    public var description: String { "\(step): \(message)" }
}
