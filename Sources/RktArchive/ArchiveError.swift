import RktOS
import SystemPackage

/// Why an archive was refused or could not be processed. `message` is one line and names the
/// offending entry where there is one, so it can be shown to the user as is.
public struct ArchiveError: Error, CustomStringConvertible, Sendable {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// Empty file, not a tar archive at all, or an unknown compression.
        case notAnArchive
        /// Damaged compressed stream or tar structure (truncation, bad checksum mid-archive).
        case corrupt
        /// An entry that would write outside the image, or through a symlink, or link out of it.
        case unsafeEntry
        /// Valid tar, but not a valid ACI layout: missing/duplicate manifest or rootfs, unexpected entries.
        case layout
        /// The `manifest` entry is larger than the importer is willing to hold in memory.
        case manifestTooLarge
        /// Reading, writing or creating files failed; `underlying` has the errno.
        case io
        /// Something this implementation does not handle (e.g. an entry type it cannot create).
        case unsupported
    }

    public let kind: Kind
    public let message: String
    /// The offending archive entry name as found in the archive, when there is one.
    public let entry: String?
    public let underlying: SystemError?

    public init(_ kind: Kind, _ message: String, entry: String? = nil, underlying: SystemError? = nil) {
        self.kind = kind
        self.message = message
        self.entry = entry
        self.underlying = underlying
    }

    public var description: String { message }

    static func io(_ error: SystemError) -> ArchiveError {
        ArchiveError(.io, error.description, underlying: error)
    }

    static func unsafe(_ name: String, _ reason: String) -> ArchiveError {
        ArchiveError(.unsafeEntry, "unsafe entry \(quoted(name)): \(reason)", entry: name)
    }
}

/// Quotes a name for messages; control characters are escaped so a hostile name cannot forge lines.
func quoted(_ name: String) -> String {
    var out = "\""
    for scalar in name.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case _ where scalar.value < 0x20 || scalar.value == 0x7f:
            out += "\\u{\(String(scalar.value, radix: 16))}"
        default: out.unicodeScalars.append(scalar)
        }
    }
    return out + "\""
}
