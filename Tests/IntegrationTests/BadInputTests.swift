import Foundation
import RktTestSupport
import Testing

/// Malformed and malicious images through `rkt fetch`: each fails with one clear line and exit
/// 254, and the store is left empty: no image, blob, manifest, tree or temporary file.
@Suite struct BadInputTests {
    struct Case: Sendable, CustomStringConvertible {
        let name: String
        let bytes: Data
        let fragment: String
        var description: String { name }
    }

    /// The archive layer's malicious table plus archives whose manifest is not valid appc.
    static let cases: [Case] = {
        var cases = TestACI.maliciousCases().map { Case(name: $0.name, bytes: $0.bytes, fragment: $0.expectedMessageFragment) }
        let manifests: [(String, String, String)] = [
            ("manifest is not JSON", "{not json", "invalid image manifest"),
            ("manifest of the wrong kind", #"{"acKind":"PodManifest","acVersion":"0.8.11","apps":[]}"#, "ImageManifest"),
            ("manifest without a name", #"{"acKind":"ImageManifest","acVersion":"0.8.11"}"#, "invalid image manifest"),
            ("manifest with an upper-case name", #"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"Example.com/Bad"}"#, "ACIdentifier"),
            ("manifest with an unknown arch", #"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x","labels":[{"name":"os","value":"linux"},{"name":"arch","value":"vax"}]}"#, "arch"),
            ("manifest with a bad quantity", #"{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/x","app":{"exec":["/bin/sh"],"user":"0","group":"0","isolators":[{"name":"resource/memory","value":{"limit":"lots"}}]}}"#, "invalid image manifest"),
        ]
        for (name, manifest, fragment) in manifests {
            cases.append(Case(name: name, bytes: TestACI.busyboxLikeTar(manifest: manifest), fragment: fragment))
        }
        return cases
    }()

    @Test(arguments: cases)
    func rejectedWithOneLineAndAnEmptyStore(_ bad: Case) throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let file = rkt.root + "/bad.aci"
        try bad.bytes.write(to: URL(fileURLWithPath: file))
        let sentinel = rkt.root + "/escape"
        let result = try rkt.run(["fetch", "--insecure-options=image", file])
        #expect(result.status == 254, "\(bad.name): exit \(result.status)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(bad.name): \(result.stderr)")
        #expect(result.stderr.contains(bad.fragment), "\(bad.name): \(result.stderr)")
        #expect(result.stdout.isEmpty)
        #expect(rkt.storeFiles().isEmpty, "\(bad.name) left \(rkt.storeFiles())")
        #expect(try rkt.ok(["image", "list", "--no-legend"]).lines.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: sentinel))
        #expect(!FileManager.default.fileExists(atPath: "/etc/rkt-test-evil"))
    }

    @Test func atLeastTwentyCases() {
        #expect(Self.cases.count >= 20)
    }
}

/// Many rkt processes on one store, and rkt killed in the middle of an import.
@Suite struct StoreConsistencyTests {
    @Test func parallelFetchesFromSeparateProcesses() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        let images = ["busybox.aci", "busybox.aci.gz", "busybox.aci.xz", "hello.aci", "hello.aci.gz", "actool-built.aci"]
        var fetches: [Subprocess.Background] = []
        for i in 0..<12 {
            fetches.append(try Subprocess.start(
                [rkt.binary, "--dir=\(rkt.dataDir)", "--insecure-options=image", "fetch", RktRunner.image(images[i % images.count])],
                outputFile: "/dev/null"))
        }
        let statuses = fetches.map { $0.wait(timeout: 300) }
        for fetch in fetches { fetch.stop(grace: 0) }
        #expect(statuses.allSatisfy { $0 == 0 }, "\(statuses)")
        #expect(try rkt.ok(["image", "list", "--no-legend", "--fields=name"]).lines.count == 3)
        let tmp = try FileManager.default.contentsOfDirectory(atPath: rkt.dataDir + "/cas/tmp")
        #expect(tmp.isEmpty, "\(tmp)")
    }

    /// Several processes opening a store that does not exist yet: the first ones create the index
    /// while the others switch it to WAL (which once failed with "database is locked").
    @Test func concurrentFirstCommandsOnAFreshStore() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        var failures: [String] = []
        for round in 0..<10 {
            let dir = rkt.root + "/fresh-\(round)"
            let fetches = try (0..<4).map { i in
                try Subprocess.start([rkt.binary, "--dir=\(dir)", "--insecure-options=image", "fetch", RktRunner.image("busybox.aci")],
                                     outputFile: rkt.root + "/fresh-\(round)-\(i).out")
            }
            for (i, fetch) in fetches.enumerated() where fetch.wait(timeout: 300) != 0 {
                fetch.stop(grace: 0)
                failures.append((try? String(contentsOfFile: rkt.root + "/fresh-\(round)-\(i).out", encoding: .utf8)) ?? "round \(round)")
            }
        }
        #expect(failures.isEmpty, "\(failures)")
    }

    @Test func killedImportLeavesNoVisibleImageAndGCCleansUp() throws {
        guard let rkt = RktRunner.make() else { return }
        defer { rkt.cleanup() }
        // A large, slow-to-decompress image so the kill lands mid-import.
        let big = rkt.root + "/big.aci.xz"
        let layout = rkt.root + "/layout"
        try FileManager.default.createDirectory(atPath: layout + "/rootfs", withIntermediateDirectories: true)
        try TestACI.validManifestJSON(name: "example.com/big").write(toFile: layout + "/manifest", atomically: true, encoding: .utf8)
        try TestACI.garbage(count: 96 << 20).write(to: URL(fileURLWithPath: layout + "/rootfs/blob"))
        try shell("tar -C '\(layout)' -cf - manifest rootfs | xz -0 -T1 > '\(big)'")

        var killedMidway = 0
        for delay in [0.05, 0.15, 0.3, 0.5, 0.8] {
            let output = rkt.root + "/fetch-\(delay).out"
            let fetch = try Subprocess.start([rkt.binary, "--dir=\(rkt.dataDir)", "--insecure-options=image", "fetch", big], outputFile: output)
            Thread.sleep(forTimeInterval: delay)
            fetch.signal(SIGKILL)
            let status = fetch.wait(timeout: 60)
            // stdout and stderr share the file: a printed image ID is a line starting "sha512-".
            let printedID = ((try? String(contentsOfFile: output, encoding: .utf8)) ?? "").contains("sha512-")
            if status == 128 + SIGKILL && !printedID { killedMidway += 1 }
            // Either the image is absent, or it is whole: its exported bytes hash to its ID.
            let listed = try rkt.ok(["image", "list", "--no-legend", "--full", "--fields=id"]).lines.map { $0.trimmingCharacters(in: .whitespaces) }
            #expect(listed.count <= 1)
            if let id = listed.first {
                let exported = rkt.root + "/check.aci"
                try rkt.ok(["image", "export", "--overwrite", id, exported])
                #expect("sha512-" + (try sha512sum(exported)).prefix(64) == id, "a visible image must be complete")
                try rkt.ok(["image", "rm", id])
            }
        }
        #expect(killedMidway > 0, "no kill landed before the fetch finished; make the image bigger")
        let gc = try rkt.ok(["image", "gc"])
        #expect(rkt.storeFiles().isEmpty, "gc left \(rkt.storeFiles()); gc said \(gc.stderr)")
        // The store is still usable afterwards.
        _ = try rkt.fetch("busybox.aci")
    }
}

func shell(_ command: String) throws {
    let result = try Subprocess.run(["/bin/sh", "-c", command], timeout: 600)
    if result.status != 0 { throw CocoaError(.fileWriteUnknown) }
}
