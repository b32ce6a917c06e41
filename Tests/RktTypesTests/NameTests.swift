import Foundation
import Testing
@testable import RktTypes

@Suite("ACIdentifier and ACName")
struct NameTests {
    // Tables from appc's acidentifier_test.go.
    @Test(arguments: [
        "asdf", "foo-bar-baz", "zab_rab_oof", "database", "my~database", "example.com/database",
        "example.com/~bob/database", "example.com/ourapp-1.0.0",
        "sub-domain.example.com/org/product/release-1.0.0",
        "sub-domain.example.com/org/product/~alice/release-1.0.0",
    ])
    func goodIdentifiers(_ text: String) throws {
        #expect(try ACIdentifier(text).rawValue == text)
    }

    @Test(arguments: [
        "", "BAR", "foo#", "EXAMPLE.com", "foo.com/BAR", "/app", "app/", "-app", "app-", ".app", "app.",
        "_app", "app_", "~app", "app~", "user@example.com",
    ])
    func badIdentifiers(_ text: String) {
        #expect(throws: AppcError.self) { try ACIdentifier(text) }
    }

    @Test func identifierMessages() {
        #expect(throws: AppcError("ACIdentifier cannot be empty")) { try ACIdentifier("") }
        #expect(throws: AppcError(#"ACIdentifier must contain only lower case alphanumeric characters plus "-._~/""#)) {
            try ACIdentifier("Foo")
        }
        #expect(throws: AppcError("ACIdentifier must start and end with only lower case alphanumeric characters")) {
            try ACIdentifier("foo/")
        }
    }

    @Test(arguments: [
        ("foo#", "foo"), ("FOO", "foo"), ("EXAMPLE.com", "example.com"), ("foo.com/BAR", "foo.com/bar"),
        ("/app", "app"), ("app///", "app"), ("-/.app..", "app"), ("-/app.name-test/-/", "app.name-test"),
        ("sub-domain.example.com/org/product/~alice/release-1.0.0", "sub-domain.example.com/org/product/~alice/release-1.0.0"),
    ])
    func sanitizeIdentifier(_ input: String, _ expected: String) throws {
        #expect(try ACIdentifier.sanitize(input) == expected)
    }

    @Test(arguments: ["__", "..", "//", "", ".//-"])
    func sanitizeIdentifierFails(_ input: String) {
        #expect(throws: AppcError.self) { try ACIdentifier.sanitize(input) }
    }

    @Test func names() throws {
        #expect(try ACName("my-app-1").rawValue == "my-app-1")
        for bad in ["", "my_app", "My", "-app", "app-", "a.b", "a/b"] {
            #expect(throws: AppcError.self) { try ACName(bad) }
        }
        #expect(throws: AppcError(#"ACName must contain only lower case alphanumeric characters plus "-""#)) {
            try ACName("a.b")
        }
        #expect(try ACName.sanitize("My_App.1") == "my-app-1")
        #expect(try ACName.sanitize("--X--") == "x")
    }

    @Test func codableValidates() throws {
        let decoded = try JSONDecoder().decode([ACName].self, from: Data(#"["a", "b-c"]"#.utf8))
        #expect(decoded.map(\.rawValue) == ["a", "b-c"])
        #expect(throws: AppcError.self) { try JSONDecoder().decode([ACIdentifier].self, from: Data(#"["OK"]"#.utf8)) }
        let encoded = try JSONEncoder().encode(try ACIdentifier("example.com/app"))
        #expect(String(decoding: encoded, as: UTF8.self) == #""example.com\/app""#
            || String(decoding: encoded, as: UTF8.self) == #""example.com/app""#)
    }
}

@Suite("SemVer and Hash")
struct VersionAndHashTests {
    @Test func semverParsing() throws {
        let version = try SemVer("0.8.11")
        #expect(version == SemVer.appcSpecVersion)
        #expect(version.description == "0.8.11")
        #expect(try SemVer("01.002.3").description == "1.2.3")
        let full = try SemVer("1.0.0-rc.1+build.5")
        #expect(full.preRelease == "rc.1" && full.metadata == "build.5")
        #expect(try SemVer("0.0.0-alpha").preRelease == "alpha")
        // go-semver treats an empty pre-release or metadata as absent (actool agrees).
        #expect(try SemVer("1.2.3-").description == "1.2.3")
        #expect(try SemVer("1.2.3+").description == "1.2.3")
    }

    @Test(arguments: ["", "1", "1.2", "1..3", "a.b.c", "1.2.3-a..b", "1.2.3+a_b", " 1.2.3", "v1.2.3", "1.2.3.4"])
    func badSemver(_ text: String) {
        #expect(throws: AppcError("SemVer is bad")) { try SemVer(text) }
    }

    @Test func zeroSemver() {
        #expect(throws: AppcError("SemVer cannot be zero")) { try SemVer("0.0.0") }
    }

    @Test func semverOrdering() throws {
        let ordered = try ["0.1.0-alpha", "0.1.0-alpha.1", "0.1.0-alpha.beta", "0.1.0-beta", "0.1.0", "0.8.11", "1.0.0"]
            .map { try SemVer($0) }
        #expect(ordered == ordered.sorted())
        #expect(try SemVer("1.0.0") > SemVer("0.99.99"))
    }

    @Test func hashes() throws {
        let hash = try Hash("sha512-abcdefghi")
        #expect(hash.algorithm == "sha512" && hash.value == "abcdefghi")
        #expect(hash.description == "sha512-abcdefghi")
        #expect(throws: AppcError("unrecognized hash type: sha1")) { try Hash("sha1-abcdef") }
        #expect(throws: AppcError("unexpected empty hash type")) { try Hash("-abcdef") }
        #expect(throws: AppcError("unexpected empty hash value")) { try Hash("sha512-") }
        #expect(throws: AppcError("badly formatted hash string")) { try Hash("sha512") }
        #expect(throws: AppcError("badly formatted hash string")) { try Hash("sha512-a-b") }
    }

    @Test func hashFromDigestAndShortForm() {
        let hash = Hash.sha512(digest: [0x00, 0x0f, 0xff])
        #expect(hash.description == "sha512-000fff")
        let long = Hash.sha512(digest: Array(repeating: 0xab, count: 64))
        #expect(long.shortDescription == "sha512-" + String(repeating: "ab", count: 16))
        #expect(Hash.shorten("sha512-abc") == "sha512-abc")
    }
}
