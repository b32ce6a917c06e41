/// Why an app's isolators cannot be applied: names the isolator (its appc name, or the step such as
/// `seccomp compile`) and what is wrong with it.
public struct IsolationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The appc isolator name (`os/linux/capabilities-retain-set`) or, for failures that are not about
    /// one isolator, the step that failed (`seccomp_export_bpf`).
    public var isolator: String
    public var message: String
    /// The errno of a failed system or libseccomp call, when there is one.
    public var errno: Int32?

    public init(isolator: String, _ message: String, errno: Int32? = nil) {
        self.isolator = isolator
        self.message = message
        self.errno = errno
    }

    public var description: String {
        var text = "\(isolator): \(message)"
        if let errno, let name = ErrnoName.name(of: errno) { text += " (\(name))" }
        return text
    }
}
