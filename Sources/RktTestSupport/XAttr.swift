#if canImport(Glibc)
import Glibc
#endif

/// Extended attributes for tests. Swift's Glibc module does not include <sys/xattr.h>, so the
/// libc functions are looked up at run time.
public enum XAttr {
    private typealias SetFunction = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeRawPointer?, Int, Int32) -> Int32
    private typealias GetFunction = @convention(c) (UnsafePointer<CChar>, UnsafePointer<CChar>, UnsafeMutableRawPointer?, Int) -> Int

    /// lsetxattr(2); returns errno on failure (0 on success).
    public static func set(_ path: String, name: String, value: [UInt8]) -> Int32 {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "lsetxattr") else { return ENOSYS }
        let function = unsafeBitCast(symbol, to: SetFunction.self)
        let result = value.withUnsafeBytes { function(path, name, $0.baseAddress, $0.count, 0) }
        return result == 0 ? 0 : errno
    }

    /// lgetxattr(2); nil when the attribute is absent or unreadable.
    public static func get(_ path: String, name: String) -> [UInt8]? {
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "lgetxattr") else { return nil }
        let function = unsafeBitCast(symbol, to: GetFunction.self)
        var buffer = [UInt8](repeating: 0, count: 65536)
        let n = buffer.withUnsafeMutableBytes { function(path, name, $0.baseAddress, $0.count) }
        return n >= 0 ? Array(buffer.prefix(n)) : nil
    }
}
