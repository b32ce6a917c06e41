// swift-tools-version:6.0
// rkt: the pod-native App Container runtime. See Documentation/architecture.md for the module map.
import PackageDescription

let readme: [String] = ["README.md"]

let package = Package(
    name: "rkt",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "rkt", targets: ["rkt"]),
        .library(name: "RktTypes", targets: ["RktTypes"]),
        // For third-party stage1 authors: the JSON protocol types, nothing else.
        .library(name: "Stage1Protocol", targets: ["Stage1Protocol"]),
        .executable(name: "stage1-fly", targets: ["stage1-fly"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.8.1"),
    ],
    targets: [
        // C libraries from Debian, found through pkg-config.
        .systemLibrary(name: "CArchive", pkgConfig: "libarchive", providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSQLite", pkgConfig: "sqlite3", providers: [.apt(["libsqlite3-dev"])]),
        // Macros, variadic calls and syscalls that Swift cannot reach directly.
        .target(name: "CRktShim", exclude: readme),

        // appc schema: image and pod manifests, names, labels, isolators. Foundation only.
        .target(name: "RktTypes", exclude: readme),
        // Thin OS layer: errors with errno, file locks, atomic writes, directory helpers.
        .target(
            name: "RktOS",
            dependencies: ["CRktShim", .product(name: "SystemPackage", package: "swift-system")],
            exclude: readme),
        // ACI archives: streaming decompression + SHA-512, safe extraction, writing.
        .target(
            name: "RktArchive",
            dependencies: ["CArchive", "CCrypto", "RktOS", "RktTypes", .product(name: "SystemPackage", package: "swift-system")],
            exclude: readme),
        // The content-addressed image store, its SQLite index and the tree store.
        .target(
            name: "RktStore",
            dependencies: [
                "CSQLite", "RktArchive", "RktOS", "RktTypes",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: readme),
        // The stage1 plugin protocol: versioned JSON requests and responses. Foundation only, so a
        // plugin author can use it alone.
        .target(name: "Stage1Protocol", exclude: readme),
        // Pods on disk: the pod directory state machine, locks, UUIDs, pod manifests from the CLI.
        .target(
            name: "RktPods",
            dependencies: [
                "RktOS", "RktTypes", "RktStore", "Stage1Protocol",
                .product(name: "Logging", package: "swift-log"),
            ]),
        // The command-line interface as a library; `rkt` only calls into it.
        .target(
            name: "RktCommands",
            dependencies: [
                "RktStore", "RktArchive", "RktOS", "RktTypes", "RktPods", "Stage1Protocol",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: readme),
        .executableTarget(name: "rkt", dependencies: ["RktCommands"]),

        // The fly stage1 plugin (Plugins/stage1-fly/README.md): one app, chroot only, host namespaces.
        // CFly: fork+exec, prctl, mount_setattr and O_PATH, which Swift cannot reach.
        .target(name: "CFly", path: "Plugins/stage1-fly/CFly"),
        .executableTarget(
            name: "stage1-fly", dependencies: ["Stage1Protocol", "CFly"], path: "Plugins/stage1-fly",
            exclude: ["CFly", "README.md"]),

        // Test fixtures shared by the test targets: ACI builders, including malformed and malicious ones.
        .target(name: "RktTestSupport", dependencies: ["RktArchive", "RktOS"]),

        .testTarget(name: "RktTypesTests", dependencies: ["RktTypes"]),
        .testTarget(name: "RktArchiveTests", dependencies: ["RktArchive", "RktOS", "RktTestSupport"]),
        .testTarget(name: "RktStoreTests", dependencies: ["RktStore", "RktArchive", "RktOS", "RktTypes", "RktTestSupport"]),
        .testTarget(name: "RktCommandsTests", dependencies: ["RktCommands"]),
        .testTarget(name: "Stage1ProtocolTests", dependencies: ["Stage1Protocol"]),
        .testTarget(name: "Stage1FlyTests", dependencies: ["Stage1Protocol"]),
        .testTarget(name: "RktPodsTests", dependencies: ["RktPods", "RktTypes", "RktTestSupport"]),
        // Drives the built `rkt` binary; root-only cases skip with a printed reason.
        .testTarget(name: "IntegrationTests", dependencies: ["RktTypes", "RktPods", "RktOS", "RktTestSupport"]),
    ]
)
