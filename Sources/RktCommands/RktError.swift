import ArgumentParser
import Foundation
import RktArchive
import RktOS
import RktPods
import RktStore
import RktTypes

/// A command failure meant for the user: one line, exit code 254 as rkt.
public struct CommandError: Error, CustomStringConvertible {
    public let description: String
    public init(_ message: String) { description = message }
}

enum ExitCodes {
    /// rkt's code for every internal and usage error.
    static let failure: Int32 = 254
    /// A missing command.
    static let usage: Int32 = 2
}

extension RktMain {
    /// The only place errors become messages and exit codes.
    static func message(for error: any Error, debug: Bool) -> String {
        var text = "\(error)"
        if debug, let store = error as? StoreError, let cause = store.cause {
            text += "\n  caused by: \(cause)"
        }
        if debug, let pod = error as? PodError, let cause = pod.cause {
            text += "\n  caused by: \(cause)"
        }
        return text
    }
}
