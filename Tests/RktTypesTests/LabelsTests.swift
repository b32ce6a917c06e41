import Foundation
import Testing
@testable import RktTypes

private func label(_ name: String, _ value: String) throws -> Label {
    Label(name: try ACIdentifier(name), value: value)
}

@Suite("Labels and annotations")
struct LabelsTests {
    @Test func lookup() throws {
        let labels: Labels = [try label("os", "linux"), try label("arch", "amd64")]
        #expect(labels["os"] == "linux")
        #expect(labels.value(of: "arch") == "amd64")
        #expect(labels["version"] == nil)
        try labels.validate()
    }

    @Test(arguments: [
        ("linux", "amd64"), ("linux", "i386"), ("linux", "aarch64"), ("linux", "aarch64_be"), ("linux", "armv6l"),
        ("linux", "armv7l"), ("linux", "armv7b"), ("linux", "ppc64"), ("linux", "ppc64le"), ("linux", "s390x"),
        ("freebsd", "amd64"), ("freebsd", "i386"), ("freebsd", "arm"), ("darwin", "x86_64"), ("darwin", "i386"),
    ])
    func validOSArch(_ os: String, _ arch: String) throws {
        try Labels([label("os", os), label("arch", arch)]).validate()
    }

    @Test func invalidOSArch() throws {
        #expect(throws: AppcError(#"bad os "plan9" (must be one of: [darwin freebsd linux])"#)) {
            try Labels([label("os", "plan9")]).validate()
        }
        #expect(throws: AppcError(#"bad arch "arm" for darwin (must be one of: [x86_64 i386])"#)) {
            try Labels([label("os", "darwin"), label("arch", "arm")]).validate()
        }
        // Arch alone is not checked, as in the Go code.
        try Labels([label("arch", "anything")]).validate()
    }

    @Test func reservedAndDuplicateNames() throws {
        #expect(throws: AppcError(#"invalid label name: "name""#)) { try Labels([label("name", "x")]).validate() }
        #expect(throws: AppcError(#"duplicate labels of name "version""#)) {
            try Labels([label("version", "1"), label("version", "2")]).validate()
        }
    }

    @Test func settingLabels() throws {
        var labels = Labels()
        labels.set(try ACIdentifier("version"), to: "1")
        labels.set(try ACIdentifier("version"), to: "2")
        #expect(labels.count == 1 && labels["version"] == "2")
    }

    @Test func annotations() throws {
        var annotations = Annotations()
        annotations.set(try ACIdentifier("authors"), to: "me")
        annotations.set(try ACIdentifier("created"), to: "2014-10-27T19:32:27.67021798Z")
        annotations.set(try ACIdentifier("homepage"), to: "https://example.com")
        try annotations.validate()
        #expect(annotations["authors"] == "me")

        let duplicated = Annotations([
            Annotation(name: try ACIdentifier("a"), value: "1"), Annotation(name: try ACIdentifier("a"), value: "2"),
        ])
        #expect(throws: AppcError(#"duplicate annotations of name "a""#)) { try duplicated.validate() }
    }

    @Test(arguments: [
        ("2014-10-27T19:32:27Z", true), ("2014-10-27T19:32:27.123+01:00", true), ("2016-02-29T00:00:00Z", true),
        ("2014-10-27T9:32:27Z", true), ("2014-10-27T19:32:27,5-07:30", true), ("2014-10-27T19:32:27+99:99", true),
        ("2015-02-29T00:00:00Z", false), ("2014-13-01T00:00:00Z", false), ("2014-10-27T24:00:00Z", false),
        ("2014-10-27T19:32:60Z", false), ("2014-10-27 19:32:27Z", false), ("2014-10-27T19:32:27z", false),
        ("2014-10-27T19:32:27", false), ("2014-10-27", false), ("14-10-27T19:32:27Z", false),
        ("2014-10-27T19:32:27.Z", false), ("2014-10-27T19:32:27Z ", false),
    ])
    func createdDates(_ text: String, _ valid: Bool) {
        #expect(RFC3339.isValid(text) == valid)
    }

    @Test(arguments: [
        ("http://example.com", true), ("HTTPS://example.com:8443/docs?x=1#top", true), ("http:opaque", true),
        ("https://user:pw@example.com/", true), ("http://[::1]:80/", true), ("http://example.com/a b", true),
        ("ftp://example.com", false), ("example.com", false), ("://x", false), ("http://exa mple.com", false),
        ("http://example.com:port/", false), ("http://example.com/%zz", false), ("http://[::1/", false),
        ("http://example.com/\u{7}", false), ("", false),
    ])
    func webURLs(_ text: String, _ valid: Bool) {
        #expect(((try? WebURL.check(text)) != nil) == valid)
    }
}
