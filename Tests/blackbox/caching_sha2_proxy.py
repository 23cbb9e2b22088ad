"""A stand-in for MySQL 8.4's login in front of the tests' MariaDB.

MySQL 8.4 logs users in with `caching_sha2_password`; MariaDB has no such
plugin, so nothing here could run that login. This proxy plays a MySQL 8.4
server for the login only: it greets clients as one, checks the password the
way MySQL does (the SHA-256 scramble; on a first login, the full
authentication, with the password sent over TLS or RSA-encrypted with the
server's public key, which the client asks for), then logs in to MariaDB with
`mysql_native_password` itself and relays the bytes of the session. It knows
only one user and password, and keeps a cache of who logged in as MySQL does,
so a second login takes the fast path.

`logins` records each login's path: "fast", "full over TLS", "full with RSA",
or "denied".
"""
import hashlib
import os
import secrets
import select
import socket
import ssl
import struct
import subprocess
import threading

CLIENT_CONNECT_WITH_DB = 1 << 3
CLIENT_COMPRESS = 1 << 5
CLIENT_SSL = 1 << 11
CLIENT_SECURE_CONNECTION = 1 << 15
CLIENT_PLUGIN_AUTH = 1 << 19
CLIENT_CONNECT_ATTRS = 1 << 20
CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 1 << 21
# The flags MySQL and MariaDB mean the same by (bit 0 says "MySQL, not MariaDB" to
# MariaDB's clients, which then use none of MariaDB's own extensions).
COMMON_FLAGS = (1 << 25) - 1
# What MySQL makes a nonce of: 7-bit bytes, no NUL, no '$'.
NONCE_BYTES = [b for b in range(1, 128) if b != ord("$")]


def sha256(data):
    return hashlib.sha256(data).digest()


def sha1(data):
    return hashlib.sha1(data).digest()


def xor(data, key):
    return bytes(b ^ key[i % len(key)] for i, b in enumerate(data))


class Packets:
    """MySQL packets on one socket: 3-byte length, sequence number, payload."""

    def __init__(self, sock):
        self.sock = sock
        self.sequence = 0

    def read(self):
        header = self.exactly(4)
        self.sequence = (header[3] + 1) % 256
        return self.exactly(int.from_bytes(header[:3], "little"))

    def write(self, payload):
        self.sock.sendall(len(payload).to_bytes(3, "little") + bytes([self.sequence]) + payload)
        self.sequence = (self.sequence + 1) % 256

    def exactly(self, n):
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("closed during the login")
            data += chunk
        return data


def cstring(data, at):
    end = data.index(b"\0", at)
    return data[at:end], end + 1


def lenenc(data, at):
    first = data[at]
    if first < 0xFB:
        return first, at + 1
    size = {0xFC: 2, 0xFD: 3, 0xFE: 8}[first]
    return int.from_bytes(data[at + 1:at + 1 + size], "little"), at + 1 + size


def error(code, state, message):
    return b"\xff" + struct.pack("<H", code) + b"#" + state + message.encode()


