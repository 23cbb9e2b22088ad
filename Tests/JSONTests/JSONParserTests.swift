import XCTest
import JSON

final class JSONParserTests: XCTestCase {
    func testScalarsAndStructure() throws {
        let value = try JSONParser.parse(#" {"a": [1, -2, 3.5, 1e3, true, false, null], "b": {"c": "d"}} "#)
        XCTAssertEqual(value["a"], [.int(1), .int(-2), .double(3.5), .double(1000), true, false, .null])
        XCTAssertEqual(value["b"]?["c"], "d")
    }

    func testMemberOrderIsKept() throws {
        guard case .object(let members) = try JSONParser.parse(#"{"z":1,"a":2,"m":3}"#) else { return XCTFail() }
        XCTAssertEqual(members.map(\.0), ["z", "a", "m"])
    }

    func testDuplicateNamesAreRefused() {
        XCTAssertThrowsError(try JSONParser.parse(#"{"quantity": 1, "quantity": 100}"#))
        XCTAssertThrowsError(try JSONParser.parse(#"{"a": {"b": 1, "b": 2}}"#))
    }

    func testEscapesAndUnicode() throws {
        XCTAssertEqual(try JSONParser.parse(#""a\"b\\c\/d\n\t\u00e9\ud83d\ude00""#), .string("a\"b\\c/d\n\té😀"))
        XCTAssertEqual(try JSONParser.parse("\"héllo 😀\""), .string("héllo 😀"))
        XCTAssertEqual(try JSONParser.parse(#""\u0000""#), .string("\u{0}"))
    }

    func testInvalidDocumentsAreRefused() {
        let bad = [
            "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{a:1}", "'a'", "01", "-", "1.", ".5", "1e", "+1", "NaN", "Infinity",
            "tru", "nul", "\"\\x\"", "\"\\ud800\"", "\"\\udc00\"", "\"a\nb\"", "[1] 2", "{\"a\" 1}", "\"unterminated",
        ]
        for text in bad {
            XCTAssertThrowsError(try JSONParser.parse(text), "accepted \(text.debugDescription)")
        }
    }

    func testInvalidUTF8IsRefused() {
        XCTAssertThrowsError(try JSONParser.parse([0x22, 0xFF, 0xFE, 0x22]))
    }

    func testDeepNestingIsBounded() {
        XCTAssertNoThrow(try JSONParser.parse(String(repeating: "[", count: 64) + String(repeating: "]", count: 64)))
        XCTAssertThrowsError(try JSONParser.parse(String(repeating: "[", count: 100_000)))
    }

    func testLargeIntegersBecomeDoubles() throws {
        XCTAssertEqual(try JSONParser.parse("9223372036854775807"), .int(Int64.max))
        guard case .double = try JSONParser.parse("9223372036854775808") else { return XCTFail("expected a double") }
        guard case .double = try JSONParser.parse("1" + String(repeating: "0", count: 400)) else { return XCTFail() }
    }
}
