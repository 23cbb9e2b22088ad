import HTTPServer

/// The shop's problem types (RFC 9457 §3.1): one title per type, whatever the
/// occurrence, and a page at the type's URI that says what it means and what to
/// do, since a type that is a locator should lead to its documentation.
struct ProblemType: Sendable {
    let slug: String
    let status: HTTPStatus
    let title: String
    let explanation: String

    var uri: String { "/problems/\(slug)" }

    static let malformedJSON = ProblemType(
        slug: "malformed-json", status: .badRequest, title: "Malformed JSON",
        explanation: "The request body is not valid JSON (RFC 8259): a syntax error, text after the value, a member name given twice, bytes that are not UTF-8, or nesting deeper than 64. The detail names the byte where reading stopped. Nothing was changed; fix the body and send it again.")
    static let invalidParameter = ProblemType(
        slug: "invalid-parameter", status: .badRequest, title: "Invalid query parameter",
        explanation: "A query parameter is malformed, out of its range, or given more than once. The errors member names it and says what is allowed. Fix the query and send it again.")
    static let invalidHeader = ProblemType(
        slug: "invalid-header", status: .badRequest, title: "Invalid header",
        explanation: "An Idempotency-Key that is not 1 to 255 printable ASCII characters, or two Idempotency-Key or Content-Type fields with different values. The errors member names the field. Nothing was changed; send one well-formed value.")
    static let notFound = ProblemType(
        slug: "not-found", status: .notFound, title: "Not found",
        explanation: "No product, cart or order has this id; a deactivated product counts as none for the public API. Cart and order ids are long random strings: check that the whole id was sent. An open cart nobody has changed for a long time is removed.")
    static let validation = ProblemType(
        slug: "validation", status: .unprocessableContent, title: "Invalid request",
        explanation: "The body is well-formed JSON, but values in it are not acceptable. The errors member has one entry per bad field, with its path (such as shippingAddress.country) and what the field takes. Nothing was changed; fix those fields and send it again.")
    static let duplicateSKU = ProblemType(
        slug: "duplicate-sku", status: .conflict, title: "Duplicate SKU",
        explanation: "Another product already has this sku, and SKUs are unique. Choose another sku, or change the existing product with PATCH.")
    static let insufficientStock = ProblemType(
        slug: "insufficient-stock", status: .conflict, title: "Not enough stock",
        explanation: "A cart line asks for more units than the product has in stock. The items member names each short line with the quantity requested and the units available. Nothing was changed: a checkout ordered nothing. Lower those quantities, or remove the lines, and try again.")
    static let cartOrdered = ProblemType(
        slug: "cart-ordered", status: .conflict, title: "Cart already ordered",
        explanation: "The cart has been checked out, so it can no longer change or be ordered again; the order holds what was bought. Start a new cart for a new purchase.")
    static let illegalStatusChange = ProblemType(
        slug: "illegal-status-change", status: .conflict, title: "Status change not allowed",
        explanation: "An order moves from pending to paid to shipped to delivered, and can be cancelled while it is pending or paid. The move asked for is not one of those; the detail says where the order stands.")
    static let requestInProgress = ProblemType(
        slug: "request-in-progress", status: .conflict, title: "Request in progress",
        explanation: "A request with the same Idempotency-Key is still being processed. Send the same request again after the seconds in Retry-After: it then gets the first request's answer, and nothing is ordered twice.")
    static let unavailable = ProblemType(
        slug: "unavailable", status: .serviceUnavailable, title: "Service unavailable",
        explanation: "The database cannot take the request now: it cannot be reached, refuses the login, is not migrated, has no room left, or is too busy. Send the request again after the seconds in Retry-After. A checkout sent again with the same Idempotency-Key cannot order twice.")
    static let timeLimit = ProblemType(
        slug: "time-limit", status: .serviceUnavailable, title: "Stopped at the time limit",
        explanation: "The database stopped this listing at its time limit: a text search or a very deep page read too much of the catalog. The same listing would be stopped again; narrow it with a category, a price range or a longer search text.")

    static let all: [ProblemType] = [
        malformedJSON, invalidParameter, invalidHeader, notFound, validation, duplicateSKU, insufficientStock,
        cartOrdered, illegalStatusChange, requestInProgress, unavailable, timeLimit,
    ]

    /// The page at `uri`: plain HTML, no script or style, so any Content-Security-Policy lets it show.
    var page: String {
        """
        <!doctype html>
        <html lang="en">
        <head><meta charset="utf-8"><title>\(title): Storefront API problem type</title></head>
        <body>
        <h1>\(title)</h1>
        <p>HTTP status \(status.code). Problem type <code>\(uri)</code> of the Storefront API.</p>
        <p>\(explanation)</p>
        <p>The whole contract: <a href="/api/v1/openapi.yaml">/api/v1/openapi.yaml</a>.</p>
        </body>
        </html>

        """
    }
}
