import XCTest
@testable import HTTPServer

final class EntityTagTests: XCTestCase {
    func testTagsAreWeakQuotedAndFollowTheBytes() {
        let tag = EntityTag.of(Array("{}".utf8))
        XCTAssertTrue(tag.hasPrefix("W/\"") && tag.hasSuffix("\"") && tag.count == 20, tag)
        XCTAssertEqual(tag, EntityTag.of(Array("{}".utf8)))
        XCTAssertNotEqual(tag, EntityTag.of(Array("{ }".utf8)))
        XCTAssertEqual(EntityTag.of([]), "W/\"cbf29ce484222325\"", "FNV-1a's offset basis: the empty body")
    }

    private func ifNoneMatch(_ fields: [String], _ etag: String?, exists: Bool = true) -> EntityTag.Precondition {
        EntityTag.evaluate(HTTPHeaders(fields.map { ("If-None-Match", $0) }), current: etag, exists: exists)
    }

    private func ifMatch(_ fields: [String], _ etag: String?, exists: Bool = true) -> EntityTag.Precondition {
        EntityTag.evaluate(HTTPHeaders(fields.map { ("If-Match", $0) }), current: etag, exists: exists)
    }

    func testIfNoneMatchListsAreReadAsRFC9110Writes() {
        let tag = #""abc""#
        let matching = [#""abc""#, #"W/"abc""#, #""x", "abc""#, #""x","abc""#, "*", #" "abc" "#, #""a,b", "abc""#]
        for field in matching { XCTAssertEqual(ifNoneMatch([field], tag), .ifNoneMatchFails, field) }
        XCTAssertEqual(ifNoneMatch([#""x""#, #""abc""#], tag), .ifNoneMatchFails, "a list split over field lines")
        XCTAssertEqual(ifNoneMatch([#""abc""#], #"W/"abc""#), .ifNoneMatchFails, "weak comparison on our side too")
        let notMatching = [#""abd""#, #""ABC""#, "abc", #"w/"abc""#, #""abc"x"#, #""abc" "x""#, #""abc"#, "", ",",
                           "W/", #""a"bc""#, "\"ab\u{7F}c\""]
        for field in notMatching { XCTAssertEqual(ifNoneMatch([field], tag), .holds, field) }
        XCTAssertEqual(ifNoneMatch([], tag), .holds)
        XCTAssertEqual(ifNoneMatch([#""abc""#, "junk"], tag), .holds, "a malformed line voids the condition")
        XCTAssertEqual(ifNoneMatch(["*"], nil, exists: false), .holds, "* holds back only what exists")
        XCTAssertEqual(ifNoneMatch(["*"], nil), .ifNoneMatchFails, "an untagged representation still exists")
        XCTAssertEqual(ifNoneMatch([#""abc""#], nil), .holds)
    }

    func testIfMatchComparesStronglyAndAMalformedListNeverHolds() {
        XCTAssertEqual(ifMatch([#""abc""#], #""abc""#), .holds)
        XCTAssertEqual(ifMatch([#""x", "abc""#], #""abc""#), .holds)
        XCTAssertEqual(ifMatch([#""x""#, #""abc""#], #""abc""#), .holds, "a list split over field lines")
        for (field, etag) in [(#"W/"abc""#, #""abc""#), (#""abc""#, #"W/"abc""#), (#"W/"abc""#, #"W/"abc""#)] {
            XCTAssertEqual(ifMatch([field], etag), .ifMatchFails, "strong comparison: \(field) against \(etag)")
        }
        XCTAssertEqual(ifMatch([#""abd""#], #""abc""#), .ifMatchFails)
        XCTAssertEqual(ifMatch([#""abc""#], nil), .ifMatchFails, "nothing matches an untagged representation")
        XCTAssertEqual(ifMatch(["*"], nil), .holds, "* holds for anything that exists")
        XCTAssertEqual(ifMatch(["*"], nil, exists: false), .ifMatchFails)
        XCTAssertEqual(ifMatch(["*"], #"W/"abc""#), .holds)
        for malformed in ["abc", #""abc"#, "", #""abc" junk"#] {
            XCTAssertEqual(ifMatch([malformed], #""abc""#), .ifMatchFails, "malformed: \(malformed)")
        }
    }

    func testIfMatchComesFirst() {
        let both = HTTPHeaders([("If-Match", #""x""#), ("If-None-Match", #""abc""#)])
        XCTAssertEqual(EntityTag.evaluate(both, current: #""abc""#, exists: true), .ifMatchFails, "RFC 9110 §13.2.2: step 1 before step 3")
        let holds = HTTPHeaders([("If-Match", #""abc""#), ("If-None-Match", #""abc""#)])
        XCTAssertEqual(EntityTag.evaluate(holds, current: #""abc""#, exists: true), .ifNoneMatchFails)
    }
}
