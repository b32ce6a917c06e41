import Foundation
import RktTestSupport
import Logging
import RktOS
@testable import RktNetwork

/// Runs a shell command (tests only: `ip -n`, `iptables -S`), returning status and stdout.
@discardableResult
func shell(_ command: String) -> (status: Int32, output: String) {
    guard let result = try? Spawn.run("/bin/sh", arguments: ["-c", command], environment: ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"], directory: nil) else {
        return (-1, "")
    }
    return (result.status, String(decoding: result.stdout, as: UTF8.self))
}

var isRoot: Bool { geteuid() == 0 }

/// Prints why a test does not run, so a skipped test is visible in the log.
func skip(_ reason: String, _ function: String = #function) -> Bool {
    print("SKIP \(function): \(reason)")
    return true
}

let testLogger = Logger(label: "rkt.net.test")

/// Writes an executable shell script into `dir` and returns its path.
func writeScript(_ dir: String, _ name: String, _ body: String) throws -> String {
    let path = dir + "/" + name
    try TestExecutable.write("#!/bin/sh\n" + body, to: path)
    return path
}

func randomHex(_ count: Int) -> String {
    String((0..<count).map { _ in "0123456789abcdef".randomElement()! })
}
