import Foundation
import Logging

/// Writes log lines to stderr as `label: message key=value`, the way rkt prefixes by layer.
struct StderrLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .warning
    var metadata: Logger.Metadata = [:]

    init(label: String) { self.label = label }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let extra = event.metadata { merged.merge(extra) { $1 } }
        let details = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        let prefix = label.split(separator: ".").last.map(String.init) ?? label
        let line = "\(prefix): \(event.level <= .debug ? "" : "\(event.level): ")\(event.message)\(details.isEmpty ? "" : " " + details)\n"
        FileHandle.standardError.write(Data(line.utf8))
    }
}
