"""Fixtures that run the real storefront binary and talk to it over sockets."""
import os
import socket
import subprocess
import time

import pytest

BIN = os.environ.get("STOREFRONT_BIN", os.path.join(os.path.dirname(__file__), "../../.build/debug/storefront"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A storefront process on a free port; `env` adds settings."""

    def __init__(self, env=None, args=("serve",)):
        self.port = free_port()
        environment = {"PATH": os.environ.get("PATH", ""), "PORT": str(self.port), "HOST": "127.0.0.1",
                       "LOG_FORMAT": "json", "EVENT_LOOPS": "2"}
        environment.update({k: v for k, v in os.environ.items() if k.startswith("DB_")})
        environment.update(env or {})
        self.process = subprocess.Popen([BIN, *args], env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"storefront exited with {self.process.returncode}: {self.process.stderr.read().decode()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("storefront did not start listening within 30 s")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def connect(self, timeout=5):
        return Conn(self.port, timeout)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        out, err = self.process.communicate()
        return out.decode(), err.decode()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


class Conn:
    """A raw client connection that keeps bytes read past one response for the next."""

    def __init__(self, port, timeout=5):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buffer = b""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def sendall(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"connection closed; unread: {self.buffer[:200]!r}")
        self.buffer += chunk

    def read_response(self):
        """One HTTP/1.1 response with a Content-Length body: (status, headers, body)."""
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(self.buffer) < length:
            self._fill()
        body, self.buffer = self.buffer[:length], self.buffer[length:]
        return status, headers, body

    def closed_by_peer(self):
        """True when the server has closed the connection (EOF or reset)."""
        try:
            while True:
                if not self.sock.recv(65536):
                    return True
        except ConnectionResetError:
            return True
