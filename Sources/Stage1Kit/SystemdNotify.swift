import Foundation
import Stage1Protocol

/// sd_notify inside a pod, as rkt did it: an app whose image manifest carries the annotation
/// `appc.io/executor/supports-systemd-notify` = true gets a notification socket of its own
/// (`NOTIFY_SOCKET=/run/systemd/notify` in its view) and the pod is ready only once it has sent
/// `READY=1`. Other apps get no `NOTIFY_SOCKET`.
public enum SystemdNotify {
    public static let annotation = "appc.io/executor/supports-systemd-notify"
    /// Where the app finds its socket (rkt bound the pod's systemd socket at the same path).
    public static let appSocketPath = "/run/systemd/notify"
    public static let variable = "NOTIFY_SOCKET"

    /// Whether the image manifest (JSON) declares sd_notify support. The value is read as Go's
    /// strconv.ParseBool read it for rkt: 1, t, T, TRUE, true, True.
    public static func supportsNotify(imageManifest: Data) -> Bool {
        guard let object = try? JSONSerialization.jsonObject(with: imageManifest) as? [String: Any],
              let annotations = object["annotations"] as? [[String: Any]]
        else { return false }
        // appc forbids duplicate names; should there be some, the last one wins, as rkt's Get.
        guard let entry = annotations.last(where: { $0["name"] as? String == annotation }),
              let value = entry["value"] as? String
        else { return false }
        return ["1", "t", "T", "TRUE", "true", "True"].contains(value)
    }

    /// The app's environment with `NOTIFY_SOCKET` removed (one inherited from the host through
    /// `--inherit-env`, or set by the image, would name a socket the app cannot reach) and, for an
    /// app that supports sd_notify, set to its own socket.
    public static func environment(_ environment: [NameValue], supportsNotify: Bool) -> [NameValue] {
        var out = environment.filter { $0.name != variable }
        if supportsNotify { out.append(NameValue(name: variable, value: appSocketPath)) }
        return out
    }
}