class CachingSha2Proxy:
    def __init__(self, upstream, user, password, workdir, tls=False):
        self.upstream, self.user, self.password = upstream, user.encode(), password.encode()
        self.logins = []
        self.cached = set()
        key = os.path.join(workdir, "rsa-key.pem")
        subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key],
                       check=True, capture_output=True)
        self.rsa_key = key
        self.public_key = subprocess.run(["openssl", "pkey", "-in", key, "-pubout"], check=True, capture_output=True).stdout
        self.tls = None
        if tls:
            cert, tls_key = os.path.join(workdir, "tls-cert.pem"), os.path.join(workdir, "tls-key.pem")
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                            "-days", "1", "-subj", "/CN=fake-mysql-8.4", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", tls_key, "-out", cert], check=True, capture_output=True)
            self.tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.tls.load_cert_chain(cert, tls_key)
            self.certificate = cert
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self.accept, daemon=True).start()

    def close(self):
        self.listener.close()

    def accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.serve, args=(client,), daemon=True).start()

    def serve(self, client):
        session = None
        try:
            with socket.create_connection(self.upstream) as upstream:
                session = self.login(client, upstream)
                if session:
                    relay(session, upstream)
        except OSError:  # a side that went away, TLS that failed
            pass
        finally:
            (session or client).close()

    def login(self, client, upstream):
        """The login as MySQL 8.4 runs it; returns the client's socket (TLS or not) once
        it is logged in to MariaDB too, or None when it was refused."""
        server = Packets(upstream)
        greeting = server.read()
        _, at = cstring(greeting, 1)  # after its version string
        thread_id = greeting[at:at + 4]
        upstream_scramble = greeting[at + 4:at + 12]
        flags = struct.unpack("<H", greeting[at + 13:at + 15])[0]
        charset, status = greeting[at + 15], greeting[at + 16:at + 18]
        flags |= struct.unpack("<H", greeting[at + 18:at + 20])[0] << 16
        upstream_scramble += greeting[at + 31:at + 43]

        nonce = bytes(secrets.choice(NONCE_BYTES) for _ in range(20))
        offered = (flags & COMMON_FLAGS & ~CLIENT_COMPRESS & ~CLIENT_SSL) | (CLIENT_SSL if self.tls else 0)
        c = Packets(client)
        c.write(b"\x0a" + b"8.4.3-caching-sha2-proxy\0" + thread_id + nonce[:8] + b"\0"
                + struct.pack("<H", offered & 0xFFFF) + bytes([charset]) + status + struct.pack("<H", offered >> 16)
                + bytes([21]) + b"\0" * 10 + nonce[8:] + b"\0" + b"caching_sha2_password\0")

        response = c.read()
        over_tls = False
        if len(response) == 32 and struct.unpack("<I", response[:4])[0] & CLIENT_SSL:
            client = self.tls.wrap_socket(client, server_side=True)
            c.sock, over_tls = client, True
            response = c.read()
        client_flags, max_packet = struct.unpack("<II", response[:8])
        client_charset = response[8]
        user, at = cstring(response, 32)
        if client_flags & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA:
            size, at = lenenc(response, at)
        elif client_flags & CLIENT_SECURE_CONNECTION:
            size, at = response[at], at + 1
        else:
            size = response.index(b"\0", at) - at
        scramble = response[at:at + size]
        at += size
        database = b""
        if client_flags & CLIENT_CONNECT_WITH_DB:
            database, at = cstring(response, at)
        plugin = b""
        if client_flags & CLIENT_PLUGIN_AUTH:
            plugin, at = cstring(response, at)
        if plugin != b"caching_sha2_password":
            c.write(b"\xfe" + b"caching_sha2_password\0" + nonce + b"\0")
            scramble = c.read()

        stage1 = sha256(self.password)
        right = user == self.user and scramble == xor(stage1, sha256(sha256(stage1) + nonce))
        if right and user in self.cached:
            c.write(b"\x01\x03")
            path = "fast"
        else:
            c.write(b"\x01\x04")
            sent = c.read()
            if over_tls:
                password, path = sent.rstrip(b"\0"), "full over TLS"
            else:
                if sent == b"\x02":
                    c.write(b"\x01" + self.public_key)
                    sent = c.read()
                decrypted = subprocess.run(["openssl", "pkeyutl", "-decrypt", "-inkey", self.rsa_key,
                                            "-pkeyopt", "rsa_padding_mode:oaep"], input=sent, capture_output=True).stdout
                password, path = xor(decrypted, nonce).rstrip(b"\0"), "full with RSA"
            right = user == self.user and password == self.password
        if not right:
            self.logins.append("denied")
            c.write(error(1045, b"28000", f"Access denied for user '{user.decode(errors='replace')}'@'127.0.0.1' (using password: YES)"))
            return None
        self.cached.add(user)
        self.logins.append(path)

        # The same session's login to MariaDB, with its own scramble and plugin.
        native = xor(sha1(self.password), sha1(upstream_scramble + sha1(sha1(self.password))))
        upstream_flags = (client_flags & ~CLIENT_SSL & ~CLIENT_CONNECT_ATTRS & ~CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) \
            | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH
        server.write(struct.pack("<II", upstream_flags, max_packet) + bytes([client_charset]) + b"\0" * 23
                     + user + b"\0" + bytes([len(native)]) + native
                     + (database + b"\0" if upstream_flags & CLIENT_CONNECT_WITH_DB else b"")
                     + b"mysql_native_password\0")
        c.write(server.read())  # MariaDB's OK (or its error), as the answer to the client's login
        return client


def relay(a, b):
    """Copies bytes both ways until either side closes."""
    while True:
        ready = [a] if isinstance(a, ssl.SSLSocket) and a.pending() else select.select([a, b], [], [])[0]
        for source in ready:
            data = source.recv(65536)
            if not data:
                return
            (b if source is a else a).sendall(data)
