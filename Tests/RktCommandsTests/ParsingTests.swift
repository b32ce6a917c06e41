import Foundation
import Testing
@testable import RktCommands

@Suite struct ParsingTests {
    @Test func insecureOptions() throws {
        #expect(try InsecureOptions.parse("none").enabled.isEmpty)
        #expect(try InsecureOptions.parse("image,tls").enabled == [.image, .tls])
        #expect(try InsecureOptions.parse("all-fetch").enabled == [.image, .tls, .http])
        #expect(try InsecureOptions.parse("all-run").enabled == [.capabilities, .paths, .seccomp])
        #expect(try InsecureOptions.parse("all").enabled == Set(InsecureOptions.Option.allCases))
        #expect(try InsecureOptions.parse("Image").contains(.image))
        #expect(throws: (any Error).self) { try InsecureOptions.parse("image,bogus") }
        #expect(InsecureOptions(argument: "") == nil)
    }

    @Test(arguments: [("0", 0.0), ("30m", 1800), ("24h", 86400), ("1h30m", 5400), ("90s", 90), ("500ms", 0.5), ("1.5h", 5400)])
    func goDurations(text: String, seconds: Double) {
        #expect(GoDuration(argument: text)?.seconds == seconds)
    }

    @Test(arguments: ["", "h", "10", "10x", "-5m", "m10"])
    func badDurations(text: String) {
        #expect(GoDuration(argument: text) == nil)
    }

    @Test func humanSizes() {
        #expect(Output.humanSize(512) == "512B")
        #expect(Output.humanSize(2048) == "2.0KiB")
        #expect(Output.humanSize(12 << 20) == "12MiB")
        #expect(Output.humanSize(5 * 1024 * 1024 + 200_000) == "5.2MiB")
    }

    @Test func tableAlignsColumns() {
        let text = Output.table([["ID", "NAME"], ["sha512-abc", "x"], ["s", "longer-name"]])
        let lines = text.split(separator: "\n")
        #expect(lines[0] == "ID          NAME")
        #expect(lines[1] == "sha512-abc  x")
        #expect(lines[2] == "s           longer-name")
    }

    @Test func relativeTimes() {
        let now = Date()
        #expect(Output.relativeTime(now, now: now) == "Just now")
        #expect(Output.relativeTime(now.addingTimeInterval(-61), now: now) == "1 minute ago")
        #expect(Output.relativeTime(now.addingTimeInterval(-6 * 86400), now: now) == "6 days ago")
    }

    @Test func imageSources() throws {
        #expect(try ImageSource.parse("/x/y.aci") == .file("/x/y.aci"))
        #expect(try ImageSource.parse("file:///x/y.aci") == .file("/x/y.aci"))
        #expect(try ImageSource.parse("https://example.com/a.aci") == .url("https://example.com/a.aci"))
        #expect(try ImageSource.parse("docker://busybox") == .docker("docker://busybox"))
        #expect(try ImageSource.parse("example.com/app:1.0") == .name("example.com/app:1.0"))
    }
}
