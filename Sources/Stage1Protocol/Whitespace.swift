// Public: stage0 trims with it on the pod start path too (RktPods, RktCommands).
extension StringProtocol {
    /// The text without leading and trailing whitespace (newlines included unless `newlines` is
    /// false), as `trimmingCharacters(in: .whitespacesAndNewlines)` or `(in: .whitespaces)` gives
    /// it, without Foundation's CharacterSet: its first use costs about half a millisecond in a
    /// static binary, a measurable part of starting a pod.
    public func trimmingWhitespace(newlines: Bool = true) -> String {
        func isSpace(_ scalar: Unicode.Scalar) -> Bool {
            scalar.properties.isWhitespace && (newlines || !(scalar.properties.generalCategory == .lineSeparator
                || scalar.properties.generalCategory == .paragraphSeparator || (scalar.value >= 0x0A && scalar.value <= 0x0D)
                || scalar.value == 0x85))
        }
        let text = String(self)
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !isSpace($0) }) else { return "" }
        let last = scalars.lastIndex(where: { !isSpace($0) })!
        return String(scalars[first...last])
    }
}
