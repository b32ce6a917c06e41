import ArgumentParser
import Foundation

/// `rkt version`.
struct Version: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "version", abstract: "Print the version and exit")

    @OptionGroup(title: "Global options") var global: GlobalOptions

    func run() throws {
        var arch = "amd64"
        #if arch(arm64)
        arch = "arm64"
        #endif
        Output.print("""
            rkt Version: \(RktVersion.rkt)
            appc Version: \(RktVersion.appc)
            Swift Version: \(swiftVersion)
            Swift OS/Arch: linux/\(arch)
            Features: -TPM -SDJOURNAL

            """)
    }

    private var swiftVersion: String {
        #if swift(>=6.3)
        return "6.3"
        #else
        return "6"
        #endif
    }
}
