import Foundation
import XCTest
import JSON
@testable import HTTPServer
@testable import Shop

private func request(_ body: String, contentType: String? = "application/json", query: String = "") -> HTTPRequest {
    var headers = HTTPHeaders()
    if let contentType { headers.add("Content-Type", contentType) }
    return HTTPRequest(method: .POST, target: "/x" + (query.isEmpty ? "" : "?" + query), headers: headers, body: Array(body.utf8))
}

private func status(_ body: () throws -> Void) -> Int? {
    do {
        try body()
        return nil
    } catch let error as HTTPError {
        return error.status.code
    } catch {
        return -1
    }
}

final class JSONBodyTests: XCTestCase {
    func testContentTypeRules() {
        XCTAssertNil(status { _ = try JSONBody.parse(request("{}")) })
        XCTAssertNil(status { _ = try JSONBody.parse(request("{}", contentType: "application/json; charset=UTF-8")) })
        XCTAssertNil(status { _ = try JSONBody.parse(request("{}", contentType: "application/merge-patch+json")) })
        XCTAssertEqual(status { _ = try JSONBody.parse(request("{}", contentType: nil)) }, 415)
        XCTAssertEqual(status { _ = try JSONBody.parse(request("{}", contentType: "text/plain")) }, 415)
        XCTAssertEqual(status { _ = try JSONBody.parse(request("{}", contentType: "application/json; charset=latin1")) }, 415)
    }

    func testA415NamesTheMediaTypeInTheResponseFieldForItsMethod() {
        func refused(_ method: HTTPMethod, _ contentType: String?) -> HTTPHeaders? {
            let request = HTTPRequest(method: method, target: "/x", headers: HTTPHeaders(contentType.map { [("Content-Type", $0)] } ?? []),
                                      body: Array("{}".utf8))
            do {
                _ = try JSONBody.parse(request)
                return nil
            } catch {
                XCTAssertEqual(error.status.code, 415)
                return error.headers
            }
        }
        for contentType in [nil, "text/plain"] {
            XCTAssertEqual(refused(.PATCH, contentType)?["Accept-Patch"], "application/json", "RFC 5789 §2.2")
            XCTAssertEqual(refused(.POST, contentType)?["Accept-Post"], "application/json")
            let put = refused(.PUT, contentType)
            XCTAssertNotNil(put)
            XCTAssertNil(put?["Accept-Post"] ?? put?["Accept-Patch"] ?? put?["Accept"], "Accept is a request field; PUT has no response field for it")
            XCTAssertNil(refused(.POST, contentType)?["Accept"])
        }
    }

    func testAContentCodingOtherThanIdentityIs415NamingWhatIsTaken() {
        func coded(_ codings: [String]) -> HTTPRequest {
            HTTPRequest(method: .PUT, target: "/x", headers: HTTPHeaders([("Content-Type", "application/json")] + codings.map { ("Content-Encoding", $0) }),
                        body: Array("{}".utf8))
        }
        XCTAssertNil(status { _ = try JSONBody.parse(coded(["identity"])) })
        XCTAssertNil(status { _ = try JSONBody.parse(coded(["Identity", " identity "])) })
        for codings in [["gzip"], ["br"], ["identity, gzip"], ["identity", "deflate"], ["x-unknown"]] {
            XCTAssertEqual(status { _ = try JSONBody.parse(coded(codings)) }, 415, "\(codings)")
        }
        do {
            _ = try JSONBody.parse(coded(["gzip"]))
            XCTFail("gzip was taken")
        } catch {
            XCTAssertEqual(error.headers["Accept-Encoding"], "identity")
            XCTAssertTrue(error.detail.contains("Content-Encoding gzip"), error.detail)
        }
    }

    func testAHeaderThatIsNoListCountsOnlyWhenEveryCopyAgrees() {
        func twice(_ first: String, _ second: String) -> HTTPRequest {
            HTTPRequest(method: .POST, target: "/x", headers: HTTPHeaders([("Content-Type", first), ("content-type", second)]), body: Array("{}".utf8))
        }
        XCTAssertNil(status { _ = try JSONBody.parse(twice("application/json", "application/json")) })
        XCTAssertEqual(status { _ = try JSONBody.parse(twice("application/json", "text/plain")) }, 400)
        XCTAssertEqual(status { _ = try JSONBody.parse(twice("text/plain", "application/json")) }, 400)
        XCTAssertEqual(try singleHeader(twice("a", "a"), "CONTENT-TYPE"), "a")
        XCTAssertNil(try singleHeader(twice("a", "a"), "Idempotency-Key"))
    }

