#if canImport(Glibc)
import Glibc
#endif
import Foundation
import RktArchive
import RktOS
import RktTestSupport
import Testing

@Suite struct MaliciousTests {
    @Test func thereAreEnoughCases() {
        let cases = TestACI.maliciousCases()
        #expect(cases.count >= 20)
        #expect(Set(cases.map(\.name)).count == cases.count, "case names are unique")
    }

    @Test(arguments: TestACI.maliciousCases())
    func importRejects(_ testCase: MaliciousCase) throws {
        let dir = try TemporaryDirectory()
        let path = dir.path + "/bad.aci"
        try TestACI.write(testCase.bytes, to: path)
        let copy = open(dir.path + "/copy", O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
        defer { close(copy) }
        do {
            let imported = try ACIImporter.importACI(path: path, copyUncompressedTo: copy)
            Issue.record("accepted: \(imported.sha512Hex)")
        } catch {
            #expect(error.kind == testCase.expectedKind, "\(error.message)")
            #expect(error.message.contains(testCase.expectedMessageFragment), "\(error.message)")
            #expect(!error.message.contains("\n"))
        }
    }

    @Test(arguments: TestACI.maliciousCases())
    func extractRejectsAndTouchesNothingOutside(_ testCase: MaliciousCase) throws {
        let archives = try TemporaryDirectory()
        let path = archives.path + "/bad.aci"
        try TestACI.write(testCase.bytes, to: path)
        let parent = try TemporaryDirectory()
        try TestACI.write(Data("sentinel\n".utf8), to: parent.path + "/sentinel")
        let sentinelBefore = lstatOf(parent.path + "/sentinel")
        let destination = parent.path + "/dest"
        for options in [ExtractOptions(), ExtractOptions(rootfsOnly: true), ExtractOptions(layering: true)] {
            do {
                try ACIExtractor.extract(archivePath: path, to: destination, options: options)
                Issue.record("accepted with \(options)")
            } catch {
                #expect(error.kind == testCase.expectedKind, "\(error.message)")
                #expect(error.message.contains(testCase.expectedMessageFragment), "\(error.message)")
            }
            #expect(!FileSystem.exists(destination), "a destination this call created is removed on failure")
            #expect(try FileSystem.list(parent.path) == ["sentinel"])
            #expect(readString(parent.path + "/sentinel") == "sentinel\n")
            #expect(lstatOf(parent.path + "/sentinel")?.st_mtim.tv_nsec == sentinelBefore?.st_mtim.tv_nsec)
            #expect(!FileSystem.exists("/etc/rkt-test-evil"))
            #expect(!FileSystem.exists("/tmp/escape"))
        }
    }
}
