import Foundation
import Stage1Protocol
import Testing

@Suite("Version negotiation and features")
struct NegotiationTests {
    @Test func picksTheHighestCommonVersion() throws {
        #expect(try Stage1Protocol.negotiate(requested: ["1"], supported: ["1"]) == "1")
        #expect(try Stage1Protocol.negotiate(requested: ["1", "2", "3"], supported: ["2", "1", "3"]) == "3")
        #expect(try Stage1Protocol.negotiate(requested: ["1", "2"], supported: ["1", "3"]) == "1")
        // Numeric, not lexical, order.
        #expect(try Stage1Protocol.negotiate(requested: ["9", "10"], supported: ["9", "10"]) == "10")
        // Malformed entries are ignored.
        #expect(try Stage1Protocol.negotiate(requested: ["1", "02", "x"], supported: ["02", "x", "1"]) == "1")
        #expect(try Stage1Protocol.negotiate(requested: Stage1Protocol.supportedVersions, supported: ["1"]) == Stage1Protocol.version)
    }

    @Test func failsWithoutACommonVersion() throws {
        let error = try #require(throws: Stage1Error.self) {
            try Stage1Protocol.negotiate(requested: ["1"], supported: ["2", "3"])
        }
        #expect(error.code == .incompatibleVersion)
        #expect(error.msg == "no common stage1 protocol version: rkt speaks 1, the stage1 speaks 2, 3")
        let none = try #require(throws: Stage1Error.self) { try Stage1Protocol.negotiate(requested: ["1"], supported: []) }
        #expect(none.msg.hasSuffix("the stage1 speaks none"))
    }

    @Test func validVersions() {
        for good in ["1", "2", "10", "123456789"] { #expect(Stage1Protocol.isValidVersion(good)) }
        for bad in ["", "0", "01", "1.0", "-1", " 1", "v1", "1234567890"] { #expect(!Stage1Protocol.isValidVersion(bad)) }
    }

    static let everything = DescribeResponse(name: "full", version: "1", features: Stage1Feature.allVersion1)

    @Test func aRequestWithinTheFeaturesPasses() throws {
        try Stage1Protocol.negotiate(requested: Fixtures.runRequest, supported: Self.everything)
        try Stage1Protocol.negotiate(requested: Fixtures.minimalRunRequest, supported: DescribeResponse(name: "n", version: "1", features: [.run]))
        try Stage1Protocol.negotiate(requested: Fixtures.describeRequest, supported: DescribeResponse(name: "n", version: "1", features: []))
        for request in [Fixtures.enterRequest, Fixtures.stopRequest, Fixtures.gcRequest, Fixtures.minimalRunRequest] {
            try Stage1Protocol.negotiate(requested: request, supported: Fixtures.describeResponse)
        }
    }

    @Test func theRunExampleNeedsExactlyTheDocumentedFeatures() {
        let needed = Set(Fixtures.runRequest.requiredFeatures.map(\.feature))
        #expect(needed == [.run, .networks, .dns, .hostname, .isolators])
        #expect(Fixtures.minimalRunRequest.requiredFeatures.map(\.feature) == [.run])
        #expect(Fixtures.describeRequest.requiredFeatures.isEmpty)
        #expect(Fixtures.enterRequest.requiredFeatures.map(\.feature) == [.enter])
    }

    /// One request change per feature, and the reason stage0 gives for it.
    static let featureCases: [(Stage1Feature, String, @Sendable (inout RunPayload) -> Void)] = [
        (.interactive, "run.interactive", { $0.interactive = true }),
        (.multipleApps, "2 apps", { $0.apps.append(RunApp(name: "two", stage1Rootfs: "/s", imageID: "sha512-01")) }),
        (.networks, #"run.net is "default""#, { $0.net = .default }),
        (.networks, #"run.net is "list""#, { $0.net = .list; $0.networks = [Network(name: "lan", args: "IP=10.0.0.2")] }),
        (.privateUsers, "run.privateUsers", { $0.privateUsers = PrivateUsers(shift: 65536, count: 65536) }),
        (.isolators, "app hello has isolators", { $0.apps[0].appManifest?.isolators = [Isolator(name: "resource/cpu", value: ["limit": "500m"])] }),
        (.volumes, "app hello has mount points", { $0.apps[0].appManifest?.mountPoints = [MountPoint(name: "data", path: "/data")] }),
        (.ipcModes, #"run.ipc is "private""#, { $0.ipc = .private }),
        (.ipcModes, #"run.ipc is "parent""#, { $0.ipc = .parent }),
        (.hostname, "run.hostname", { $0.hostname = "h" }),
        (.dns, #"run.dns.mode is "host""#, { $0.dns.mode = .host }),
        (.dns, #"run.dns.mode is "stage0""#, { $0.dns = DNSConfig(mode: .stage0, servers: ["192.0.2.1"]) }),
        (.hosts, #"run.hostsMode is "stage0""#, { $0.hostsMode = .stage0; $0.hostsEntries = [HostsEntry(ip: "192.0.2.9", hostnames: ["db"])] }),
        (.metadataService, "run.mdsToken", { $0.mdsToken = "token" }),
    ]

    @Test("each feature is required by its member and refused when missing", arguments: 0..<featureCases.count)
    func missingFeatureIsRefused(_ index: Int) throws {
        let (feature, reason, change) = Self.featureCases[index]
        var request = Fixtures.minimalRunRequest
        var run = request.run!
        change(&run)
        request.payload = .run(run)
        #expect(request.requiredFeatures.contains(FeatureRequirement(feature, reason: reason)))

        let lacking = DescribeResponse(name: "example.com/lean", version: "2.0", features: Stage1Feature.allVersion1.filter { $0 != feature })
        let error = try #require(throws: Stage1Error.self) { try Stage1Protocol.negotiate(requested: request, supported: lacking) }
        #expect(error.code == .unsupported)
        #expect(error.msg == "stage1 example.com/lean 2.0 does not support a feature this pod needs: \(feature.rawValue) (\(reason))")
        #expect(error.details?.hasPrefix("the stage1 lists: run, enter") == true)
        // With the feature listed, the same request passes.
        try Stage1Protocol.negotiate(requested: request, supported: Self.everything)
    }

    @Test func namesEveryMissingFeatureOnce() throws {
        let error = try #require(throws: Stage1Error.self) {
            try Stage1Protocol.negotiate(requested: Fixtures.runRequest, supported: Fixtures.describeResponse)
        }
        #expect(error.msg == #"stage1 example.com/stage1-sh 0.1.0 does not support features this pod needs: networks (run.net is "default"), dns (run.dns.mode is "stage0"), isolators (app web has isolators)"#)
        #expect(error.details == "the stage1 lists: run, enter, stop, gc, interactive, hostname, ipc-modes")
    }

    @Test func commandsNeedTheirFeature() throws {
        let runOnly = DescribeResponse(name: "r", version: "1", features: [.run])
        for request in [Fixtures.enterRequest, Fixtures.stopRequest, Fixtures.gcRequest] {
            let error = try #require(throws: Stage1Error.self) { try Stage1Protocol.negotiate(requested: request, supported: runOnly) }
            #expect(error.msg.hasSuffix("needs: \(request.command.rawValue) (command \(request.command.rawValue))"))
        }
    }

    @Test func additionalRequirementsFromStage0() throws {
        let error = try #require(throws: Stage1Error.self) {
            try Stage1Protocol.negotiate(
                requested: Fixtures.minimalRunRequest, supported: Fixtures.describeResponse,
                additional: [FeatureRequirement(.volumes, reason: "the pod manifest declares volumes")])
        }
        #expect(error.msg.hasSuffix("needs: volumes (the pod manifest declares volumes)"))
    }

    @Test func theRequestVersionMustBeSpoken() throws {
        var request = Fixtures.stopRequest
        request.protocolVersion = "2"
        let error = try #require(throws: Stage1Error.self) { try Stage1Protocol.negotiate(requested: request, supported: Self.everything) }
        #expect(error.code == .incompatibleVersion)
        #expect(error.msg == "stage1 full 1 does not speak protocol version 2")
        #expect(error.details == "it speaks: 1")
    }

    @Test func extensibleFeatureNames() throws {
        let custom: Stage1Feature = "example.com/gpu"
        let response = DescribeResponse(name: "g", version: "1", features: [.run, custom])
        #expect(text(Stage1Response.encoded(response)).contains(#""features":["run","example.com/gpu"]"#))
        try Stage1Protocol.negotiate(requested: [FeatureRequirement(custom)], supported: response)
        #expect(response.supports(custom) && !response.supports(.gc))
    }
}
