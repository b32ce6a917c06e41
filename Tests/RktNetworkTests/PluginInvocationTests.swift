import Foundation
import Testing
import Stage1Protocol
@testable import RktNetwork

/// Drives real plugin processes (shell scripts that record what they get), without namespaces.
@Suite struct PluginInvocationTests {
    /// A plugin that records each call's environment and stdin under `log`, answers VERSION with
    /// `versions`, and prints a result of `resultVersion` on ADD that names its own type.
    func recordingPlugin(_ dir: String, _ name: String, versions: [String]?, resultVersion: String, log: String) throws -> String {
        let versionAnswer = versions.map { v in
            #"printf '{"cniVersion":"%s","supportedVersions":[%s]}' "1.0.0" '\#(v.map { "\"\($0)\"" }.joined(separator: ","))'"#
        } ?? "exit 1"
        return try writeScript(dir, name, """
            n=$(ls \(log) | wc -l)
            f=\(log)/$(printf %03d $n)-\(name)-$CNI_COMMAND
            env | grep '^CNI_' | sort > $f.env
            cat > $f.stdin
            case "$CNI_COMMAND" in
            VERSION) \(versionAnswer) ;;
            ADD) printf '{"cniVersion":"\(resultVersion)","interfaces":[{"name":"%s","sandbox":"%s"}],"ips":[{"address":"10.99.0.7/24","interface":0}],"dns":{"nameservers":["10.99.0.53"]},"by":"\(name)"}' "$CNI_IFNAME" "$CNI_NETNS" ;;
            esac
            exit 0
            """)
    }

    func calls(_ log: String) throws -> [(name: String, env: String, stdin: JSONValue)] {
        try FileManager.default.contentsOfDirectory(atPath: log).filter { $0.hasSuffix(".env") }.sorted().map { file in
            let base = log + "/" + String(file.dropLast(4))
            let env = try String(contentsOfFile: base + ".env", encoding: .utf8)
            let stdin = try JSONDecoder().decode(JSONValue.self, from: Data(contentsOf: URL(fileURLWithPath: base + ".stdin")))
            return (String(file.dropLast(4).dropFirst(4)), env, stdin)
        }
    }

