import Foundation
import Testing
import Stage1Protocol
@Test func printAll() {
    for d in [Fixtures.runRequest.encoded(), Fixtures.minimalRunRequest.encoded(), Fixtures.enterRequest.encoded(), Fixtures.stopRequest.encoded(), Fixtures.gcRequest.encoded(), Fixtures.describeRequest.encoded(), Stage1Response.encoded(Fixtures.describeResponse), Stage1Response.encoded(Fixtures.okResponse), Fixtures.errorResponse.encoded()] {
        print("GOLD " + String(decoding: d, as: UTF8.self))
    }
}
