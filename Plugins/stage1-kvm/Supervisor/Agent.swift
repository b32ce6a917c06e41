import Glibc
import Stage1Kit

/// The frames of the agent protocol (Documentation/stage1-kvm.md, "The agent protocol"), spoken on
/// the `rkt.agent` and `rkt.output` virtio-serial channels with the guest init
/// (GuestInit/init.c) and on the pod's control socket between `enter` and the supervisor: a 9-byte
/// header, kind (1 byte), session (u32, big endian), payload length (u32, big endian), then the
/// payload.
struct AgentFrame: Equatable {
    enum Kind: UInt8 {
        /// host → guest: stop the pod (SIGTERM to the apps, SIGKILL after a grace period).
        case stop = 0x53  // S
        /// host → guest: start an enter session: app NUL tty NUL rows NUL cols NUL argv... (each NUL-terminated).
        case open = 0x4E  // N
        /// host → guest: the session's stdin; an empty payload ends it.
        case input = 0x49  // I
        /// host → guest: the session's terminal size, "rows cols".
        case windowSize = 0x57  // W
        /// host → guest: a signal number for the session's process group.
        case signal = 0x4B  // K
        /// guest → host: the apps are started; sessions may be opened.
        case ready = 0x52  // R
        /// guest → host: stdout (of a session on `rkt.agent`, of app number `session` on `rkt.output`).
        case stdout = 0x4F  // O
        /// guest → host: stderr, likewise.
        case stderr = 0x45  // E
        /// guest → host: the session's command ended with this status (decimal).
        case exit = 0x58  // X
        /// guest → host: the session could not start (text).
        case failed = 0x46  // F
    }

    static let headerSize = 9
    /// Larger frames mean the stream is out of step (the guest sends at most 32 KiB at a time).
    static let maximumPayload = 1 << 20

    var kind: UInt8
    var session: UInt32
    var payload: [UInt8]

    init(_ kind: Kind, session: UInt32 = 0, payload: [UInt8] = []) {
        self.kind = kind.rawValue
        self.session = session
        self.payload = payload
    }

    init(kind: UInt8, session: UInt32, payload: [UInt8]) {
        self.kind = kind
        self.session = session
        self.payload = payload
    }

    var knownKind: Kind? { Kind(rawValue: kind) }
    var text: String { String(decoding: payload, as: UTF8.self) }

    var bytes: [UInt8] {
        let length = UInt32(payload.count)
        var out: [UInt8] = [kind]
        out.reserveCapacity(Self.headerSize + payload.count)
        for shift in [24, 16, 8, 0] { out.append(UInt8(truncatingIfNeeded: session >> UInt32(shift))) }
        for shift in [24, 16, 8, 0] { out.append(UInt8(truncatingIfNeeded: length >> UInt32(shift))) }
        return out + payload
    }

    /// The payload of an `open` frame.
    static func openPayload(app: String, tty: Bool, rows: Int, columns: Int, command: [String]) -> [UInt8] {
        ([app, tty ? "1" : "0", String(rows), String(columns)] + command).flatMap { Array($0.utf8) + [0] }
    }
}

/// Splits a byte stream into frames.
struct AgentFrameDecoder {
    private var buffer: [UInt8] = []
    private var start = 0
    /// Set when a header announced an impossible length: the stream cannot be trusted any more.
    private(set) var outOfStep = false

    mutating func feed<Bytes: Collection>(_ bytes: Bytes) where Bytes.Element == UInt8 {
        if start > 65536 && start * 2 > buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    mutating func next() -> AgentFrame? {
        guard !outOfStep, buffer.count - start >= AgentFrame.headerSize else { return nil }
        func word(_ at: Int) -> UInt32 {
            (0..<4).reduce(UInt32(0)) { $0 << 8 | UInt32(buffer[start + at + $1]) }
        }
        let session = word(1), length = Int(word(5))
        guard length <= AgentFrame.maximumPayload else {
            outOfStep = true
            return nil
        }
        guard buffer.count - start - AgentFrame.headerSize >= length else { return nil }
        let payloadStart = start + AgentFrame.headerSize
        let frame = AgentFrame(kind: buffer[start], session: session, payload: Array(buffer[payloadStart..<payloadStart + length]))
        start = payloadStart + length
        if start == buffer.count {
            buffer.removeAll(keepingCapacity: true)
            start = 0
        }
        return frame
    }
}

/// One end of a stream socket carrying frames, non-blocking: writes that would block wait in
/// `outgoing` until the poll loop says the socket is writable, so the supervisor never blocks on a
/// slow peer (and a guest that does not read cannot stall the others).
final class FrameConnection {
    let fd: Int32
    private var decoder = AgentFrameDecoder()
    private var outgoing: [UInt8] = []
    /// Closed by the peer or by an error; nothing more is read or written.
    private(set) var closed = false
    /// Close once everything queued is written.
    var closeWhenFlushed = false

    init(fd: Int32) {
        self.fd = fd
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
    }

    var wantsToWrite: Bool { !closed && !outgoing.isEmpty }
    var finished: Bool { closed || (closeWhenFlushed && outgoing.isEmpty) }

    func send(_ frame: AgentFrame) {
        guard !closed else { return }
        outgoing += frame.bytes
        flush()
    }

    /// Writes what the socket takes now.
    func flush() {
        while !closed && !outgoing.isEmpty {
            let n = outgoing.withUnsafeBytes { write(fd, $0.baseAddress!, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == EAGAIN { return }
                closed = true
                return
            }
            outgoing.removeFirst(n)
        }
    }

    /// Reads what is there and returns the complete frames; sets `closed` at end of stream.
    func receive() -> [AgentFrame] {
        guard !closed else { return [] }
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = read(fd, &buffer, buffer.count)
            if n > 0 {
                decoder.feed(buffer[0..<n])
                if n < buffer.count { break }
                continue
            }
            if n < 0 && errno == EINTR { continue }
            if n < 0 && errno == EAGAIN { break }
            closed = true
            break
        }
        var frames: [AgentFrame] = []
        while let frame = decoder.next() { frames.append(frame) }
        if decoder.outOfStep { closed = true }
        return frames
    }

    private var released = false

    /// Releases the descriptor (once).
    func close() {
        if !released { Glibc.close(fd) }
        released = true
        closed = true
    }
}
