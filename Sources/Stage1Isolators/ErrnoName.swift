#if canImport(Glibc)
import Glibc
#endif

/// Errno names, as the seccomp isolators' `errno` field spells them (`EPERM`), and their numbers on
/// this platform.
public enum ErrnoName {
    /// The number for a name such as `EPERM` or `ENOSYS`; nil for names this platform does not have.
    public static func number(_ name: String) -> Int32? { table[name] }

    /// The name for a number (the first of aliases such as EAGAIN/EWOULDBLOCK).
    public static func name(of number: Int32) -> String? {
        byNumber[number]
    }

    private static let byNumber: [Int32: String] = {
        var result: [Int32: String] = [:]
        for (name, number) in ordered where result[number] == nil { result[number] = name }
        return result
    }()

    private static let table: [String: Int32] = Dictionary(ordered, uniquingKeysWith: { first, _ in first })

    // Order matters only for aliases: the first spelling wins in `name(of:)`.
    private static let ordered: [(String, Int32)] = [
        ("EPERM", EPERM), ("ENOENT", ENOENT), ("ESRCH", ESRCH), ("EINTR", EINTR), ("EIO", EIO),
        ("ENXIO", ENXIO), ("E2BIG", E2BIG), ("ENOEXEC", ENOEXEC), ("EBADF", EBADF), ("ECHILD", ECHILD),
        ("EAGAIN", EAGAIN), ("EWOULDBLOCK", EWOULDBLOCK), ("ENOMEM", ENOMEM), ("EACCES", EACCES),
        ("EFAULT", EFAULT), ("ENOTBLK", ENOTBLK), ("EBUSY", EBUSY), ("EEXIST", EEXIST), ("EXDEV", EXDEV),
        ("ENODEV", ENODEV), ("ENOTDIR", ENOTDIR), ("EISDIR", EISDIR), ("EINVAL", EINVAL), ("ENFILE", ENFILE),
        ("EMFILE", EMFILE), ("ENOTTY", ENOTTY), ("ETXTBSY", ETXTBSY), ("EFBIG", EFBIG), ("ENOSPC", ENOSPC),
        ("ESPIPE", ESPIPE), ("EROFS", EROFS), ("EMLINK", EMLINK), ("EPIPE", EPIPE), ("EDOM", EDOM),
        ("ERANGE", ERANGE), ("EDEADLK", EDEADLK), ("EDEADLOCK", EDEADLOCK), ("ENAMETOOLONG", ENAMETOOLONG),
        ("ENOLCK", ENOLCK), ("ENOSYS", ENOSYS), ("ENOTEMPTY", ENOTEMPTY), ("ELOOP", ELOOP), ("ENOMSG", ENOMSG),
        ("EIDRM", EIDRM), ("ECHRNG", ECHRNG), ("EL2NSYNC", EL2NSYNC), ("EL3HLT", EL3HLT), ("EL3RST", EL3RST),
        ("ELNRNG", ELNRNG), ("EUNATCH", EUNATCH), ("ENOCSI", ENOCSI), ("EL2HLT", EL2HLT), ("EBADE", EBADE),
        ("EBADR", EBADR), ("EXFULL", EXFULL), ("ENOANO", ENOANO), ("EBADRQC", EBADRQC), ("EBADSLT", EBADSLT),
        ("EBFONT", EBFONT), ("ENOSTR", ENOSTR), ("ENODATA", ENODATA), ("ETIME", ETIME), ("ENOSR", ENOSR),
        ("ENONET", ENONET), ("ENOPKG", ENOPKG), ("EREMOTE", EREMOTE), ("ENOLINK", ENOLINK), ("EADV", EADV),
        ("ESRMNT", ESRMNT), ("ECOMM", ECOMM), ("EPROTO", EPROTO), ("EMULTIHOP", EMULTIHOP), ("EDOTDOT", EDOTDOT),
        ("EBADMSG", EBADMSG), ("EOVERFLOW", EOVERFLOW), ("ENOTUNIQ", ENOTUNIQ), ("EBADFD", EBADFD),
        ("EREMCHG", EREMCHG), ("ELIBACC", ELIBACC), ("ELIBBAD", ELIBBAD), ("ELIBSCN", ELIBSCN),
        ("ELIBMAX", ELIBMAX), ("ELIBEXEC", ELIBEXEC), ("EILSEQ", EILSEQ), ("ERESTART", ERESTART),
        ("ESTRPIPE", ESTRPIPE), ("EUSERS", EUSERS), ("ENOTSOCK", ENOTSOCK), ("EDESTADDRREQ", EDESTADDRREQ),
        ("EMSGSIZE", EMSGSIZE), ("EPROTOTYPE", EPROTOTYPE), ("ENOPROTOOPT", ENOPROTOOPT),
        ("EPROTONOSUPPORT", EPROTONOSUPPORT), ("ESOCKTNOSUPPORT", ESOCKTNOSUPPORT), ("EOPNOTSUPP", EOPNOTSUPP),
        ("ENOTSUP", ENOTSUP), ("EPFNOSUPPORT", EPFNOSUPPORT), ("EAFNOSUPPORT", EAFNOSUPPORT),
        ("EADDRINUSE", EADDRINUSE), ("EADDRNOTAVAIL", EADDRNOTAVAIL), ("ENETDOWN", ENETDOWN),
        ("ENETUNREACH", ENETUNREACH), ("ENETRESET", ENETRESET), ("ECONNABORTED", ECONNABORTED),
        ("ECONNRESET", ECONNRESET), ("ENOBUFS", ENOBUFS), ("EISCONN", EISCONN), ("ENOTCONN", ENOTCONN),
        ("ESHUTDOWN", ESHUTDOWN), ("ETOOMANYREFS", ETOOMANYREFS), ("ETIMEDOUT", ETIMEDOUT),
        ("ECONNREFUSED", ECONNREFUSED), ("EHOSTDOWN", EHOSTDOWN), ("EHOSTUNREACH", EHOSTUNREACH),
        ("EALREADY", EALREADY), ("EINPROGRESS", EINPROGRESS), ("ESTALE", ESTALE), ("EUCLEAN", EUCLEAN),
        ("ENOTNAM", ENOTNAM), ("ENAVAIL", ENAVAIL), ("EISNAM", EISNAM), ("EREMOTEIO", EREMOTEIO),
        ("EDQUOT", EDQUOT), ("ENOMEDIUM", ENOMEDIUM), ("EMEDIUMTYPE", EMEDIUMTYPE), ("ECANCELED", ECANCELED),
        ("ENOKEY", ENOKEY), ("EKEYEXPIRED", EKEYEXPIRED), ("EKEYREVOKED", EKEYREVOKED),
        ("EKEYREJECTED", EKEYREJECTED), ("EOWNERDEAD", EOWNERDEAD), ("ENOTRECOVERABLE", ENOTRECOVERABLE),
        ("ERFKILL", ERFKILL), ("EHWPOISON", EHWPOISON),
    ]
}
