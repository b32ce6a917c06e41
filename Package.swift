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
        .executable(name: "stage1-nspawn", targets: ["stage1-nspawn"]),
        .executable(name: "rkt-pod-init", targets: ["rkt-pod-init"]),
        .executable(name: "stage1-kvm", targets: ["stage1-kvm"]),
        .executable(name: "cni-bridge", targets: ["cni-bridge"]),
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
        .systemLibrary(name: "CSSL", pkgConfig: "libssl", providers: [.apt(["libssl-dev"])]),
        .systemLibrary(name: "CSeccomp", pkgConfig: "libseccomp", providers: [.apt(["libseccomp-dev"])]),
        .systemLibrary(name: "CCap", pkgConfig: "libcap", providers: [.apt(["libcap-dev"])]),
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
        // Fetching images from the world: HTTP(S) over libssl, appc discovery, signatures and trust,
        // Docker/OCI registries and archives.
        .target(
            name: "RktFetch",
            dependencies: [
                "CSSL", "CCrypto", "CArchive", "RktOS", "RktTypes", "RktArchive", "RktStore",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: readme),
        // Pure-Swift rtnetlink: messages, attributes, a socket; links, addresses, routes.
        .target(name: "CNetlink"), .target(name: "Netlink", dependencies: ["CNetlink"], exclude: readme),  // CNetlink: setns, unshare, getrandom
        // The CNI runtime of stage0: network configs, plugin search, ADD/DEL/CHECK, network namespaces.
        .target(
            name: "RktNetwork",
            dependencies: [
                "RktOS", "Stage1Protocol", "CRktShim",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "SystemPackage", package: "swift-system"),
            ],
            exclude: readme),
        // The command-line interface as a library; `rkt` only calls into it.
        .target(
            name: "RktCommands",
            dependencies: [
                "RktStore", "RktArchive", "RktOS", "RktTypes", "RktPods", "Stage1Protocol", "RktFetch",
                "RktNetwork",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            exclude: readme),
        .executableTarget(name: "rkt", dependencies: ["RktCommands"]),

        // What our stage1 plugins share: appc manifests as a stage1 reads them, app plans (user,
        // group, environment, volumes), paths resolved inside a rootfs, atomic pod files.
        .target(name: "Stage1Kit", dependencies: ["Stage1Protocol"], exclude: readme),

        // The fly stage1 plugin (Plugins/stage1-fly/README.md): one app, chroot only, host namespaces.
        // CFly: fork+exec, prctl, mount_setattr and O_PATH, which Swift cannot reach.
        .target(name: "CFly", path: "Plugins/stage1-fly/CFly"),
        .executableTarget(
            name: "stage1-fly", dependencies: ["Stage1Protocol", "Stage1Kit", "CFly"], path: "Plugins/stage1-fly",
            exclude: ["CFly", "README.md"]),

        // The default stage1 (Plugins/stage1-nspawn/README.md): namespaces, cgroups, capabilities,
        // seccomp. `stage1-nspawn` plans the pod (Swift); `rkt-pod-init` (C, for its RSS) is the pod's
        // PID 1: it mounts, starts the apps, reaps, forwards signals and records exit statuses.
        .target(name: "CNspawn", path: "Plugins/stage1-nspawn/CNspawn"),
        // appc isolators as a stage1 applies them: capability sets, seccomp filters compiled to BPF
        // with libseccomp, resource limits for cgroups v1 and v2.
        .target(name: "Stage1Isolators", dependencies: ["Stage1Protocol", "RktTypes", "CSeccomp", "CCap"], exclude: readme),
        .executableTarget(
            name: "stage1-nspawn", dependencies: ["Stage1Protocol", "Stage1Kit", "Stage1Isolators", "CNspawn"], path: "Plugins/stage1-nspawn/Planner"),
        .executableTarget(name: "rkt-pod-init", path: "Plugins/stage1-nspawn/PodInit"),

        // The kvm stage1 (Plugins/stage1-kvm/README.md): one VM per pod through libvirt's embedded
        // QEMU driver (no libvirtd). `stage1-kvm` plans and supervises (Swift, linked to libvirt);
        // the guest's PID 1 (GuestInit, C) is compiled into the initramfs by images/stage1-kvm/build.sh.
        .systemLibrary(name: "CLibvirt", path: "Plugins/stage1-kvm/CLibvirt", pkgConfig: "libvirt", providers: [.apt(["libvirt-dev"])]),
        .executableTarget(
            name: "stage1-kvm", dependencies: ["Stage1Protocol", "Stage1Kit", "Stage1Isolators", "CLibvirt", "CKVM", "Netlink"], path: "Plugins/stage1-kvm/Supervisor"),
        .target(name: "CKVM", path: "Plugins/stage1-kvm/CKVM"),
        .testTarget(name: "Stage1KVMTests", dependencies: ["stage1-kvm", "Stage1Isolators", "RktTestSupport"]),  // unit tests of the agent frames and VM sizing

        // Our CNI bridge plugin (Plugins/cni-bridge/README.md): bridge + veth, host-local IPAM, netlink.
        .executableTarget(
            name: "cni-bridge", dependencies: ["Netlink"], path: "Plugins/cni-bridge", exclude: ["README.md"]),

        // Test fixtures shared by the test targets: ACI builders, including malformed and malicious ones.
        .target(name: "RktTestSupport", dependencies: ["RktArchive", "RktOS"]),

        .testTarget(name: "RktTypesTests", dependencies: ["RktTypes", "RktTestSupport"]),
        .testTarget(name: "RktArchiveTests", dependencies: ["RktArchive", "RktOS", "RktTestSupport"]),
        .testTarget(name: "RktStoreTests", dependencies: ["RktStore", "RktArchive", "RktOS", "RktTypes", "RktTestSupport"]),
        .testTarget(name: "RktCommandsTests", dependencies: ["RktCommands"]),
        .testTarget(name: "Stage1ProtocolTests", dependencies: ["Stage1Protocol", "RktTestSupport"]),
        .testTarget(name: "Stage1FlyTests", dependencies: ["Stage1Protocol", "RktTestSupport"]),
        .testTarget(name: "Stage1KitTests", dependencies: ["Stage1Kit", "Stage1Protocol"]),
        .testTarget(name: "RktPodsTests", dependencies: ["RktPods", "RktTypes", "RktTestSupport"]),
        .testTarget(name: "RktFetchTests", dependencies: ["RktFetch", "RktStore", "RktOS", "RktTypes", "RktTestSupport"]),
        .testTarget(name: "Stage1IsolatorsTests", dependencies: ["Stage1Isolators", "Stage1Protocol"], exclude: ["Fixtures"]),
        .testTarget(name: "NetlinkTests", dependencies: ["Netlink"]),
        .testTarget(name: "CNIBridgeTests", dependencies: ["Netlink", "RktOS", "cni-bridge"]),  // cni-bridge: so `swift test` rebuilds the binary the tests run
        .testTarget(name: "RktNetworkTests", dependencies: ["RktNetwork", "RktOS", "Stage1Protocol", "RktTestSupport"]),
        // Drives the built `rkt` binary; root-only cases skip with a printed reason.
        .testTarget(name: "IntegrationTests", dependencies: ["RktTypes", "RktPods", "RktOS", "RktTestSupport"]),
    ]
)

// Release builds call generic metadata accessors directly instead of demangling type names at run
// time: in a static binary each first demangling scans every protocol conformance it holds (about
// 6,000 with Foundation), which was a third of the CPU time of `rkt run` with stage1-fly.
for target in package.targets where target.type != .system && target.type != .test {
    target.swiftSettings = (target.swiftSettings ?? [])
        + [.unsafeFlags(["-Xfrontend", "-disable-concrete-type-metadata-mangled-name-accessors"], .when(configuration: .release))]
}
