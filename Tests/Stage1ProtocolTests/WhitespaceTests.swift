import Foundation
import Stage1Protocol
import Testing

/// trimmingWhitespace must agree with Foundation's trimmingCharacters, which it replaces.
struct WhitespaceTests {
    static let samples = ["", " ", "\n", "abc", "  abc  ", "\tabc\n", "\n\n0\n", "a b", " a\u{00A0}", "\u{2028}x\u{2029}",
                          "\r\nsha512-abc\r\n", "é ", " \u{3000}日本\u{3000} ", "x\u{0B}\u{0C}", "\u{85}y"]

    @Test(arguments: samples) func agreesWithFoundation(_ text: String) {
        #expect(text.trimmingWhitespace() == text.trimmingCharacters(in: .whitespacesAndNewlines))
        #expect(text.trimmingWhitespace(newlines: false) == text.trimmingCharacters(in: .whitespaces))
        #expect(Substring(text).trimmingWhitespace() == text.trimmingCharacters(in: .whitespacesAndNewlines))
    }
}
