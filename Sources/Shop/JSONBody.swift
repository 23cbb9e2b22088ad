import HTTPServer
import JSON

/// Reads a JSON object member by member, collecting every problem with a
/// field path (`shippingAddress.country`) so one 422 names them all.
/// Unknown members are ignored; wrong types and bad values are errors.
struct JSONBody {
    private let members: [(String, JSONValue)]
    private let path: String
    private(set) var errors: [FieldError] = []

    /// Parses a request body: 415 unless it is JSON, 400 unless it parses, 422 unless it is an object.
    static func parse(_ request: HTTPRequest) throws(HTTPError) -> JSONBody {
        try requireJSONContentType(request)
        let value: JSONValue
        // RFC 8259 §8.1: senders must not start with a byte order mark, parsers may ignore one;
        // editors on Windows save JSON files with it, and `curl -d @file` sends it along.
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        do {
            value = try JSONParser.parse(request.body.starts(with: bom) ? Array(request.body.dropFirst(3)) : request.body)
        } catch {
            throw Problems.problem(.malformedJSON, "The body is not valid JSON: \(error).")
        }
        guard case .object(let members) = value else {
            throw Problems.validation([FieldError(field: "(body)", message: "must be a JSON object")])
        }
        return JSONBody(members: members, path: "")
    }

    /// The response field that names the body media types a method takes here, for
    /// a 415 and for OPTIONS: `Accept-Patch` (RFC 5789 §3.1) and `Accept-Post` (W3C
    /// LDP §7.1). `Accept` is a request field, and PUT has no such field.
    static func acceptHeader(for method: HTTPMethod) -> (String, String)? {
        switch method {
        case .PATCH: ("Accept-Patch", "application/json")
        case .POST: ("Accept-Post", "application/json")
        default: nil
        }
    }

    static func requireJSONContentType(_ request: HTTPRequest) throws(HTTPError) {
        let accepted = HTTPHeaders(acceptHeader(for: request.method).map { [$0] } ?? [])
        guard let contentType = try singleHeader(request, "Content-Type") else {
            throw HTTPError(.unsupportedMediaType, "Send the body as JSON with Content-Type: application/json.", headers: accepted)
        }
        let parts = contentType.split(separator: ";").map { $0.trimmingOWS().lowercased() }
        let mediaType = parts.first ?? ""
        let charsetOK = parts.dropFirst().allSatisfy { param in
            !param.hasPrefix("charset=") || ["charset=utf-8", "charset=\"utf-8\"", "charset=utf8"].contains(param)
        }
        guard mediaType == "application/json" || (mediaType.hasPrefix("application/") && mediaType.hasSuffix("+json")), charsetOK else {
            throw HTTPError(.unsupportedMediaType, "Content-Type \(contentType) is not accepted; send application/json (UTF-8).",
                            headers: accepted)
        }
        // RFC 9110 §12.5.3: a content coding this server cannot undo (gzip, br) is a 415 that says
        // which codings it takes, rather than compressed bytes read as JSON.
        let codings = request.headers.values("Content-Encoding").flatMap { $0.split(separator: ",") }.map { $0.trimmingOWS().lowercased() }
        guard codings.allSatisfy({ $0 == "identity" }) else {
            throw HTTPError(.unsupportedMediaType, "Content-Encoding \(codings.joined(separator: ", ")) is not accepted; send the body uncompressed.",
                            headers: HTTPHeaders([("Accept-Encoding", "identity")]))
        }
    }

    private init(members: [(String, JSONValue)], path: String) {
        self.members = members
        self.path = path
    }

    private func fieldName(_ name: String) -> String { path.isEmpty ? name : "\(path).\(name)" }
    private func value(_ name: String) -> JSONValue? { members.first { $0.0 == name }?.1 }
    func has(_ name: String) -> Bool { value(name) != nil }

    mutating func fail(_ name: String, _ message: String) {
        errors.append(FieldError(field: fieldName(name), message: message))
    }

    /// The string exactly as sent, of `length` characters; nil (after noting an error) otherwise.
    /// `null` counts as absent when `nullable`; `nonBlank` refuses one made of spaces only.
    /// Nothing is trimmed: the value checked is the value stored, as the spec's maxLength
    /// and patterns describe it (the frontend trims what people type).
    mutating func string(_ name: String, required: Bool, length: ClosedRange<Int>, nullable: Bool = false, nonBlank: Bool = false,
                         allowNewlines: Bool = false) -> String? {
        guard let raw = value(name), !(nullable && raw == .null) else {
            if required { fail(name, "is required") }
            return nil
        }
        guard case .string(let text) = raw else {
            fail(name, "must be a string")
            return nil
        }
        if text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control && !(allowNewlines && $0 == "\n") }) {
            fail(name, allowNewlines ? "must not contain control characters other than newlines" : "must not contain control characters")
            return nil
        }
        // Lengths in code points, the unit of MySQL's VARCHAR(n) and of JSON Schema's maxLength.
        let count = text.unicodeScalars.count
        guard length.contains(count) else {
            fail(name, length.lowerBound == length.upperBound ? "must be \(length.lowerBound) characters"
                 : count < length.lowerBound ? (length.lowerBound == 1 ? "must not be empty" : "must be at least \(length.lowerBound) characters")
                 : "must be at most \(length.upperBound) characters")
            return nil
        }
        if nonBlank, !text.unicodeScalars.contains(where: { $0 != " " }) {
            fail(name, "must contain something other than spaces")
            return nil
        }
        return text
    }

    /// An integer in `range` (JSON numbers with a fraction or exponent are refused).
    mutating func int(_ name: String, required: Bool, range: ClosedRange<Int>) -> Int? {
        guard let raw = value(name) else {
            if required { fail(name, "is required") }
            return nil
        }
        switch raw {
        case .int(let v) where v >= Int64(range.lowerBound) && v <= Int64(range.upperBound):
            return Int(v)
        // JSON has one number type: 64.0 is the integer 64 (as JSON Schema reads it too).
        case .double(let d) where d.rounded() == d && d >= Double(range.lowerBound) && d <= Double(range.upperBound):
            return Int(d)
        case .int, .double:
            if case .double(let d) = raw, d.rounded() != d {
                fail(name, "must be a whole number")
            } else {
                fail(name, "must be a whole number from \(range.lowerBound) to \(range.upperBound)")
            }
            return nil
        default:
            fail(name, "must be a number")
            return nil
        }
    }

    mutating func bool(_ name: String) -> Bool? {
        guard let raw = value(name) else { return nil }
        guard case .bool(let b) = raw else {
            fail(name, "must be true or false")
            return nil
        }
        return b
    }

    /// A nested object, read with its own errors merged into this one's by `finishNested`.
    mutating func object(_ name: String, required: Bool) -> JSONBody? {
        guard let raw = value(name) else {
            if required { fail(name, "is required") }
            return nil
        }
        guard case .object(let members) = raw else {
            fail(name, "must be an object")
            return nil
        }
        return JSONBody(members: members, path: fieldName(name))
    }

    mutating func merge(_ nested: JSONBody) { errors += nested.errors }

    /// Throws the 422 naming every problem found, if any.
    func finish() throws(HTTPError) {
        if !errors.isEmpty { throw Problems.validation(errors) }
    }
}
