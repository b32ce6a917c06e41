import Foundation
import Stage1Protocol

/// Resolves an app's `user` and `group` strings to numeric ids the way rkt's
/// stage1 does (`ParseUserGroup` in `stage1/init/common/pod.go`), trying in
/// order:
///
/// 1. `root` (always 0, even without an `/etc/passwd`) or a decimal number;
/// 2. an absolute path inside the image: the owner uid (for the user) or
///    group gid (for the group) of that file, from `fileOwner`;
/// 3. a name looked up in the image's `/etc/passwd` (user) or `/etc/group`
///    (group) text.
///
/// Pure: the image files come in as text and file ownership through a closure.
public enum UserGroupResolver {
    /// Owner of a path inside the image's root filesystem, nil if it does not exist.
    public typealias FileOwner = (String) -> (uid: UInt32, gid: UInt32)?

    /// One `/etc/passwd` line: `name:password:uid:gid:gecos:home:shell`.
    public struct PasswdEntry: Sendable, Hashable {
        public var name: String
        public var uid: UInt32
        public var gid: UInt32
        public var home: String
        public var shell: String

        public init(name: String, uid: UInt32, gid: UInt32, home: String = "", shell: String = "") {
            self.name = name
            self.uid = uid
            self.gid = gid
            self.home = home
            self.shell = shell
        }
    }

    /// One `/etc/group` line: `name:password:gid:member,member`.
    public struct GroupEntry: Sendable, Hashable {
        public var name: String
        public var gid: UInt32
        public var members: [String]

        public init(name: String, gid: UInt32, members: [String] = []) {
            self.name = name
            self.gid = gid
            self.members = members
        }
    }

    /// Parses `/etc/passwd` text. Blank lines, `#` comments and malformed lines
    /// (fewer than 7 fields, non-numeric ids) are skipped rather than failing
    /// the whole file, as glibc does; rkt's Go parser rejects the file instead.
    public static func parsePasswd(_ text: String) -> [PasswdEntry] {
        lines(of: text).compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 7, !fields[0].isEmpty, let uid = UInt32(fields[2]), let gid = UInt32(fields[3]) else {
                return nil
            }
            return PasswdEntry(name: fields[0], uid: uid, gid: gid, home: fields[5], shell: fields[6])
        }
    }

    /// Parses `/etc/group` text; malformed lines (fewer than 4 fields) are skipped.
    public static func parseGroup(_ text: String) -> [GroupEntry] {
        lines(of: text).compactMap { line in
            let fields = line.split(separator: ":", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 4, !fields[0].isEmpty, let gid = UInt32(fields[2]) else { return nil }
            let members = fields[3].split(separator: ",").map(String.init)
            return GroupEntry(name: fields[0], gid: gid, members: members)
        }
    }

    private static func lines(of text: String) -> [String] {
        text.split(whereSeparator: \.isNewline).map(String.init).filter { line in
            !line.trimmingWhitespace(newlines: false).isEmpty && !line.hasPrefix("#")
        }
    }

    /// `root` → 0, a decimal number → itself, else nil. Negative or
    /// out-of-range numbers are nil (and then fail as names).
    static func numericID(_ text: String) -> UInt32? {
        if text == "root" { return 0 }
        let digits = text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        guard !digits.isEmpty, digits.allSatisfy(isDecimalDigit) else { return nil }
        return UInt32(digits)
    }

    /// The uid for `user`.
    public static func resolveUser(_ user: String, passwd: String?,
                                   fileOwner: FileOwner) throws(UserGroupResolverError) -> UInt32 {
        if user.isEmpty { throw UserGroupResolverError("user is empty") }
        if let uid = numericID(user) { return uid }
        if user.hasPrefix("/") {
            guard let owner = fileOwner(user) else {
                throw UserGroupResolverError("invalid user \"\(user)\": no such file in the image to take the owner from")
            }
            return owner.uid
        }
        guard let passwd else {
            throw UserGroupResolverError("invalid user \"\(user)\": not a number, a path or root, and the image has no /etc/passwd")
        }
        guard let entry = parsePasswd(passwd).first(where: { $0.name == user }) else {
            throw UserGroupResolverError("invalid user \"\(user)\": not found in the image's /etc/passwd")
        }
        return entry.uid
    }

    /// The gid for `group`.
    public static func resolveGroup(_ group: String, groupFile: String?,
                                    fileOwner: FileOwner) throws(UserGroupResolverError) -> UInt32 {
        if group.isEmpty { throw UserGroupResolverError("group is empty") }
        if let gid = numericID(group) { return gid }
        if group.hasPrefix("/") {
            guard let owner = fileOwner(group) else {
                throw UserGroupResolverError("invalid group \"\(group)\": no such file in the image to take the group from")
            }
            return owner.gid
        }
        guard let groupFile else {
            throw UserGroupResolverError("invalid group \"\(group)\": not a number, a path or root, and the image has no /etc/group")
        }
        guard let entry = parseGroup(groupFile).first(where: { $0.name == group }) else {
            throw UserGroupResolverError("invalid group \"\(group)\": not found in the image's /etc/group")
        }
        return entry.gid
    }

    /// Resolves both. `groupDefaultsToUID` is rkt's Docker rule: docker2aci
    /// writes the user name as the group when a Docker image names only a
    /// user, so when that group cannot be resolved the gid is the uid. Set it
    /// only for an image converted from Docker (annotation
    /// `appc.io/docker/repository`) whose own app has user == group, when the
    /// runtime group is still the image's group (see `dockerGroupFallbackApplies`).
    public static func resolve(user: String, group: String, passwd: String?, groupFile: String?,
                               fileOwner: FileOwner,
                               groupDefaultsToUID: Bool = false) throws(UserGroupResolverError) -> (uid: UInt32, gid: UInt32) {
        let uid = try resolveUser(user, passwd: passwd, fileOwner: fileOwner)
        do throws(UserGroupResolverError) {
            let gid = try resolveGroup(group, groupFile: groupFile, fileOwner: fileOwner)
            return (uid, gid)
        } catch {
            if groupDefaultsToUID { return (uid, uid) }
            throw error
        }
    }

    /// Whether rkt's Docker group fallback applies (see `resolve`).
    public static func dockerGroupFallbackApplies(imageAnnotations: [String: String], imageUser: String?,
                                                  imageGroup: String?, runtimeGroup: String) -> Bool {
        guard imageAnnotations["appc.io/docker/repository"] != nil, let imageUser, let imageGroup else { return false }
        return imageUser == imageGroup && runtimeGroup == imageGroup
    }
}

/// A user or group that cannot be resolved; the message names it.
public struct UserGroupResolverError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String

    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
