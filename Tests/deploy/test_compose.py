"""`docker compose up --build` as a user would run it, then the API driven
through the frontend's proxy: browse, cart, checkout. Needs a container engine
(scripts/test starts podman's, see ../shared/containers/README.md); skipped
with a reason when there is none."""
import json
import os
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROJECT = "storefront-test"
SHOP = "http://127.0.0.1:3000"


def compose_command(*args):
    return ["docker", "compose", "-p", PROJECT, "-f", os.path.join(ROOT, "docker-compose.yml"), *args]


def compose(*args, check=True, timeout=1800):
    return subprocess.run(compose_command(*args), cwd=ROOT, capture_output=True, text=True, check=check, timeout=timeout)


def call(method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(SHOP + path, data=data, method=method,
                                     headers={"Content-Type": "application/json", **(headers or {})} if data else (headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.loads(error.read() or b"null")


def wait_for_shop(seconds=120):
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            if call("GET", "/api/v1/categories")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"the shop did not answer within {seconds} s:\n" + compose("logs", "--tail", "80", check=False).stdout[-6000:])


@pytest.fixture(scope="module")
def stack():
    if not os.environ.get("DOCKER_HOST") and not os.path.exists("/var/run/docker.sock"):
        pytest.skip("no container engine: run through scripts/test, which starts one")
    compose("down", "-v", check=False)
    # Another process on the published ports (a `scripts/run` left going, say) would
    # answer in the stack's place, and the engine may publish over it without a word.
    for port in (3000, 8080):
        with socket.socket() as probe:
            taken = probe.connect_ex(("127.0.0.1", port)) == 0
        assert not taken, f"port {port} is in use by another process: stop it, or this test would talk to that instead"
    up = compose("up", "--build", "-d", check=False)
    assert up.returncode == 0, up.stdout[-4000:] + up.stderr[-4000:]
    wait_for_shop(300)
    yield
    compose("down", "-v", check=False)
    # Every rebuild leaves the images it replaced, and its build stage, untagged:
    # about 100 MB of disk a run. Drop those over a day old; newer ones stay as build cache.
    for title in ("storefront-api", "storefront-frontend"):
        subprocess.run(["docker", "image", "prune", "-f", "--filter", f"label=org.opencontainers.image.title={title}",
                        "--filter", "until=24h"], capture_output=True, check=False, timeout=300)


def test_shop_through_the_frontend_proxy(stack):
    status, _, categories = call("GET", "/api/v1/categories")
    assert status == 200 and len(categories["items"]) >= 8, "the demo catalog should be seeded on first start"
    status, _, products = call("GET", "/api/v1/products?category=outdoor&sort=price")
    assert status == 200 and products["total"] >= 1
    product = next(p for p in products["items"] if p["stock"] > 0)
    status, headers, cart = call("POST", "/api/v1/carts")
    assert status == 201 and headers["Location"].endswith(cart["id"])
    status, _, cart = call("PUT", f"/api/v1/carts/{cart['id']}/items/{product['id']}", {"quantity": 1})
    assert status == 200 and cart["itemCount"] == 1
    order = {"cartId": cart["id"], "customer": {"email": "ada@example.com", "name": "Ada"},
             "shippingAddress": {"line1": "1 Main St", "city": "Springfield", "postalCode": "12345", "country": "US"}}
    status, _, placed = call("POST", "/api/v1/orders", order, {"Idempotency-Key": "compose-test-1"})
    assert status == 201 and placed["totalCents"] == product["priceCents"]
    assert call("GET", f"/api/v1/orders/{placed['id']}")[2]["status"] == "pending"
    with urllib.request.urlopen(SHOP + "/", timeout=10) as page:
        assert b"Storefront" in page.read() and "Content-Security-Policy" in page.headers
    # Only /api/ is proxied; the API's own operational endpoints stay inside.
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(SHOP + "/metrics", timeout=10)


def test_stopping_the_frontend_lets_a_request_in_flight_finish(stack):
    # nginx's SIGTERM is a fast stop that cuts open requests; the image asks for SIGQUIT, a graceful one.
    with socket.create_connection(("127.0.0.1", 3000), timeout=30) as s:
        s.sendall(b"POST /api/v1/carts HTTP/1.1\r\nHost: shop\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{")
        time.sleep(0.5)
        stop = subprocess.Popen(compose_command("stop", "frontend"), cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)  # the stop signal has arrived; the request is still open
            s.sendall(b"}")
            assert s.recv(65536).startswith(b"HTTP/1.1 201 "), "the request in flight was cut"
        finally:
            stop.wait(timeout=60)
            compose("start", "frontend")
            wait_for_shop()


def test_the_shop_finds_the_api_again_after_it_restarts_at_a_new_address(stack):
    # The engine may give a restarted container a new address (podman does each
    # time); nginx keeping the one it looked up at start would answer 503 for good.
    compose("restart", "api")
    wait_for_shop(120)
    # Each nginx worker holds its own answer for the name, for up to a second. (When
    # it was 10 s, a listing once answered 503 just after the categories had answered
    # 200, as a worker still on the old address would.)
    time.sleep(2)
    for _ in range(6):
        # The query goes through unchanged now that nginx builds the upstream address per request.
        status, _, page = call("GET", "/api/v1/products?sort=-price&limit=2&offset=1&q=%25")
        assert status == 200 and (page["limit"], page["offset"]) == (2, 1), (status, page)


def test_down_keeps_the_data_and_down_v_removes_it(stack):
    status, _, cart = call("POST", "/api/v1/carts")
    assert status == 201
    # Each service stops by itself within its grace period: exit 0, nothing killed.
    compose("stop")
    for service in ["frontend", "api", "mysql"]:
        state = subprocess.run(["docker", "inspect", "--format", "{{.State.ExitCode}}", f"{PROJECT}-{service}-1"],
                               capture_output=True, text=True).stdout.strip()
        assert state == "0", f"{service} exited with {state}"
    compose("down")
    compose("up", "-d")
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            status, _, again = call("GET", f"/api/v1/carts/{cart['id']}")
            if status == 200:
                break
        except OSError:
            pass
        time.sleep(2)
    assert status == 200 and again["id"] == cart["id"], "the named volume should keep the data across down/up"
    volumes = subprocess.run(["docker", "volume", "ls", "--format", "{{.Name}}"], capture_output=True, text=True).stdout
    assert f"{PROJECT}_mysql-data" in volumes
    compose("down", "-v")
    volumes = subprocess.run(["docker", "volume", "ls", "--format", "{{.Name}}"], capture_output=True, text=True).stdout
    assert f"{PROJECT}_mysql-data" not in volumes


def test_a_container_cpu_limit_sets_the_event_loops_and_the_nginx_workers(stack):
    # The host has more cores than the limit: one loop per core the container may use, not per core of the host.
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("needs two cores to tell one from all")
    run = subprocess.run(["docker", "run", "--rm", "--cpus", "0.5", "-e", "MIGRATE_ON_START=false", "-e", "DB_HOST=127.0.0.1",
                          "--entrypoint", "/bin/sh", "storefront-api:0.1.0", "-c", "timeout 2 storefront serve; true"],
                         capture_output=True, text=True, timeout=120)
    started = [json.loads(line) for line in run.stdout.splitlines() if "listening on" in line]
    assert started and started[0]["eventLoops"] == 1, run.stdout + run.stderr
    # The frontend's nginx alike.
    run = subprocess.run(["docker", "run", "--rm", "--cpus", "0.5", "-e", "BACKEND_URL=http://127.0.0.1:8080", "--entrypoint", "/bin/sh",
                          "storefront-frontend:0.1.0", "-c",
                          "/srv/storefront/start -t && cat /tmp/nginx/nginx.conf"], capture_output=True, text=True, timeout=120)
    assert "worker_processes 1;" in run.stdout, run.stdout[-2000:] + run.stderr
