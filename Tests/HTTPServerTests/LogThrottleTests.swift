import XCTest
@testable import HTTPServer

final class LogThrottleTests: XCTestCase {
    func testLetsOneLineThroughPerIntervalAndCountsTheRestForTheNext() {
        var throttle = LogThrottle(interval: 10)
        XCTAssertEqual(throttle.admit(at: 100), 0, "the first warning is logged at once")
        XCTAssertNil(throttle.admit(at: 100.5))
        XCTAssertNil(throttle.admit(at: 109.9))
        XCTAssertEqual(throttle.admit(at: 110), 2, "the next line says how many were held back")
        XCTAssertNil(throttle.admit(at: 115))
        XCTAssertEqual(throttle.admit(at: 500), 1)
        XCTAssertEqual(throttle.admit(at: 510), 0, "the count starts again after each line")
    }
}
