import Foundation
import Glibc

/// A stand-in MySQL server that offers no TLS: it sends a handshake without
/// CLIENT_SSL, accepts any login and answers every command with OK. Just
/// enough for a client to believe it is connected. With `hangUpAfterLogin` it
/// closes the connection at the first command instead, as an outage might.
final class PlaintextMySQLServer: @unchecked Sendable {
    let port: Int
    private let listener: Int32
    private let hangUpAfterLogin: Bool

    init(hangUpAfterLogin: Bool = false) throws {
        self.hangUpAfterLogin = hangUpAfterLogin
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.listener = listener
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, length) == 0 && getsockname(listener, $0, &length) == 0 }
        }
        guard bound, listen(listener, 4) == 0 else { throw POSIXError(.EADDRINUSE) }
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread { [self] in serve() }.start()
    }

    deinit { close(listener) }

    private func serve() {
        let fd = accept(listener, nil, nil)
        guard fd >= 0 else { return }
        defer { close(fd) }
        // Capabilities: long password, found rows, long flag, connect with db, protocol 4.1,
        // transactions, secure connection, multi results, plugin auth. No CLIENT_SSL (0x800).
        let capabilities: UInt32 = 0x1 | 0x2 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x20000 | 0x80000
        var hello: [UInt8] = [10] + Array("8.4.0-plaintext".utf8) + [0, 1, 0, 0, 0] + Array(repeating: 0x41, count: 8) + [0]
        hello += [UInt8(capabilities & 0xFF), UInt8(capabilities >> 8 & 0xFF), 45, 2, 0, UInt8(capabilities >> 16 & 0xFF), UInt8(capabilities >> 24), 21]
        hello += Array(repeating: 0, count: 10) + Array(repeating: 0x42, count: 12) + [0] + Array("mysql_native_password".utf8) + [0]
        guard send(fd, packet(hello, sequence: 0)) else { return }
        // Every packet from the client (the login, then commands) gets an OK, until it quits or leaves.
        var header = [UInt8](repeating: 0, count: 4)
        while recv(fd, &header, 4, Int32(MSG_WAITALL)) == 4 {
            var body = [UInt8](repeating: 0, count: Int(header[0]) | Int(header[1]) << 8 | Int(header[2]) << 16)
            if !body.isEmpty && recv(fd, &body, body.count, Int32(MSG_WAITALL)) != body.count { return }
            if header[3] == 0 && (body.first == 0x01 || hangUpAfterLogin) { return }  // COM_QUIT, or any command
            guard send(fd, packet([0, 0, 0, 2, 0, 0, 0], sequence: header[3] &+ 1)) else { return }
        }
    }

    private func packet(_ payload: [UInt8], sequence: UInt8) -> [UInt8] {
        [UInt8(payload.count & 0xFF), UInt8(payload.count >> 8 & 0xFF), UInt8(payload.count >> 16), sequence] + payload
    }

    private func send(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }
}
