import Foundation
import Stage1Kit
import Testing

/// /proc/self/mountinfo as the plugins read it (byte-level split, octal escapes undone).
struct MountInfoTests {
    @Test func parsesIDsParentsAndEscapedMountPoints() {
        let text = """
            22 27 0:21 / /proc rw,relatime shared:5 - proc proc rw
            360 27 0:78 / /var/tmp/with\\040space rw - overlay overlay rw,lowerdir=/a,upperdir=/b
            361 360 0:79 / /var/tmp/back\\134slash\\011tab rw - tmpfs tmpfs rw
            not a mount line
            """
        let mounts = MountInfo.parse(Array(text.utf8))
        #expect(mounts.map(\.id) == [22, 360, 361])
        #expect(mounts.map(\.parent) == [27, 27, 360])
        #expect(mounts.map(\.mountPoint) == ["/proc", "/var/tmp/with space", "/var/tmp/back\\slash\ttab"])
    }

    @Test func readsThisProcessMounts() {
        let mounts = MountInfo.read()
        #expect(mounts.contains { $0.mountPoint == "/" })
        #expect(MountInfo.isMountPoint("/"))
        #expect(!MountInfo.isMountPoint("/definitely/not/a/mount/point"))
    }
}
