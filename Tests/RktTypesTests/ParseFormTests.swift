import Foundation
import Testing
@testable import RktTypes

@Suite("Command-line forms of volumes, mount points and ports")
struct ParseFormTests {
    // Table from appc's volume_test.go: each string parses and prints back unchanged.
    @Test(arguments: [
        "foobar,kind=host,source=/tmp", "foobar,kind=host,source=/tmp,readOnly=false",
        "foobar,kind=host,source=/tmp,readOnly=true", "foobar,kind=empty", "foobar,kind=empty,readOnly=true",
        "foobar,kind=empty,readOnly=true,mode=0777", "foobar,kind=empty,mode=0777,uid=1000",
        "foobar,kind=empty,mode=0777,uid=1000,gid=1000", "foobar,kind=host,source=/tmp,recursive=false",
        "foobar,kind=host,source=/tmp,recursive=true",
    ])
    func volumeRoundTrip(_ text: String) throws {
        let volume = try Volume.parse(text)
        #expect(volume.description == text)
    }

    @Test func volumeFields() throws {
        let host = try Volume.parse("data,kind=host,source=/srv/data,readOnly=true")
        #expect(host.name.rawValue == "data" && host.knownKind == .host && host.source == "/srv/data")
        #expect(host.readOnly == true && host.recursive == nil && host.mode == nil && host.uid == nil)
        let empty = try Volume.parse("scratch,kind=empty,uid=1000")
        #expect(empty.mode == "0755" && empty.uid == 1000 && empty.gid == 0)
        // Values may contain "=" and non-ASCII text; only "," separates.
        #expect(try Volume.parse("v,kind=host,source=/tmp/a=b/Ü").source == "/tmp/a=b/Ü")
        #expect(try Volume.parse("v,kind=host,source=/x,readOnly=T").readOnly == true)
    }

    // Table from appc's volume_test.go plus rkt-style mistakes.
    @Test(arguments: [
        "#foobar,kind=host,source=/tmp", "foobar,kind=host,source=/tmp,readOnly=true,asdf=asdf",
        "foobar,kind=host,source=tmp", "foobar,kind=host,uid=3", "foobar,kind=host,mode=0755",
        "foobar,kind=host,mode=0600,readOnly=true,gid=0", "foobar,kind=empty,source=/tmp",
        "foobar,kind=host,source=/tmp,recursive=MAYBE", "", "foobar", "foobar,kind", "foobar,kind=empty,kind=host",
        "foobar,kind=empty,uid=x", "foobar,name=other,kind=empty",
    ])
    func badVolumes(_ text: String) {
        #expect(throws: AppcError.self) { try Volume.parse(text) }
    }

    @Test func volumeMessages() {
        #expect(throws: AppcError("unknown volume parameter \"asdf\"")) { try Volume.parse("v,kind=empty,asdf=1") }
        #expect(throws: AppcError("source for host volume must be absolute path")) { try Volume.parse("v,kind=host,source=x") }
        #expect(throws: AppcError(#"malformed string "name=v,kind" - has a label without a value: kind"#)) {
            try Volume.parse("v,kind")
        }
        #expect(throws: AppcError(#"unrecognized volume kind: should be one of "empty", "host""#)) {
            try Volume.parse("v")
        }
    }

    @Test func mountPoints() throws {
        let mountPoint = try MountPoint.parse("data,path=/var/data,readOnly=true")
        #expect(mountPoint.name.rawValue == "data" && mountPoint.path == "/var/data" && mountPoint.readOnly)
        #expect(try MountPoint.parse("data,path=/d").readOnly == false)
        #expect(throws: AppcError("path must be set")) { try MountPoint.parse("data") }
        #expect(throws: AppcError("unknown mountpoint parameter \"kind\"")) { try MountPoint.parse("data,path=/d,kind=x") }
        #expect(throws: AppcError.self) { try MountPoint.parse("Data,path=/d") }
    }

    @Test func ports() throws {
        let port = try Port.parse("http,protocol=tcp,port=8080,count=2,socketActivated=true")
        #expect(port.name.rawValue == "http" && port.protocol == "tcp" && port.port == 8080)
        #expect(port.count == 2 && port.socketActivated)
        #expect(try Port.parse("dns,protocol=udp,port=53").count == 1)
        #expect(throws: AppcError("port must be in 1-65535 range")) { try Port.parse("p,protocol=tcp") }
        #expect(throws: AppcError(#"strconv.ParseUint: parsing "70000": value out of range"#)) {
            try Port.parse("p,port=70000")
        }
        #expect(throws: AppcError("end of port range must be in 1-65535 range")) { try Port.parse("p,port=65535,count=2") }
        #expect(throws: AppcError("unknown port parameter \"host\"")) { try Port.parse("p,port=1,host=x") }
    }
}
