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

    func testIfNoneMatchListsAreReadAsRFC9110Writes() {
        let tag = #""abc""#
        let matching = [#""abc""#, #"W/"abc""#, #""x", "abc""#, #""x","abc""#, "*", #" "abc" "#, #""a,b", "abc""#]
        for field in matching { XCTAssertTrue(EntityTag.noneMatch([field], lists: tag), field) }
        XCTAssertTrue(EntityTag.noneMatch([#""x""#, #""abc""#], lists: tag), "a list split over field lines")
        XCTAssertTrue(EntityTag.noneMatch([#""abc""#], lists: #"W/"abc""#), "weak comparison on our side too")
        let notMatching = [#""abd""#, #""ABC""#, "abc", #"w/"abc""#, #""abc"x"#, #""abc" "x""#, #""abc"#, "", ",",
                           "W/", #""a"bc""#, "\"ab\u{7F}c\""]
        for field in notMatching { XCTAssertFalse(EntityTag.noneMatch([field], lists: tag), field) }
        XCTAssertFalse(EntityTag.noneMatch([], lists: tag))
        XCTAssertFalse(EntityTag.noneMatch([#""abc""#, "junk"], lists: tag), "a malformed line voids the condition")
    }
}
