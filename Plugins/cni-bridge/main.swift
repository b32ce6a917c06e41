#if canImport(Glibc)
import Glibc
#endif

// cni-bridge: a CNI plugin (bridge + veth, host-local compatible IPAM) on pure-Swift netlink.
// The runtime calls it with CNI_* variables and the network configuration on stdin
// (containernetworking/cni SPEC.md); results and errors go to stdout as JSON.

func readStandardInput() -> [UInt8] {
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 16384)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(0, $0.baseAddress, $0.count) }
        if n > 0 { bytes += chunk[0..<n]; continue }
        if n < 0 && errno == EINTR { continue }
        return bytes
    }
}

func writeStandardOutput(_ bytes: [UInt8]) {
    var offset = 0
    let data = bytes + [UInt8(ascii: "\n")]
    while offset < data.count {
        let n = data[offset...].withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
        if n <= 0 {
            if n < 0 && errno == EINTR { continue }
            return
        }
        offset += n
    }
}

func processEnvironment() -> [String: String] {
    var result: [String: String] = [:]
    var pointer = environ
    while let entry = pointer.pointee {
        let text = String(cString: entry)
        if let equals = text.firstIndex(of: "=") {
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        pointer += 1
    }
    return result
}

func runPlugin() -> Int32 {
    let environment = CallEnvironment.current(processEnvironment())
    var reportVersion = supportedVersions.last!
    do throws(PluginError) {
        let command = environment.command
        if command.isEmpty {
            throw PluginError(PluginError.invalidEnvironment, "required env variable CNI_COMMAND missing")
        }
        let stdin = readStandardInput()
        if command == "VERSION" {
            writeStandardOutput(JSONValue.object(["cniVersion": .string(reportVersion), "supportedVersions": .array(supportedVersions.map { .string($0) })]).serialized())
            return 0
        }
        let json: JSONValue
        do {
            json = try JSONValue.parse(stdin)
        } catch {
            throw PluginError(PluginError.decodingFailure, "error parsing network configuration", details: "\(error)")
        }
        if let version = json["cniVersion"]?.string, supportedVersions.contains(version) { reportVersion = version }
        let config = try BridgeConfig.parse(json)
        let plugin = BridgePlugin(environment: environment, stdin: stdin)
        switch command {
        case "ADD":
            writeStandardOutput(try plugin.add(config).serialized())
        case "DEL":
            try plugin.delete(config)
        case "CHECK":
            try plugin.check(config)
        case "GC":
            try plugin.collectGarbage(config)
        case "STATUS":
            try plugin.status(config)
        default:
            throw PluginError(PluginError.invalidEnvironment, "unknown CNI_COMMAND: \(command)")
        }
        return 0
    } catch {
        writeStandardOutput(error.json(cniVersion: reportVersion).serialized())
        return 1
    }
}

exit(runPlugin())
