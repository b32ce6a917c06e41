import Foundation
import Testing
@testable import RktTypes

@Suite("Quantity")
struct QuantityTests {
    // Canonical spellings from appc's quantity_test.go (TestQuantityParse / TestQuantityString).
    @Test(arguments: [
        ("0", "0", Quantity.Format.decimalSI), ("0Ki", "0", .binarySI), ("0m", "0", .decimalSI),
        ("1", "1", .decimalSI), ("1Ki", "1Ki", .binarySI), ("8Ki", "8Ki", .binarySI), ("7Mi", "7Mi", .binarySI),
        ("6Gi", "6Gi", .binarySI), ("5Ti", "5Ti", .binarySI), ("4Pi", "4Pi", .binarySI), ("3Ei", "3Ei", .binarySI),
        ("1024Mi", "1Gi", .binarySI), ("307200Ki", "300Mi", .binarySI), ("1025", "1025", .decimalSI),
        ("5n", "5n", .decimalSI), ("4u", "4u", .decimalSI), ("3m", "3m", .decimalSI), ("8k", "8k", .decimalSI),
        ("50k", "50k", .decimalSI), ("7M", "7M", .decimalSI), ("6G", "6G", .decimalSI), ("40T", "40T", .decimalSI),
        ("2P", "2P", .decimalSI), ("1E", "1E", .decimalSI), ("1000M", "1G", .decimalSI), ("0.001T", "1G", .decimalSI),
        ("1000u", "1m", .decimalSI), ("1.08", "1080m", .decimalSI), ("1080000000n", "1080m", .decimalSI),
        ("0.5", "500m", .decimalSI), ("100.035k", "100035", .decimalSI), ("10.035M", "10035k", .decimalSI),
        ("1E-3", "1e-3", .decimalExponent), ("1e3", "1e3", .decimalExponent), (".001e12", "1e9", .decimalExponent),
        ("1000e-12", "1e-9", .decimalExponent), ("1.2e3", "1200", .decimalExponent), ("1.3E+6", "1300e3", .decimalExponent),
        ("3.001n", "4n", .decimalSI), ("0.0000000001", "1n", .decimalSI), ("0.00000012345", "124n", .decimalSI),
        ("1.1E-9", "2e-9", .decimalExponent), ("9Ei", "9223372036854775807", .binarySI),
        ("9223372036854775807Ki", "9223372036854775807", .binarySI), ("0.5Mi", "512Ki", .binarySI),
        ("100.035Ki", "102435840m", .binarySI), ("0.000000000001Ki", "2n", .decimalSI), (".001", "1m", .decimalSI),
        ("1.", "1", .decimalSI), ("1.G", "1G", .decimalSI), ("2.5Gi", "2560Mi", .binarySI), ("-9.01", "-9010m", .decimalSI),
        ("+128Mi", "128Mi", .binarySI), ("12E", "12E", .decimalSI), ("Ki", "0", .binarySI),
    ])
    func canonicalForms(_ input: String, _ canonical: String, _ format: Quantity.Format) throws {
        let quantity = try Quantity(input)
        #expect(quantity.description == canonical)
        #expect(quantity.format == format)
        // The canonical spelling parses back to the same value.
        #expect(try Quantity(canonical) == quantity)
    }

    @Test(arguments: ["", "1.1.M", "1+1.0M", "0.1mi", "0.1am", "aoeu", ".5i", "1i", "-3.01i", "-3.01e-", " 1", "1 ", "1K", "1e", "e-10", ".Ki1"])
    func invalid(_ input: String) {
        #expect(throws: AppcError.self) { try Quantity(input) }
    }

    @Test func errorMessages() {
        #expect(throws: AppcError("unable to parse quantity's suffix")) { try Quantity("1K") }
        #expect(throws: AppcError("unable to parse numeric part of quantity")) { try Quantity("e-10") }
        #expect(throws: AppcError(
            "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")) {
            try Quantity("1.1.M")
        }
    }

    @Test func values() throws {
        #expect(try Quantity("500m").milliValue == 500)
        #expect(try Quantity("1").milliValue == 1000)
        #expect(try Quantity("1500m").value == 2)
        #expect(try Quantity("128Mi").value == 134_217_728)
        #expect(try Quantity("1G").value == 1_000_000_000)
        #expect(try Quantity("2.5Gi").value == 2_684_354_560)
        #expect(try Quantity("16Mi").value == 16 << 20)
        #expect(try Quantity("0.1m").milliValue == 1)
        #expect(try Quantity("-1500m").value == -2)
        #expect(try Quantity("1e30").value == Int64.max)
        #expect(try Quantity("9Ei").value == Int64.max)
    }

    @Test func comparison() throws {
        #expect(try Quantity("100m") > Quantity("50m"))
        #expect(try Quantity("10000T") > Quantity("100Gi"))
        #expect(try Quantity("1Ki") == Quantity("1024"))
        #expect(try Quantity("1000m") == Quantity("1"))
        #expect(try Quantity("-1") < Quantity("0"))
        #expect(try Quantity("-2") < Quantity("-1"))
        #expect(try Quantity("0") == Quantity("-0"))
        #expect(try Set([Quantity("1Ki"), Quantity("1024"), Quantity("1.024k")]).count == 1)
    }

    @Test func constructors() {
        #expect(Quantity(milliValue: 500).description == "500m")
        #expect(Quantity(integer: 16 << 20, format: .binarySI).description == "16Mi")
        #expect(Quantity(integer: 3000).description == "3k")
        #expect(Quantity(integer: 0).description == "0")
    }

    @Test func codable() throws {
        let decoded = try JSONDecoder().decode([Quantity].self, from: Data(#"["128Mi", " 1 ", 2, 1.5, "1e3"]"#.utf8))
        #expect(decoded.map(\.description) == ["128Mi", "1", "2", "1500m", "1e3"])
        let encoded = try JSONEncoder().encode(try Quantity("1024Mi"))
        #expect(String(decoding: encoded, as: UTF8.self) == #""1Gi""#)
        #expect(throws: AppcError.self) { try JSONDecoder().decode([Quantity].self, from: Data(#"["lots"]"#.utf8)) }
        #expect(throws: (any Error).self) { try JSONDecoder().decode([Quantity].self, from: Data("[true]".utf8)) }
    }
}
