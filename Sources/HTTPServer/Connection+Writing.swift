import Glibc

/// The writing half of `Connection`: answers serialized into its output buffer,
/// flushed without blocking, and the lingering close after the last one.
extension Connection {
    func write(_ response: HTTPResponse, requestID: String, keepAlive: Bool, isHead: Bool, http10: Bool = false) {
        let status = response.status
        // Built in a local and put back: every append to the stored property would
        // pay a dynamic exclusivity check (about a tenth of a small answer's cost).
        var out = output
        output = []
        defer { output = out }
        // One allocation for a large answer rather than a growth step per append.
        if out.isEmpty { out.reserveCapacity(512 + (isHead ? 0 : response.body.count)) }
        out.append(contentsOf: "HTTP/1.1 ".utf8)
        Connection.appendDecimal(status.code, to: &out)
        out.append(0x20)
        out.append(contentsOf: status.reason.utf8)
        out.append(contentsOf: "\r\nDate: ".utf8)
        out.append(contentsOf: loop.date.value)
        // RFC 9110 §8.6: no Content-Length on 1xx and 204. A 304 says the length of
        // the content the client already holds, as a HEAD says that of a GET.
        if status.code != 204 && status.code >= 200 {
            out.append(contentsOf: "\r\nContent-Length: ".utf8)
            Connection.appendDecimal(response.body.count, to: &out)
        }
        if !keepAlive {
            out.append(contentsOf: "\r\nConnection: close".utf8)
        } else if http10 {
            out.append(contentsOf: "\r\nConnection: keep-alive".utf8)
        }
        out.append(contentsOf: "\r\nX-Request-Id: ".utf8)
        out.append(contentsOf: requestID.utf8)
        // Every answer is data for a program, never a page: no browser may sniff one into
        // HTML or script, whatever reaches the client directly (the tutorial's NodePort).
        out.append(contentsOf: "\r\nX-Content-Type-Options: nosniff".utf8)
        response.headers.forEachField { key, name, value in
            if key == "content-length" || key == "connection" || key == "date" || key == "x-request-id"
                || key == "x-content-type-options" { return }
            out.append(contentsOf: "\r\n".utf8)
            Connection.appendHeaderText(name, to: &out)
            out.append(contentsOf: ": ".utf8)
            Connection.appendHeaderText(value, to: &out)
        }
        out.append(contentsOf: "\r\n\r\n".utf8)
        if !isHead && status.code != 204 && status.code != 304 { out.append(contentsOf: response.body) }
        if !keepAlive { closeAfterWrite = true }
    }

    private static func appendDecimal(_ value: Int, to out: inout [UInt8]) {
        var digits: (UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8, UInt8) =
            (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        var n = value
        var count = 0
        withUnsafeMutableBytes(of: &digits) { d in
            repeat {
                d[19 - count] = UInt8(ascii: "0") + UInt8(n % 10)
                n /= 10
                count += 1
            } while n > 0
            out.append(contentsOf: d[(20 - count)...])
        }
    }

    /// Copies header text, dropping CR, LF and NUL so that no value can split a header.
    private static func appendHeaderText(_ text: String, to out: inout [UInt8]) {
        var text = text
        text.withUTF8 { bytes in
            if !bytes.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
                out.append(contentsOf: bytes)
            } else {
                for byte in bytes where byte != 0x0D && byte != 0x0A && byte != 0 { out.append(byte) }
            }
        }
    }

    /// EPOLLOUT: writes on; once the client has read enough, takes up the requests held back.
    func onWritable() {
        flush()
        if heldBack && !closed && !holdsBack { onReadable() }
    }

    /// Writes what is pending; on EAGAIN waits for EPOLLOUT (edge-triggered, registered once).
    func flush() {
        defer { if !closed { countUnsent() } }
        while outputStart < output.count {
            let n = output.withUnsafeBytes { buffer in
                Glibc.send(fd, buffer.baseAddress! + outputStart, buffer.count - outputStart, Int32(MSG_NOSIGNAL))
            }
            if n > 0 {
                outputStart += n
                lastProgressAt = loop.now
            } else if n < 0 && errno == EINTR {
                continue
            } else if n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                // What the kernel took is let go now, not once the client has read it all:
                // else a buffer that is appended to while the client reads slowly only grows.
                if outputStart >= 64 * 1024 {
                    output = Array(output[outputStart...])
                    outputStart = 0
                }
                return
            } else {
                close()
                return
            }
        }
        if outputStart > 0 {
            // An idle keep-alive connection keeps no more than a small answer's room.
            output.removeAll(keepingCapacity: output.capacity <= 4096)
            outputStart = 0
        }
        if closeAfterWrite && !busy && !lingering { startLingering() }
    }

    /// Half-closes and drains for a moment before closing: closing with unread
    /// bytes would send RST, and the client could lose the response it is owed.
    private func startLingering() {
        lingering = true
        lastProgressAt = loop.now
        shutdown(fd, Int32(SHUT_WR))
        if peerClosed {
            close()
        } else {
            discardInput()
        }
    }
}
