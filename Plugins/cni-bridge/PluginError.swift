/// A failure reported to the runtime as CNI error JSON on stdout, with a non-zero exit.
/// Codes are the spec's well-known ones (SPEC.md "Well-known Error Codes"); 999 is an internal
/// failure (netlink, iptables) as the reference plugins use it.
struct PluginError: Error, CustomStringConvertible {
    let code: Int
    let message: String
    let details: String?

    init(_ code: Int, _ message: String, details: String? = nil) {
        self.code = code
        self.message = message
        self.details = details
    }

    static let incompatibleVersion = 1
    static let unsupportedField = 2
    static let unknownContainer = 3
    static let invalidEnvironment = 4
    static let ioFailure = 5
    static let decodingFailure = 6
    static let invalidConfig = 7
    static let tryAgainLater = 11
    static let notAvailable = 50
    static let internalFailure = 999

    var description: String { details.map { "\(message): \($0)" } ?? message }

    func json(cniVersion: String) -> JSONValue {
        var object: [String: JSONValue] = ["cniVersion": .string(cniVersion), "code": .number(Double(code)), "msg": .string(message)]
        if let details { object["details"] = .string(details) }
        return .object(object)
    }
}