    func testMalformedIs400AndNonObjectIs422() {
        XCTAssertEqual(status { _ = try JSONBody.parse(request("{")) }, 400)
        XCTAssertEqual(status { _ = try JSONBody.parse(request(#"{"a":1,"a":2}"#)) }, 400)
        XCTAssertEqual(status { _ = try JSONBody.parse(request("[]")) }, 422)
        XCTAssertEqual(status { _ = try JSONBody.parse(request("")) }, 400)
        XCTAssertEqual(status { _ = try JSONBody.parse(request("\u{FEFF}")) }, 400)
        XCTAssertEqual(status { _ = try JSONBody.parse(request("\u{FEFF}\u{FEFF}{}")) }, 400, "one byte order mark, not any number")
        XCTAssertEqual(status { _ = try JSONBody.parse(request("{}\u{FEFF}")) }, 400, "only at the start")
    }

    func testALeadingByteOrderMarkIsIgnored() throws {
        var body = try JSONBody.parse(request("\u{FEFF}{\"quantity\": 2}"))
        XCTAssertEqual(body.int("quantity", required: true, range: 0...100), 2)
    }

    func testStrings() throws {
        var body = try JSONBody.parse(request(#"{"a":"  hi  ","b":"","c":5,"d":"x\u0001","e":"é😀","f":null}"#))
        XCTAssertEqual(body.string("a", required: true, length: 1...10), "  hi  ", "nothing is trimmed")
        XCTAssertNil(body.string("b", required: true, length: 1...10))
        XCTAssertNil(body.string("c", required: true, length: 1...10))
        XCTAssertNil(body.string("d", required: true, length: 1...10))
        XCTAssertEqual(body.string("e", required: true, length: 2...2), "é😀", "lengths are in code points")
        XCTAssertNil(body.string("f", required: false, length: 0...10, nullable: true))
        // What the spec's maxLength and patterns see: the raw value, surrounding spaces and tabs included.
        var raw = try JSONBody.parse(request(#"{"g":"\tx","h":"1234567890 ","i":"   ","j":" x "}"#))
        XCTAssertNil(raw.string("g", required: true, length: 1...10), "a tab is a control character, also at the edge")
        XCTAssertNil(raw.string("h", required: true, length: 1...10), "a trailing space counts towards the length")
        XCTAssertEqual(raw.string("i", required: true, length: 1...10), "   ")
        XCTAssertNil(raw.string("i", required: true, length: 1...10, nonBlank: true))
        XCTAssertEqual(raw.string("j", required: true, length: 1...10, nonBlank: true), " x ")
        XCTAssertEqual(raw.errors.map(\.field), ["g", "h", "i"])
        XCTAssertNil(body.string("missing", required: true, length: 1...10))
        XCTAssertEqual(body.errors.map(\.field), ["b", "c", "d", "missing"])
    }

    func testCodePointsNotGraphemes() throws {
        // "e" + combining acute is one grapheme but two code points, as MySQL counts it.
        var body = try JSONBody.parse(request(#"{"a":"e\u0301"}"#))
        XCTAssertNil(body.string("a", required: true, length: 1...1))
    }

    func testIntegers() throws {
        var body = try JSONBody.parse(request(#"{"a":5,"b":5.0,"c":5.5,"d":"5","e":1e400,"f":101,"g":true}"#))
        XCTAssertEqual(body.int("a", required: true, range: 0...100), 5)
        XCTAssertEqual(body.int("b", required: true, range: 0...100), 5)
        XCTAssertNil(body.int("c", required: true, range: 0...100))
        XCTAssertNil(body.int("d", required: true, range: 0...100))
        XCTAssertNil(body.int("e", required: true, range: 0...100))
        XCTAssertNil(body.int("f", required: true, range: 0...100))
        XCTAssertNil(body.int("g", required: true, range: 0...100))
        XCTAssertEqual(body.errors.count, 5)
    }

    func testNestedErrorsCarryTheirPath() throws {
        var body = try JSONBody.parse(request(#"{"customer":{"email":7}}"#))
        var customer = try XCTUnwrap(body.object("customer", required: true))
        _ = customer.string("email", required: true, length: 1...10)
        body.merge(customer)
        XCTAssertEqual(body.errors.map(\.field), ["customer.email"])
        XCTAssertEqual(status { try body.finish() }, 422)
    }
}

final class ShopRulesTests: XCTestCase {
    func testEmailPlausibility() {
        for ok in ["ada@example.com", "a.b+tag@sub.example.co.uk", "ü@bücher.de"] {
            XCTAssertTrue(CheckoutService.isPlausibleEmail(ok), ok)
        }
        for bad in ["", "ada", "@example.com", "ada@", "ada@example", "ada@@example.com", "a da@example.com", "ada@example..com",
                    "ada@.example.com", "ada@example.com.", "<ada@example.com>", String(repeating: "a", count: 65) + "@example.com"] {
            XCTAssertFalse(CheckoutService.isPlausibleEmail(bad), bad)
        }
    }

    func testSlugs() {
        for ok in ["shoes", "trail-shoes", "a1-b2-c3"] { XCTAssertTrue(Catalog.isSlug(ok), ok) }
        for bad in ["", "-a", "a-", "a--b", "Shoes", "a_b", "a b", "é"] { XCTAssertFalse(Catalog.isSlug(bad), bad) }
    }

    /// The server's rule and the spec's pattern must agree, or schemathesis finds the gap.
    func testImageURLsAreAbsolutePathsOrPlainHTTPURLs() throws {
        let yaml = OpenAPIDocument.yaml
        let start = try XCTUnwrap(yaml.range(of: "imageUrl: {type: [string, 'null'], maxLength: 2048, pattern: '")).upperBound
        let pattern = String(yaml[start...].prefix { $0 != "'" })
        let regex = try NSRegularExpression(pattern: pattern)
        let good = ["/images/shoes.svg", "/", "https://cdn.example.com/a.png", "http://127.0.0.1:8080/x?y=1#z", "https://a-b.example",
                    "http://example.com?x", "https://x.example/[brackets]"]
        let bad = ["//evil.example/x.png", "http://", "http://[::1]/x", "http://[", "http://host:/x", "http://host:123456/x",
                   "http://user@host/x", "http://ex ample.com/", "ftp://x/y", "images/x.png", "/a b", "https://hé.example/"]
        for url in good + bad {
            let matches = regex.firstMatch(in: url, range: NSRange(url.startIndex..., in: url)) != nil
            XCTAssertEqual(Catalog.isImageURL(url), good.contains(url), url)
            XCTAssertEqual(matches, good.contains(url), "spec pattern on \(url)")
        }
    }

    func testLikePatternTreatsWildcardsLiterally() {
        XCTAssertEqual(Catalog.likePattern("100%"), "%100\\%%")
        XCTAssertEqual(Catalog.likePattern("a_b\\c"), "%a\\_b\\\\c%")
    }

    func testIdentifiersAre22URLSafeCharactersAndDistinct() {
        let ids = (0..<1000).map { _ in Identifier.make() }
        XCTAssertEqual(Set(ids).count, 1000)
        for id in ids { XCTAssertTrue(Identifier.isWellFormed(id.utf8), id) }
        XCTAssertFalse(Identifier.isWellFormed("short".utf8))
        XCTAssertFalse(Identifier.isWellFormed(String(repeating: "=", count: 22).utf8))
    }

    func testConstantTimeCompare() {
        XCTAssertTrue(ShopAPI.constantTimeEquals(Array("secret-token".utf8), Array("secret-token".utf8)))
        XCTAssertFalse(ShopAPI.constantTimeEquals(Array("secret-tokeN".utf8), Array("secret-token".utf8)))
        XCTAssertFalse(ShopAPI.constantTimeEquals(Array("secret".utf8), Array("secret-token".utf8)))
        XCTAssertFalse(ShopAPI.constantTimeEquals(Array("secret-token-and-more".utf8), Array("secret-token".utf8)))
        XCTAssertFalse(ShopAPI.constantTimeEquals([], Array("secret-token".utf8)))
    }

    func testLogsShowNoCapabilityNorEmail() {
        let masked = [
            ("/api/v1/carts/6KLCKE2aMcbGIF75CdK1Og", "/api/v1/carts/***"),
            ("/api/v1/carts/6KLCKE2aMcbGIF75CdK1Og/items/19", "/api/v1/carts/***/items/19"),
            ("/api/v1/orders/pQSodRzYl5J6LD8WtjgYng/cancel", "/api/v1/orders/***/cancel"),
            ("/api/v1/cart/6KLCKE2aMcbGIF75CdK1Og/items/3", "/api/v1/cart/***/items/3"),
            ("/api/v1/carts/6KLCKE2aMcbGIF75CdK1O", "/api/v1/carts/***"),
            ("http://shop.example/api/v1/orders/abc?x=1", "http://shop.example/api/v1/orders/***?x=1"),
            ("/api/v1/orders?status=paid&email=ada%40example.com&limit=5", "/api/v1/orders?status=paid&email=***&limit=5"),
            ("/api/v1/orders?email=ada@example.com", "/api/v1/orders?email=***"),
            ("/api/v1/orders/carts/x?", "/api/v1/orders/***/***?"),
        ]
        for (target, logged) in masked { XCTAssertEqual(ShopAPI.loggableTarget(target), logged, target) }
        for target in ["/api/v1/products/7", "/api/v1/products?q=carts&category=orders", "/api/v1/orders", "/api/v1/carts", "/api/v1/carts/", "/healthz", "*"] {
            XCTAssertEqual(ShopAPI.loggableTarget(target), target)
        }
    }

    func testListQueryParsing() throws {
        func list(_ query: String) throws -> Catalog.ListQuery { try Catalog.listQuery(request("", query: query)) }
        let q = try list("category=shoes&q=%20wool%2B&minPrice=100&maxPrice=200&sort=-price&limit=5&offset=10&other=1")
        XCTAssertEqual(q.category, "shoes")
        XCTAssertEqual(q.text, "wool+")
        XCTAssertEqual(q.minPrice, 100)
        XCTAssertEqual(q.sort, "-price")
        XCTAssertEqual(q.limit, 5)
        XCTAssertEqual(q.offset, 10)
        for bad in ["limit=0", "limit=101", "offset=-1", "sort=id", "limit=1&limit=1", "q=%zz", "minPrice=1.5"] {
            XCTAssertEqual(status { _ = try list(bad) }, 400, bad)
        }
    }

    func testProductFieldsCarryWhatTheServerMustActOn() throws {
        let draft = try Catalog.productFields(request(#"{"sku":"A-1","name":"A","category":"a","priceCents":1,"stock":1,"active":false}"#), creating: true)
        XCTAssertEqual(draft.active, false, "a product can be created hidden")
        // A change carries its sku for `update` to compare with the stored one.
        XCTAssertEqual(try Catalog.productFields(request(#"{"sku":"A-1","currency":"USD","id":9}"#), creating: false).sku, "A-1")
        XCTAssertEqual(status { _ = try Catalog.productFields(request(#"{"currency":"EUR"}"#), creating: false) }, 422)
        XCTAssertEqual(status { _ = try Catalog.productFields(request(#"{"active":"no"}"#), creating: true) }, 422)
    }

    func testProductIdsHaveOneSpelling() throws {
        func id(_ text: String) throws -> Int64 {
            var r = request("")
            r.pathParameters = ["id": text]
            return try Catalog.productID(r)
        }
        XCTAssertEqual(try id("7"), 7)
        XCTAssertEqual(try id("123456789012345678"), 123456789012345678)
        for bad in ["", "0", "07", "+7", "-7", "7.0", " 7", "1234567890123456789", "9223372036854775808"] {
            XCTAssertEqual(status { _ = try id(bad) }, 404, bad)
        }
    }

    func testCountryList() {
        XCTAssertEqual(Countries.alpha2.count, 249)
        XCTAssertTrue(Countries.alpha2.isSuperset(of: ["US", "DE", "GB", "NO", "JP"]))
        XCTAssertFalse(Countries.alpha2.contains("XX"))
        XCTAssertFalse(Countries.alpha2.contains("UK"))
    }

    func testEmbeddedOpenAPIMatchesDocs() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../docs/openapi.yaml")
        let onDisk = try String(contentsOf: url, encoding: .utf8)
        XCTAssertEqual(OpenAPIDocument.yaml + "\n", onDisk, "run scripts/embed-openapi after editing docs/openapi.yaml")
    }

    func testEveryPageAndSortOfAFilterSharesOneCount() throws {
        func query(_ q: String) throws -> Catalog.ListQuery { try Catalog.listQuery(request("", contentType: nil, query: q)) }
        let first = try query("category=shoes&minPrice=100")
        let later = try query("category=shoes&minPrice=100&sort=-price&limit=50&offset=100")
        XCTAssertEqual(first.countKey, later.countKey)
        XCTAssertNotEqual(first.cacheKey, later.cacheKey)
        XCTAssertNotEqual(first.countKey, try query("category=shoes&minPrice=101").countKey)
        XCTAssertNotEqual(first.countKey, try query("category=shoes&minPrice=100&q=red").countKey)
    }
}
