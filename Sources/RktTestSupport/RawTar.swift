import Foundation

/// A deliberately naive ustar/pax writer for fixtures: it writes whatever it is told, including
/// headers libarchive's writer would refuse (escaping or absolute names, links to anywhere,
/// duplicates, wrong checksums), so the readers' defences can be tested.
public struct RawTar: Sendable {
    public enum TypeFlag: UInt8, Sendable {
        case regular = 0x30      // '0'
        case hardlink = 0x31     // '1'
        case symlink = 0x32      // '2'
        case characterDevice = 0x33
        case blockDevice = 0x34
        case directory = 0x35
        case fifo = 0x36
        case paxHeader = 0x78    // 'x'
        case paxGlobal = 0x67    // 'g'
    }

    public struct Header: Sendable {
        public var name: [UInt8]
        public var type: TypeFlag
        public var mode: UInt32
        public var uid: UInt32 = 0
        public var gid: UInt32 = 0
        /// The size field; nil means "the length of the contents".
        public var size: Int? = nil
        public var mtime: Int = 1_500_000_000
        public var linkName: [UInt8] = []
        public var devMajor: UInt32 = 0
        public var devMinor: UInt32 = 0
        public var uname: String = ""
        public var gname: String = ""
        /// Write a checksum that does not match the header.
        public var corruptChecksum = false

        public init(name: String, type: TypeFlag, mode: UInt32) {
            self.name = Array(name.utf8)
            self.type = type
            self.mode = mode
        }

        public init(rawName: [UInt8], type: TypeFlag, mode: UInt32) {
            self.name = rawName
            self.type = type
            self.mode = mode
        }
    }

    public private(set) var bytes = Data()

    public init() {}

    /// Appends a header and its contents (padded to 512). Names or link names over 100 bytes get a
    /// pax record first, as real writers do; `pax` adds arbitrary extra records.
    public mutating func append(_ header: Header, contents: Data = Data(), pax: [(String, String)] = []) {
        var records = pax
        if header.name.count > 100 { records.append(("path", String(decoding: header.name, as: UTF8.self))) }
        if header.linkName.count > 100 { records.append(("linkpath", String(decoding: header.linkName, as: UTF8.self))) }
        if !records.isEmpty {
            var body = Data()
            for (key, value) in records { body.append(Self.paxRecord(key, value)) }
            var paxHeader = Header(name: "PaxHeaders/" + String(decoding: header.name.suffix(80), as: UTF8.self), type: .paxHeader, mode: 0o644)
            paxHeader.name = Array(paxHeader.name.prefix(100))
            appendBlock(paxHeader, size: body.count)
            appendPadded(body)
        }
        appendBlock(header, size: header.size ?? contents.count)
        appendPadded(contents)
    }

    public mutating func file(_ name: String, _ contents: Data, mode: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0) {
        var h = Header(name: name, type: .regular, mode: mode)
        h.uid = uid
        h.gid = gid
        append(h, contents: contents)
    }

    public mutating func file(_ name: String, _ contents: String, mode: UInt32 = 0o644, uid: UInt32 = 0, gid: UInt32 = 0) {
        file(name, Data(contents.utf8), mode: mode, uid: uid, gid: gid)
    }

    public mutating func directory(_ name: String, mode: UInt32 = 0o755, uid: UInt32 = 0, gid: UInt32 = 0) {
        var h = Header(name: name.hasSuffix("/") ? name : name + "/", type: .directory, mode: mode)
        h.uid = uid
        h.gid = gid
        append(h)
    }

    public mutating func symlink(_ name: String, to target: String) {
        var h = Header(name: name, type: .symlink, mode: 0o777)
        h.linkName = Array(target.utf8)
        append(h)
    }

    public mutating func hardlink(_ name: String, to target: String) {
        var h = Header(name: name, type: .hardlink, mode: 0o644)
        h.linkName = Array(target.utf8)
        append(h)
    }

    public mutating func device(_ name: String, character: Bool = true, major: UInt32, minor: UInt32, mode: UInt32 = 0o666) {
        var h = Header(name: name, type: character ? .characterDevice : .blockDevice, mode: mode)
        h.devMajor = major
        h.devMinor = minor
        append(h)
    }

    public mutating func fifo(_ name: String, mode: UInt32 = 0o644) {
        append(Header(name: name, type: .fifo, mode: mode))
    }

    /// The end-of-archive marker (two zero blocks), padded to a 10240-byte record like tar(1).
    public mutating func finish() {
        bytes.append(Data(count: 1024))
        let remainder = bytes.count % 10240
        if remainder != 0 { bytes.append(Data(count: 10240 - remainder)) }
    }

    /// Raw bytes, e.g. garbage between entries.
    public mutating func appendRaw(_ data: Data) {
        bytes.append(data)
    }

    public static func paxRecord(_ key: String, _ value: String) -> Data {
        let body = " \(key)=\(value)\n"
        let bodyLength = body.utf8.count
        var length = bodyLength + 1
        while String(length).count + bodyLength != length { length += 1 }
        return Data((String(length) + body).utf8)
    }

    private mutating func appendBlock(_ header: Header, size: Int) {
        var block = [UInt8](repeating: 0, count: 512)
        func put(_ bytes: [UInt8], at offset: Int, max: Int) {
            for (i, b) in bytes.prefix(max).enumerated() { block[offset + i] = b }
        }
        func octal(_ value: Int, at offset: Int, width: Int) {
            let digits = String(value, radix: 8)
            let padded = String(repeating: "0", count: Swift.max(0, width - 1 - digits.count)) + digits
            put(Array(padded.utf8), at: offset, max: width - 1)
        }
        put(header.name, at: 0, max: 100)
        octal(Int(header.mode), at: 100, width: 8)
        octal(Int(header.uid), at: 108, width: 8)
        octal(Int(header.gid), at: 116, width: 8)
        octal(size, at: 124, width: 12)
        octal(header.mtime, at: 136, width: 12)
        block[156] = header.type.rawValue
        put(header.linkName, at: 157, max: 100)
        put(Array("ustar\0".utf8), at: 257, max: 6)
        put(Array("00".utf8), at: 263, max: 2)
        put(Array(header.uname.utf8), at: 265, max: 31)
        put(Array(header.gname.utf8), at: 297, max: 31)
        octal(Int(header.devMajor), at: 329, width: 8)
        octal(Int(header.devMinor), at: 337, width: 8)
        for i in 148..<156 { block[i] = 0x20 }
        var sum = block.reduce(0) { $0 + Int($1) }
        if header.corruptChecksum { sum += 1 }
        let digits = String(sum, radix: 8)
        put(Array((String(repeating: "0", count: Swift.max(0, 6 - digits.count)) + digits).utf8), at: 148, max: 6)
        block[154] = 0
        block[155] = 0x20
        bytes.append(contentsOf: block)
    }

    private mutating func appendPadded(_ data: Data) {
        bytes.append(data)
        let remainder = data.count % 512
        if remainder != 0 { bytes.append(Data(count: 512 - remainder)) }
    }
}
