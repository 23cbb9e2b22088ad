import XCTest
@testable import HTTPServer

final class RouterTests: XCTestCase {
    private let router: Router = {
        let router = Router()
        router.get("/api/v1/products") { _ in .json(["list": true]) }
        router.get("/api/v1/products/{id}") { _ in .json(["one": true]) }
        router.add(.POST, "/api/v1/carts") { _ in .json([:]) }
        return router
    }()

    /// The match in a form that compares: the pattern and parameters, or 404, 405 with Allow and the pattern, or malformed.
    private func match(_ method: HTTPMethod, _ path: String) -> String {
        switch router.match(method, path: path) {
        case .found(let route, let parameters)?: return route.pattern + parameters.sorted { $0.key < $1.key }.map { " \($0.key)=\($0.value)" }.joined()
        case .methodNotAllowed(let allow, let pattern)?: return "405 " + allow.joined(separator: ",") + " " + pattern
        case .notFound?: return "404"
        case .serverWide?: return "*"
        case nil: return "malformed"
        }
    }

    func testSegmentsAreComparedPercentDecoded() {
        XCTAssertEqual(match(.GET, "/api/v1/%70roducts"), "/api/v1/products")
        XCTAssertEqual(match(.GET, "/api/v1/products/%31"), "/api/v1/products/{id} id=1")
        XCTAssertEqual(match(.GET, "/api/v1/products/a%2Fb"), "/api/v1/products/{id} id=a/b", "an encoded slash stays inside its segment")
        XCTAssertEqual(match(.GET, "/api%2Fv1/products"), "404", "an encoded slash does not split a segment")
    }

    func testEmptySegmentsNameNoResource() {
        for path in ["/api/v1/products/", "//api/v1/products", "/api//v1/products", "/api/v1/products//1", "/api/v1/products/1/", "/"] {
            XCTAssertEqual(match(.GET, path), "404", path)
        }
        XCTAssertEqual(match(.GET, "/api/v1/products/1"), "/api/v1/products/{id} id=1")
    }

    func testMalformedEscapeIsNoMatchAtAll() {
        XCTAssertEqual(match(.GET, "/api/v1/products/%ZZ"), "malformed")
        XCTAssertEqual(match(.GET, "/api/v1/pro%2"), "malformed")
    }

    func testMethodsAndMisses() {
        XCTAssertEqual(match(.HEAD, "/api/v1/products"), "/api/v1/products", "GET routes answer HEAD")
        XCTAssertEqual(match(.GET, "/api/v1/carts"), "405 POST /api/v1/carts", "a 405 names its path's route for metrics")
        XCTAssertEqual(match(.DELETE, "/api/v1/products/7"), "405 GET,HEAD /api/v1/products/{id}")
        XCTAssertEqual(match(.GET, "/api/v2/products"), "404")
        XCTAssertEqual(match(.OPTIONS, "*"), "*")
    }
}