    @Test func chainAddPassesPrevResultArgsAndNegotiatedVersion() throws {
        let dir = try TemporaryDirectory()
        let log = dir.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        _ = try recordingPlugin(dir.path, "first", versions: ["0.3.1", "0.4.0", "1.0.0"], resultVersion: "0.4.0", log: log)
        _ = try recordingPlugin(dir.path, "second", versions: ["0.4.0"], resultVersion: "0.4.0", log: log)
        let config = try NetworkConfiguration.parse(Data(#"{"cniVersion":"1.0.0","name":"chain","plugins":[{"type":"first","x":1},{"type":"second"}]}"#.utf8),
                                                    isList: true, source: "t", orderKey: "t")
        let runtime = CNIRuntime(locator: PluginLocator(searchPath: [dir.path + "/none", dir.path]), environment: ["PATH": "/usr/bin:/bin"], logger: testLogger)
        let attachment = CNIRuntime.Attachment(containerID: "pod-1", netns: "/var/run/netns/rkt-pod-1", ifname: "eth3", args: "IP=10.99.0.7;K=V")
        let added = try runtime.add(config, attachment)
        #expect(added.version == .v040) // second speaks only 0.4.0
        #expect(added.result.raw["by"] == "second")
        #expect(added.result.addresses(onInterface: "eth3") == ["10.99.0.7/24"])
        var seen = try calls(log)
        #expect(seen.map(\.name) == ["first-VERSION", "second-VERSION", "first-ADD", "second-ADD"])
        let firstAdd = seen[2], secondAdd = seen[3]
        #expect(firstAdd.env.contains("CNI_ARGS=IgnoreUnknown=1;IP=10.99.0.7;K=V\n"))
        #expect(firstAdd.env.contains("CNI_CONTAINERID=pod-1\n"))
        #expect(firstAdd.env.contains("CNI_IFNAME=eth3\n"))
        #expect(firstAdd.env.contains("CNI_NETNS=/var/run/netns/rkt-pod-1\n"))
        #expect(firstAdd.env.contains("CNI_PATH=\(dir.path)/none:\(dir.path)\n"))
        #expect(firstAdd.stdin["cniVersion"] == "0.4.0")
        #expect(firstAdd.stdin["name"] == "chain")
        #expect(firstAdd.stdin["x"] == 1)
        #expect(firstAdd.stdin["prevResult"] == nil)
        #expect(secondAdd.stdin["prevResult"]?["by"] == "first")

        try FileManager.default.removeItem(atPath: log)
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        try runtime.delete(config, attachment, prevResult: added.result.raw)
        seen = try calls(log)
        // Reverse order, each with the final result (0.4.0 and later).
        #expect(seen.map(\.name) == ["first-VERSION", "second-VERSION", "second-DEL", "first-DEL"])
        #expect(seen[2].stdin["prevResult"]?["by"] == "second")
        #expect(seen[3].stdin["prevResult"]?["by"] == "second")

        try FileManager.default.removeItem(atPath: log)
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        #expect(try runtime.check(config, attachment, prevResult: added.result.raw))
        #expect(try calls(log).map(\.name).suffix(2) == ["first-CHECK", "second-CHECK"])
    }

    @Test func aPluginWithoutVersionIsSpokenToIn020AndGetsNoPrevResultOnDel() throws {
        let dir = try TemporaryDirectory()
        let log = dir.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        _ = try recordingPlugin(dir.path, "old", versions: nil, resultVersion: "0.2.0", log: log)
        let config = try NetworkConfiguration.parse(Data(#"{"cniVersion":"0.3.1","name":"legacy","type":"old"}"#.utf8), isList: false, source: "t", orderKey: "t")
        let runtime = CNIRuntime(locator: PluginLocator(searchPath: [dir.path]), environment: [:], logger: testLogger)
        let attachment = CNIRuntime.Attachment(containerID: "c", netns: "/n", ifname: "eth0")
        let added = try runtime.add(config, attachment)
        #expect(added.version == .v020)
        try runtime.delete(config, attachment, prevResult: added.result.raw)
        let seen = try calls(log)
        #expect(seen.last?.name == "old-DEL")
        #expect(seen.last?.stdin["prevResult"] == nil)
        #expect(seen.last?.stdin["cniVersion"] == "0.2.0")
        #expect(!(seen.last?.env.contains("CNI_ARGS") ?? true))
        #expect(try runtime.check(config, attachment, prevResult: added.result.raw) == false)
    }

    @Test func statusBeforeAddAndGCFor11Plugins() throws {
        let dir = try TemporaryDirectory()
        let log = dir.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        _ = try recordingPlugin(dir.path, "modern", versions: ["1.0.0", "1.1.0"], resultVersion: "1.1.0", log: log)
        let config = try NetworkConfiguration.parse(Data(#"{"cniVersion":"1.1.0","name":"m","type":"modern"}"#.utf8), isList: false, source: "t", orderKey: "t")
        let runtime = CNIRuntime(locator: PluginLocator(searchPath: [dir.path]), environment: [:], logger: testLogger)
        _ = try runtime.add(config, .init(containerID: "c1", netns: "/n", ifname: "eth0"))
        #expect(try runtime.garbageCollect(config, valid: [("c1", "eth0"), ("c2", "eth1")]))
        let seen = try calls(log)
        #expect(seen.map(\.name) == ["modern-VERSION", "modern-STATUS", "modern-ADD", "modern-VERSION", "modern-GC"])
        #expect(seen[4].stdin["cni.dev/valid-attachments"] == [["containerID": "c1", "ifname": "eth0"], ["containerID": "c2", "ifname": "eth1"]])
        #expect(!seen[4].env.contains("CNI_CONTAINERID"))
    }

    @Test func pluginErrorsCarryTheirMessageAndUndoTheChain() throws {
        let dir = try TemporaryDirectory()
        let log = dir.path + "/log"
        try FileManager.default.createDirectory(atPath: log, withIntermediateDirectories: true)
        _ = try recordingPlugin(dir.path, "good", versions: ["1.0.0"], resultVersion: "1.0.0", log: log)
        _ = try writeScript(dir.path, "bad", """
            n=$(ls \(log) | wc -l); cat > \(log)/$(printf %03d $n)-bad-$CNI_COMMAND.stdin; env | grep ^CNI_ > \(log)/$(printf %03d $n)-bad-$CNI_COMMAND.env
            [ "$CNI_COMMAND" = VERSION ] && { echo '{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}'; exit 0; }
            [ "$CNI_COMMAND" = DEL ] && exit 0
            echo '{"cniVersion":"1.0.0","code":11,"msg":"address pool exhausted","details":"no free address in 10.99.0.0/24"}'
            exit 1
            """)
        let config = try NetworkConfiguration.parse(Data(#"{"cniVersion":"1.0.0","name":"oops","plugins":[{"type":"good"},{"type":"bad"}]}"#.utf8), isList: true, source: "t", orderKey: "t")
        let runtime = CNIRuntime(locator: PluginLocator(searchPath: [dir.path]), environment: [:], logger: testLogger)
        do {
            _ = try runtime.add(config, .init(containerID: "c", netns: "/n", ifname: "eth0"))
            Issue.record("ADD should fail")
        } catch {
            #expect(error.kind == .plugin)
            #expect(error.pluginCode == 11)
            #expect(error.description == "ADD network oops (plugin bad): address pool exhausted: no free address in 10.99.0.0/24")
        }
        let names = try calls(log).map(\.name)
        #expect(names.suffix(2) == ["bad-DEL", "good-DEL"])
    }

    @Test func missingPluginsAndGarbageOutput() throws {
        let dir = try TemporaryDirectory()
        _ = try writeScript(dir.path, "noisy", "[ \"$CNI_COMMAND\" = VERSION ] && exit 1; echo 'this is not json'; exit 0\n")
        let runtime = CNIRuntime(locator: PluginLocator(searchPath: [dir.path]), environment: [:], logger: testLogger)
        let missing = try NetworkConfiguration.parse(Data(#"{"name":"x","type":"nowhere"}"#.utf8), isList: false, source: "t", orderKey: "t")
        #expect { _ = try runtime.add(missing, .init(containerID: "c", netns: "/n", ifname: "eth0")) } throws: {
            ($0 as? NetworkError)?.kind == .pluginNotFound
        }
        let noisy = try NetworkConfiguration.parse(Data(#"{"name":"x","type":"noisy"}"#.utf8), isList: false, source: "t", orderKey: "t")
        #expect { _ = try runtime.add(noisy, .init(containerID: "c", netns: "/n", ifname: "eth0")) } throws: {
            ($0 as? NetworkError)?.message.contains("not JSON: this is not json") == true
        }
        // A plugin image resolver is asked for types found on no directory.
        let dirPath = dir.path
        let resolving = CNIRuntime(locator: PluginLocator(searchPath: [dir.path + "/empty"], resolveImage: { type in
            type == "rkt.dev/noisy" || type == "noisy" ? dirPath + "/noisy" : nil
        }), environment: [:], logger: testLogger)
        #expect(try resolving.locator.executable(for: "rkt.dev/noisy") == dir.path + "/noisy")
        #expect(throws: NetworkError.self) { try resolving.locator.executable(for: "other") }
    }
}
