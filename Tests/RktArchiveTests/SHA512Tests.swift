import Foundation
import RktArchive
import RktTestSupport
import Testing

@Suite struct SHA512Tests {
    @Test(arguments: [
        ("", "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"),
        ("abc", "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "204a8fc6dda82f0a0ced7beb8e08a41657c16ef468b228a8279be331a703c33596fd15c13b1b07f9aa1d3bea57789ca031ad85c7a71dd70354ec631238ca3445"),
        ("abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu", "8e959b75dae313da8cf4f72814fc143f8f7779c6eb9f7fa17299aeadb6889018501d289e4900f7e4331b99dec4b5433ac7d329eeb6dd26545e96e55b874be909"),
    ])
    func knownVectors(input: String, expected: String) {
        #expect(StreamingDigest.hex(of: Data(input.utf8)) == expected)
        #expect(StreamingDigest.sha512HexWithoutConfig(of: Data(input.utf8)) == expected)
    }

    @Test func millionAsInUnevenChunks() {
        var hasher = StreamingDigest()
        let chunk = Data(repeating: 0x61, count: 999)
        var remaining = 1_000_000
        while remaining > 0 {
            let n = min(remaining, chunk.count)
            hasher.update(chunk.prefix(n))
            remaining -= n
        }
        let expected = "e718483d0ce769644e2e42c7bc15b4638e1f98b13b2044285632a803afa973ebde0ff244877ea60a4cb0432ce577c31beb009c5c2c49aa2e4eadb217ad8cc09b"
        #expect(hasher.finalizeHex() == expected)
        #expect(hasher.finalizeHex() == expected, "finalizing twice gives the same digest")
    }

    @Test func copiesForkTheState() {
        var a = StreamingDigest()
        a.update(Data("ab".utf8))
        var b = a
        a.update(Data("c".utf8))
        b.update(Data("d".utf8))
        #expect(a.finalizeHex() == StreamingDigest.hex(of: Data("abc".utf8)))
        #expect(b.finalizeHex() == StreamingDigest.hex(of: Data("abd".utf8)))
    }

    @Test func matchesSha512sumOfAFile() throws {
        let dir = try TemporaryDirectory()
        let data = TestACI.garbage(count: 3_000_001)
        try TestACI.write(data, to: dir.path + "/blob")
        guard let expected = try sha512sum(dir.path + "/blob") else {
            print("skipping: sha512sum not available")
            return
        }
        var hasher = StreamingDigest()
        data.withUnsafeBytes { hasher.update($0) }
        let digest = hasher.finalizeHex()
        #expect(digest == expected)
        #expect(digest.count == 128 && digest == digest.lowercased())
    }
}
