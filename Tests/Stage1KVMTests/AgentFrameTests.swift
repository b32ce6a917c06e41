// Unit tests of stage1-kvm's pure logic: the agent protocol's frames (the same bytes
// GuestInit/init.c reads and writes) and the VM's size from the apps' isolators. No root, no VM.
import Glibc
import Stage1Isolators
import Testing
@testable import stage1_kvm

@Suite struct AgentFrameTests {
    @Test func aFrameIsKindSessionLengthThenPayloadBigEndian() {
        let frame = AgentFrame(.stdout, session: 0x0102_0304, payload: Array("hi".utf8))
        #expect(frame.bytes == [0x4F, 1, 2, 3, 4, 0, 0, 0, 2, 0x68, 0x69])
        #expect(AgentFrame(.stop).bytes == [0x53, 0, 0, 0, 0, 0, 0, 0, 0])
    }

    @Test func theDecoderReassemblesFramesSplitAnywhere() {
        let frames = [
            AgentFrame(.open, session: 7, payload: AgentFrame.openPayload(app: "web", tty: true, rows: 24, columns: 80, command: ["/bin/sh", "-c", "echo"])),
            AgentFrame(.input, session: 7),
            AgentFrame(.exit, session: 300, payload: Array("143".utf8)),
        ]
        let stream = frames.flatMap(\.bytes)
        for chunk in [1, 2, 5, 9, 10, stream.count] {
            var decoder = AgentFrameDecoder()
            var decoded: [AgentFrame] = []
            var offset = 0
            while offset < stream.count {
                decoder.feed(stream[offset..<min(offset + chunk, stream.count)])
                offset += chunk
                while let frame = decoder.next() { decoded.append(frame) }
            }
            #expect(decoded == frames, "chunks of \(chunk)")
        }
    }

    @Test func anOpenPayloadIsNULTerminatedFields() {
        let payload = AgentFrame.openPayload(app: "a", tty: false, rows: 0, columns: 0, command: ["/bin/echo", "x y"])
        #expect(payload == Array("a\u{0}0\u{0}0\u{0}0\u{0}/bin/echo\u{0}x y\u{0}".utf8))
    }

    @Test func anImpossibleLengthPutsTheDecoderOutOfStep() {
        var decoder = AgentFrameDecoder()
        decoder.feed([0x4F, 0, 0, 0, 1, 0xFF, 0xFF, 0xFF, 0xFF])
        #expect(decoder.next() == nil)
        #expect(decoder.outOfStep)
    }
}

@Suite struct GuestSizeTests {
    func app(memory: Int64? = nil, cpu: Int64? = nil) -> GuestIsolation.App {
        GuestIsolation.App(name: "a", isolation: AppIsolation(memoryLimitBytes: memory, cpuQuotaMillicores: cpu), seccompBPF: nil)
    }

    @Test func memoryLimitsSumWithAnOverheadAndAFloor() throws {
        // RKT_KVM_MEMORY_MIB overrides everything; these expectations hold without it.
        guard KVM.environment("RKT_KVM_MEMORY_MIB") == nil else { return }
        #expect(GuestIsolation.memoryMiB([app(), app()]) == 256)
        #expect(GuestIsolation.memoryMiB([app(memory: 320 << 20)]) == 448)
        // An app without a limit counts 128 MiB once another has one.
        #expect(GuestIsolation.memoryMiB([app(memory: 512 << 20), app()]) == 512 + 128 + 128)
        // Small limits still get the default size; a partial MiB rounds up.
        #expect(GuestIsolation.memoryMiB([app(memory: 16 << 20)]) == 256)
        #expect(GuestIsolation.memoryMiB([app(memory: (200 << 20) + 1)]) == 201 + 128)
    }

    @Test func cpuLimitsRoundUpToVCPUs() {
        guard KVM.environment("RKT_KVM_CPUS") == nil else { return }
        #expect(GuestIsolation.cpus([app()]) == 1)
        #expect(GuestIsolation.cpus([app(cpu: 500)]) == 1)
        #expect(GuestIsolation.cpus([app(cpu: 500), app(cpu: 600)]) == min(2, hostCPUs))
    }

    var hostCPUs: Int { max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN)))) }
}
