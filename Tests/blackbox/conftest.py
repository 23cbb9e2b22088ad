"""Fixtures that run the real storefront binary and talk to it over sockets."""
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time

import pytest
import requests

BIN = os.environ.get("STOREFRONT_BIN", os.path.join(os.path.dirname(__file__), "../../.build/debug/storefront"))
FRONTEND = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "frontend"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A storefront process on a free port; `env` adds settings."""

    # Every one started, for `stop_servers_a_test_left_running`.
    started = []

    def __init__(self, env=None, args=("serve",)):
        self.port = free_port()
        environment = {"PATH": os.environ.get("PATH", ""), "PORT": str(self.port), "HOST": "127.0.0.1",
                       "LOG_FORMAT": "json", "EVENT_LOOPS": "2"}
        environment.update({k: v for k, v in os.environ.items() if k.startswith("DB_") or k == "LD_LIBRARY_PATH"})
        environment.update(env or {})
        # Reached where it listens: a HOST of one IPv4 address, else the loopback (a wildcard takes it).
        host = environment["HOST"]
        self.host = host if host.count(".") == 3 and host != "0.0.0.0" else "127.0.0.1"
        # Files, not pipes: a pipe nobody reads fills up and blocks the server's logging.
        self.stdout = tempfile.TemporaryFile()
        self.stderr = tempfile.TemporaryFile()
        self.process = subprocess.Popen([BIN, *args], env=environment, stdout=self.stdout, stderr=self.stderr)
        Server.started.append(self)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"storefront exited with {self.process.returncode}: {self.output()[1]}")
            try:
                socket.create_connection((self.host, self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("storefront did not start listening within 30 s")

    @property
    def url(self):
        return f"http://{self.host}:{self.port}"

    def connect(self, timeout=5):
        return Conn(self.port, timeout, self.host)

    def resident_mb(self):
        with open(f"/proc/{self.process.pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

    def request_memory_held(self):
        """What the server counts against MAX_REQUEST_MEMORY_BYTES, from /metrics."""
        text = requests.get(self.url + "/metrics").text
        return int(next(line.split()[1] for line in text.splitlines() if line.startswith("http_request_memory_bytes ")))

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.output()

    def output(self):
        """(stdout, stderr) so far."""
        texts = []
        for f in (self.stdout, self.stderr):
            f.seek(0)
            texts.append(f.read().decode(errors="replace"))
        return tuple(texts)


@pytest.fixture(autouse=True)
def stop_servers_a_test_left_running():
    """A test that fails before its own stop() must not leave its server running, holding
    a port, database connections and CPU, into the tests after it. Fixtures' servers of a
    wider scope start before this and are left to their fixtures."""
    before = len(Server.started)
    yield
    while len(Server.started) > before:
        Server.started.pop().stop()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.stop()


class Conn:
    """A raw client connection that keeps bytes read past one response for the next."""

    def __init__(self, port, timeout=5, host="127.0.0.1"):
        self.sock = socket.create_connection((host, port), timeout=timeout)
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


ADMIN_TOKEN = "blackbox-admin-token-0123456789"


@pytest.fixture(scope="module")
def api():
    """A storefront with an admin token, against the test database (DB_* from scripts/test)."""
    if "DB_HOST" not in os.environ:
        pytest.fail("DB_HOST is not set: run these through scripts/test, which starts a database")
    s = Server(env={"ADMIN_TOKEN": ADMIN_TOKEN, "DB_POOL_SIZE": "8"})
    yield s
    s.stop()


ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


def mariadb(*sql):
    """Runs statements on the test database's server, as its client would."""
    env = dict(os.environ, MYSQL_PWD=os.environ["DB_PASSWORD"])
    subprocess.run(["mariadb", "--protocol=TCP", "-h", os.environ["DB_HOST"], "-P", os.environ["DB_PORT"], "-u", os.environ["DB_USER"],
                    "-e", ";".join(sql)], env=env, check=True)


def unique(prefix="T"):
    import uuid
    return f"{prefix}-{uuid.uuid4().hex[:12].upper()}"


def make_product(api, **fields):
    import requests
    body = {"sku": unique(), "name": "Test Product", "description": "for tests", "category": "testing",
            "priceCents": 1000, "stock": 10}
    body.update(fields)
    r = requests.post(api.url + "/api/v1/products", json=body, headers=ADMIN)
    assert r.status_code == 201, r.text
    return r.json()


def make_cart(api, lines=()):
    import requests
    r = requests.post(api.url + "/api/v1/carts")
    assert r.status_code == 201, r.text
    cart = r.json()
    for product_id, quantity in lines:
        r = requests.put(f"{api.url}/api/v1/carts/{cart['id']}/items/{product_id}", json={"quantity": quantity})
        assert r.status_code == 200, r.text
    return cart["id"]


def order_body(cart_id, email="ada@example.com"):
    return {"cartId": cart_id, "customer": {"email": email, "name": "Ada Lovelace"},
            "shippingAddress": {"line1": "12 Analytical Row", "city": "London", "postalCode": "N1 9GU", "country": "GB"}}


class Web(str):
    """The shop's base URL; `access_log` is where nginx writes its access log."""
    access_log = ""

    @property
    def address(self):
        """(host, port), for raw sockets."""
        host, port = self.split("//")[1].split(":")
        return host, int(port)


@contextlib.contextmanager
def nginx(backend_url, static_root=FRONTEND, tmp=None):
    """frontend/start serving `static_root` and proxying /api/ to `backend_url`, until the block ends."""
    import requests
    port = free_port()
    tmp = tmp or tempfile.mkdtemp(prefix="storefront-nginx-")
    os.makedirs(tmp, exist_ok=True)
    env = dict(os.environ, PORT=str(port), BACKEND_URL=backend_url, STATIC_ROOT=static_root, NGINX_TMP=tmp)
    url = Web(f"http://127.0.0.1:{port}")
    url.access_log = os.path.join(tmp, "access.log")
    process = subprocess.Popen([os.path.join(static_root, "start")], env=env,
                               stdout=open(url.access_log, "wb"), stderr=open(os.path.join(tmp, "error.log"), "wb"))
    try:
        for _ in range(100):
            try:
                requests.get(url + "/healthz", timeout=0.5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def web(api):
    """nginx serving frontend/ and proxying /api/ to the test backend."""
    with nginx(f"http://127.0.0.1:{api.port}") as url:
        yield url
