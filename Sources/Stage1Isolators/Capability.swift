#if canImport(Glibc)
import Glibc
#endif
import CCap

/// Linux capabilities by name, through libcap, and as 64-bit masks (bit n = capability n).
public enum Capability {
    /// rkt's default bounding set for apps (the appc spec's default list).
    public static let rktDefaultSet: [String] = [
        "CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_KILL",
        "CAP_MKNOD", "CAP_NET_RAW", "CAP_NET_BIND_SERVICE", "CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP",
        "CAP_SETFCAP", "CAP_SYS_CHROOT",
    ]

    /// The number of a capability named `CAP_NET_ADMIN` or `NET_ADMIN` (any case); nil if libcap does
    /// not know the name. Numbers are refused: isolators name capabilities.
    public static func number(_ name: String) -> Int? {
        var bare = name.uppercased()
        if bare.hasPrefix("CAP_") { bare.removeFirst(4) }
        guard !bare.isEmpty, bare.allSatisfy({ $0 == "_" || ($0.isASCII && $0.isLetter) || ($0.isASCII && $0.isNumber) }),
              bare.contains(where: { $0.isLetter })
        else { return nil }
        var value: cap_value_t = 0
        guard cap_from_name("cap_" + bare.lowercased(), &value) == 0, value >= 0, value < 64 else { return nil }
        return Int(value)
    }

    /// The canonical name (`CAP_NET_ADMIN`) of a capability number, or `CAP_<n>` if libcap has none.
    public static func name(_ number: Int) -> String {
        guard let raw = cap_to_name(cap_value_t(number)) else { return "CAP_\(number)" }
        defer { cap_free(raw) }
        let name = String(cString: raw).uppercased()
        return Int(name) != nil ? "CAP_\(number)" : name
    }

    /// The mask of a list of names; throws naming the first unknown one.
    public static func mask(_ names: [String], isolator: String) throws(IsolationError) -> UInt64 {
        var mask: UInt64 = 0
        for name in names {
            guard let number = number(name) else {
                throw IsolationError(isolator: isolator, "unknown capability \"\(name)\"")
            }
            mask |= 1 << UInt64(number)
        }
        return mask
    }

    /// The canonical names of the capabilities in a mask, in number order.
    public static func names(in mask: UInt64) -> [String] {
        (0..<64).filter { mask & (1 << UInt64($0)) != 0 }.map(name)
    }

    /// Every capability the running kernel knows (what `--insecure-options=capabilities` grants).
    /// libcap asks the kernel (cap_last_cap); the fallback is this libcap's compile-time count.
    public static var allMask: UInt64 {
        let count = Int(cap_max_bits())
        guard count > 0 else { return UInt64.max }
        return count >= 64 ? UInt64.max : (UInt64(1) << UInt64(count)) - 1
    }

    /// The default set as a mask.
    public static let rktDefaultMask: UInt64 = {
        // The names are fixed and known to every libcap since 2.x; an unknown one would be a typo here.
        (try? mask(rktDefaultSet, isolator: "default capabilities")) ?? 0
    }()
}
