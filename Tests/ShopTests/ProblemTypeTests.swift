import HTTPServer
import XCTest
@testable import Shop

final class ProblemTypeTests: XCTestCase {
    /// The spec's list of types is the catalogue's, so every type a client can meet has a page.
    func testTheSpecListsExactlyTheCataloguesTypes() throws {
        let yaml = OpenAPIDocument.yaml
        let start = try XCTUnwrap(yaml.range(of: "enum: [about:blank, "))
        let end = try XCTUnwrap(yaml[start.upperBound...].firstIndex(of: "]"))
        let listed = yaml[start.upperBound..<end].split(separator: ",").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        XCTAssertEqual(Set(listed), Set(ProblemType.all.map(\.uri)))
        // And GET /problems/{type}'s parameter names the same ones.
        let pathStart = try XCTUnwrap(yaml.range(of: "enum: [malformed-json, "))
        let pathEnd = try XCTUnwrap(yaml[pathStart.lowerBound...].firstIndex(of: "]"))
        let slugs = yaml[yaml.index(pathStart.lowerBound, offsetBy: 7)..<pathEnd].split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        XCTAssertEqual(Set(slugs), Set(ProblemType.all.map(\.slug)))
        XCTAssertEqual(Set(ProblemType.all.map(\.slug)).count, ProblemType.all.count, "one slug per type")
    }

    /// The page is HTML built from plain text: nothing in the text may read as markup.
    func testPagesSayTitleStatusAndWhatToDo() {
        for type in ProblemType.all {
            XCTAssertFalse((type.title + type.explanation).contains { "<>&\"".contains($0) }, type.slug)
            XCTAssertTrue(type.page.contains("<h1>\(type.title)</h1>"), type.slug)
            XCTAssertTrue(type.page.contains("HTTP status \(type.status.code)."), type.slug)
            XCTAssertTrue(type.page.contains(type.explanation), type.slug)
        }
    }

    /// A problem document carries its type's one title (RFC 9457 §3.1.3), whichever call made it.
    func testADocumentTakesItsTypesTitleAndStatus() {
        let cancel = Orders.notCancellable("o", "shipped")
        XCTAssertEqual(cancel.type, ProblemType.illegalStatusChange.uri)
        XCTAssertEqual(cancel.title, ProblemType.illegalStatusChange.title)
        XCTAssertEqual(cancel.status, .conflict)
        let busy = Problems.unavailable("x")
        XCTAssertEqual(busy.title, ProblemType.unavailable.title)
        XCTAssertEqual(busy.headers["retry-after"], "1")
    }
}
