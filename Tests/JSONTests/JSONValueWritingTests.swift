import XCTest
import JSON

final class JSONValueWritingTests: XCTestCase {
    func testRoundTrip() throws {
        let value: JSONValue = ["s": "quote \" backslash \\ newline \n tab \t ctl \u{1} emoji 😀", "n": 42, "a": [true, nil], "o": [:]]
        XCTAssertEqual(try JSONParser.parse(value.serialized()), value)
    }

    func testControlCharactersAreEscaped() {
        XCTAssertEqual(JSONValue.string("\u{1}\u{1f}").text, #""\u0001\u001f""#)
        XCTAssertEqual(JSONValue.string("a\"b\\c\nd\re\tf\u{0}\u{1a}\u{7f} é 😀").text, #""a\"b\\c\nd\re\tf\u0000\u001a\#u{7f} é 😀""#)
        XCTAssertEqual(JSONValue.string("plain é 😀 </script>").text, #""plain é 😀 </script>""#)
    }

    func testNonFiniteDoublesBecomeNull() {
        XCTAssertEqual(JSONValue.double(.nan).text, "null")
        XCTAssertEqual(JSONValue.double(.infinity).text, "null")
    }
}
