/// The body half of `HTTPRequestParser`: Content-Length bodies and chunked
/// transfer coding with its trailers (RFC 9112 §6–7), byte by byte like the head.
extension HTTPRequestParser {
    mutating func parseBody(_ bytes: UnsafeBufferPointer<UInt8>) throws(HTTPParseError) -> (Int, HTTPRequest?) {
        let cr: UInt8 = 0x0D, lf: UInt8 = 0x0A, sp: UInt8 = 0x20, ht: UInt8 = 0x09
        var i = 0
        if !bytes.isEmpty { awaitingContinue = false }
        while true {
            if state == .body {
                let n = min(bodyRemaining, bytes.count - i)
                request!.body.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[i..<(i + n)]))
                i += n
                bodyRemaining -= n
                return (i, bodyRemaining == 0 ? finish() : nil)
            }
            if state == .chunkData {
                let n = min(chunkRemaining, bytes.count - i)
                request!.body.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[i..<(i + n)]))
                i += n
                chunkRemaining -= n
                if chunkRemaining > 0 { return (i, nil) }
                state = .chunkDataCR
                continue
            }
            guard i < bytes.count else { return (i, nil) }
            let b = bytes[i]
            i += 1
            chunkLineBytes += 1
            if chunkLineBytes > 4096 && (state == .chunkSize || state == .chunkSizeBWS || state == .chunkExtension) {
                throw HTTPParseError(Self.bad, "A chunk-size line is longer than 4096 bytes.")
            }
            switch state {
            case .chunkSize:
                if let digit = PercentDecoding.hexValue(b) {
                    // Overflow guard on the value, not the digits: leading zeros are allowed.
                    guard chunkRemaining >> 58 == 0 else {
                        throw HTTPParseError(.contentTooLarge, "A chunk is larger than the limit of \(limits.maxBodyBytes) bytes.")
                    }
                    chunkRemaining = chunkRemaining << 4 | Int(digit)
                } else if chunkLineBytes == 1 {  // not one digit before it
                    throw HTTPParseError(Self.bad, "A chunk must start with its size in hex.")
                } else if b == cr {
                    state = .chunkSizeLF
                } else if b == UInt8(ascii: ";") {
                    state = .chunkExtension
                } else if b == sp || b == ht {
                    state = .chunkSizeBWS
                } else if b == lf {
                    throw HTTPParseError(Self.bad, Self.bareLF)
                } else {
                    throw HTTPParseError(Self.bad, "The chunk size is not a hex number.")
                }
                if request!.body.count + chunkRemaining > limits.maxBodyBytes {
                    throw HTTPParseError(.contentTooLarge, "The request body is larger than the limit of \(limits.maxBodyBytes) bytes.")
                }
            case .chunkSizeBWS:
                if b == UInt8(ascii: ";") {
                    state = .chunkExtension
                } else if b != sp && b != ht {
                    throw HTTPParseError(Self.bad, "Only a chunk extension may follow whitespace after a chunk size.")
                }
            case .chunkExtension:
                // Extensions are read and ignored; only their characters are checked.
                if b == cr {
                    state = .chunkSizeLF
                } else if !HTTPRequestParser.isValueChar(b) {
                    throw HTTPParseError(Self.bad, "A chunk extension contains a control character.")
                }
            case .chunkSizeLF:
                guard b == lf else { throw HTTPParseError(Self.bad, "A CR must be followed by LF.") }
                chunkLineBytes = 0
                state = chunkRemaining == 0 ? .trailerStart : .chunkData
            case .chunkDataCR:
                guard b == cr else { throw HTTPParseError(Self.bad, "Chunk data must be followed by CRLF.") }
                state = .chunkDataLF
            case .chunkDataLF:
                guard b == lf else { throw HTTPParseError(Self.bad, "Chunk data must be followed by CRLF.") }
                chunkLineBytes = 0
                state = .chunkSize
            case .trailerStart:
                if b == cr {
                    state = .trailerEndLF
                } else if HTTPRequestParser.isTokenChar(b) {
                    trailerCount += 1
                    guard trailerCount <= limits.maxHeaderCount else {
                        throw HTTPParseError(.headersTooLarge, "More than \(limits.maxHeaderCount) trailer fields.")
                    }
                    state = .trailerName
                } else if b == lf {
                    throw HTTPParseError(Self.bad, Self.bareLF)
                } else {
                    throw HTTPParseError(Self.bad, "A trailer field is malformed.")
                }
            case .trailerName:
                // Trailers are accepted and dropped, but held to the header rules: a
                // token name, a colon with no whitespace before it, no control characters.
                if b == UInt8(ascii: ":") {
                    state = .trailerField
                } else if !HTTPRequestParser.isTokenChar(b) {
                    throw HTTPParseError(Self.bad, "A trailer field name must be a token followed by a colon.")
                }
            case .trailerField:
                if b == cr {
                    state = .trailerFieldLF
                } else if !HTTPRequestParser.isValueChar(b) {
                    throw HTTPParseError(Self.bad, "A trailer field contains a control character.")
                }
            case .trailerFieldLF:
                guard b == lf else { throw HTTPParseError(Self.bad, "A bare CR in a trailer field is not allowed.") }
                state = .trailerStart
            case .trailerEndLF:
                guard b == lf else { throw HTTPParseError(Self.bad, "A CR must be followed by LF.") }
                return (i, finish())
            default:
                fatalError("body parser in head state \(state)")
            }
            if state == .trailerName || state == .trailerField || state == .trailerStart {
                trailerBytes += 1
                guard trailerBytes <= limits.maxHeaderBytes else {
                    throw HTTPParseError(.headersTooLarge, "The trailer section is larger than \(limits.maxHeaderBytes) bytes.")
                }
            }
        }
    }
}
