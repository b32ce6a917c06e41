import Foundation
import Testing
@testable import RktPods

private let passwd = """
    root:x:0:0:root:/root:/bin/bash
    # a comment
    daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
    broken line without fields
    user1:x:1000:100:User One:/home/user1:/bin/sh
    user1:x:2000:200:shadowed duplicate:/:/bin/sh

    """

private let groups = """
    root:x:0:
    users:x:100:user1,user2
    group1:x:300:
    short:x
    """

private func owners(_ path: String) -> (uid: UInt32, gid: UInt32)? {
    path == "/inspect" ? (uid: 42, gid: 43) : nil
}

@Suite struct UserGroupResolverTests {
    @Test func parsesPasswdAndGroup() {
        let users = UserGroupResolver.parsePasswd(passwd)
        #expect(users.map(\.name) == ["root", "daemon", "user1", "user1"])
        #expect(users[2] == UserGroupResolver.PasswdEntry(name: "user1", uid: 1000, gid: 100, home: "/home/user1", shell: "/bin/sh"))
        let entries = UserGroupResolver.parseGroup(groups)
        #expect(entries.map(\.name) == ["root", "users", "group1"])
        #expect(entries[1].members == ["user1", "user2"])
        #expect(entries[0].members.isEmpty)
    }

    @Test(arguments: [
        ("0", "0", 0, 0),
        ("200", "300", 200, 300),
        ("+7", "8", 7, 8),
        ("root", "root", 0, 0),
        ("user1", "users", 1000, 100),      // first entry wins, like getpwnam
        ("daemon", "group1", 1, 300),
        ("/inspect", "/inspect", 42, 43),   // owner uid / group gid of the file
        ("user1", "300", 1000, 300),
        ("4294967294", "0", 4294967294, 0),
    ] as [(String, String, UInt32, UInt32)])
    func resolves(user: String, group: String, uid: UInt32, gid: UInt32) throws {
        let ids = try UserGroupResolver.resolve(user: user, group: group, passwd: passwd, groupFile: groups,
                                                fileOwner: owners)
        #expect(ids.uid == uid)
        #expect(ids.gid == gid)
    }

    @Test func rootWorksWithoutEtcFiles() throws {
        let ids = try UserGroupResolver.resolve(user: "root", group: "root", passwd: nil, groupFile: nil) { _ in nil }
        #expect(ids == (0, 0))
        #expect(try UserGroupResolver.resolve(user: "5", group: "6", passwd: nil, groupFile: nil) { _ in nil } == (5, 6))
    }

    @Test(arguments: [
        ("nobody", "0", nil as String?, nil as String?, "invalid user \"nobody\": not found in the image's /etc/passwd"),
        ("0", "nogroup", nil, nil, "invalid group \"nogroup\": not found in the image's /etc/group"),
        ("user1", "0", "", nil, "invalid user \"user1\": not a number, a path or root, and the image has no /etc/passwd"),
        ("0", "users", nil, "", "invalid group \"users\": not a number, a path or root, and the image has no /etc/group"),
        ("/missing", "0", nil, nil, "invalid user \"/missing\": no such file in the image"),
        ("0", "/missing", nil, nil, "invalid group \"/missing\": no such file in the image"),
        ("-1", "0", nil, nil, "invalid user \"-1\""),
        ("4294967296", "0", nil, nil, "invalid user \"4294967296\""),
        ("", "0", nil, nil, "user is empty"),
        ("0", "", nil, nil, "group is empty"),
    ] as [(String, String, String?, String?, String)])
    func rejects(user: String, group: String, missingPasswd: String?, missingGroup: String?, fragment: String) {
        // An empty string in the table means "the image has no such file".
        let passwdText: String? = missingPasswd == "" ? nil : passwd
        let groupText: String? = missingGroup == "" ? nil : groups
        let error = #expect(throws: UserGroupResolverError.self) {
            try UserGroupResolver.resolve(user: user, group: group, passwd: passwdText, groupFile: groupText,
                                          fileOwner: owners)
        }
        #expect(error?.message.contains(fragment) == true, "\(error?.message ?? "no error")")
    }

    @Test func dockerFallback() throws {
        // docker2aci writes the user name as group; rkt then uses the uid as gid.
        let ids = try UserGroupResolver.resolve(user: "daemon", group: "daemon", passwd: passwd, groupFile: "",
                                                fileOwner: owners, groupDefaultsToUID: true)
        #expect(ids == (1, 1))
        #expect(throws: UserGroupResolverError.self) {
            try UserGroupResolver.resolve(user: "daemon", group: "daemon", passwd: passwd, groupFile: "",
                                          fileOwner: owners)
        }
        let docker = ["appc.io/docker/repository": "library/busybox"]
        #expect(UserGroupResolver.dockerGroupFallbackApplies(imageAnnotations: docker, imageUser: "daemon",
                                                             imageGroup: "daemon", runtimeGroup: "daemon"))
        #expect(!UserGroupResolver.dockerGroupFallbackApplies(imageAnnotations: docker, imageUser: "daemon",
                                                              imageGroup: "daemon", runtimeGroup: "other"))
        #expect(!UserGroupResolver.dockerGroupFallbackApplies(imageAnnotations: [:], imageUser: "daemon",
                                                              imageGroup: "daemon", runtimeGroup: "daemon"))
        #expect(!UserGroupResolver.dockerGroupFallbackApplies(imageAnnotations: docker, imageUser: "1",
                                                              imageGroup: "daemon", runtimeGroup: "daemon"))
    }
}
