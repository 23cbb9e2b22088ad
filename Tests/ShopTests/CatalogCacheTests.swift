import HTTPServer
import XCTest
@testable import Shop

final class CatalogCacheTests: XCTestCase {
    func testAHitIsServedUntilAWriteEmptiesTheCache() {
        let cache = CatalogCache(ttl: 60)
        var loads = 0
        let load = { () -> [UInt8] in loads += 1; return Array("page \(loads)".utf8) }
        XCTAssertEqual(cache.entry("/products/1", load).body, Array("page 1".utf8))
        XCTAssertEqual(cache.entry("/products/1", load).body, Array("page 1".utf8))
        XCTAssertEqual(cache.fresh("/products/1")?.body, Array("page 1".utf8))
        XCTAssertEqual(cache.fresh("/products/1")?.etag, EntityTag.of(Array("page 1".utf8)), "hashed once, kept with the body")
        cache.invalidate()
        XCTAssertNil(cache.fresh("/products/1"))
        XCTAssertEqual(cache.entry("/products/1", load).body, Array("page 2".utf8))
        XCTAssertEqual(loads, 2)
    }

    /// Anyone can send distinct query strings: what they cost in memory is bounded in bytes.
    func testDistinctKeysStayWithinTheByteBudget() {
        let cache = CatalogCache(ttl: 60, maxBytes: 1 << 20)
        let page = [UInt8](repeating: 0x7B, count: 50_000)
        for offset in 0..<1_000 {
            XCTAssertEqual(cache.entry("/products?offset=\(offset)") { page }.body.count, page.count)
            XCTAssertLessThanOrEqual(cache.bytesHeld, 1 << 20)
        }
        XCTAssertGreaterThan(cache.bytesHeld, 0)
        XCTAssertNotNil(cache.fresh("/products?offset=999"), "the newest page is kept")
    }

    func testExpiredEntriesMakeRoomBeforeFreshOnesAreDropped() {
        let cache = CatalogCache(ttl: 0.05, maxBytes: 100_000)
        let page = [UInt8](repeating: 0x7B, count: 20_000)
        for offset in 0..<4 { _ = cache.entry("/old?\(offset)") { page } }
        usleep(100_000)
        _ = cache.entry("/fresh?0") { page }
        _ = cache.entry("/fresh?1") { page }
        XCTAssertNotNil(cache.fresh("/fresh?0"), "only the expired entries were dropped")
        XCTAssertEqual(cache.bytesHeld, 2 * (20_000 + "/fresh?0".utf8.count + 64))
    }

    func testABodyTooBigForTheBudgetIsServedButNotKept() {
        let cache = CatalogCache(ttl: 60, maxBytes: 100_000)
        let big = [UInt8](repeating: 0x7B, count: 40_000)
        XCTAssertEqual(cache.entry("/big") { big }.body, big)
        XCTAssertNil(cache.fresh("/big"))
        XCTAssertEqual(cache.bytesHeld, 0)
    }
}
