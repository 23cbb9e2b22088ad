"""What a platform engineer relies on: probes, outages, draining, metrics, logs, CORS."""
import concurrent.futures
import json
import os
import random
import select
import signal
import socket
import subprocess
import threading
import time
import uuid

import promql_parser
import requests
import yaml
from prometheus_client.parser import text_string_to_metric_families

from conftest import ADMIN, ADMIN_TOKEN, BIN, Server, make_cart, make_product, mariadb, order_body


class CuttableProxy:
    """A TCP proxy in front of the database that a test can cut and restore,
    like a database that goes away and comes back, or freeze, like one that
    hangs with its connections open."""

    def __init__(self, target_host, target_port):
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.listener.listen(64)
        self.up = True
        self.frozen = False
        self.connections = {}  # socket -> when it was accepted
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.connections[client] = self.connections[server] = time.time()
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a, b):
        try:
            while True:
                readable, _, _ = select.select([a, b], [], [], 1)
                while self.frozen:
                    time.sleep(0.05)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        raise OSError("closed")
                    (b if s is a else a).sendall(data)
        except (OSError, ValueError):  # ValueError: cut() closed a socket under select()
            pass
        finally:
            a.close()
            b.close()

    def cut(self):
        """Every connection reset; new ones refused until restore()."""
        self.up = False
        self._reset(lambda age: True)

    def kill_sessions(self, older_than):
        """The connections open longer than `older_than` seconds reset, new ones still
        taken: sessions killed, or a failover behind a proxy, while nobody logs in."""
        self._reset(lambda age: age >= older_than)

    def _reset(self, chosen):
        with self.lock:
            now = time.time()
            for s in [s for s, opened in self.connections.items() if chosen(now - opened)]:
                del self.connections[s]
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.close()
                except OSError:
                    pass

    def restore(self):
        """The database is back, whether it was cut or frozen."""
        self.up = True
        self.frozen = False

    def freeze(self):
        """Nothing forwarded any more; connections stay open (a hung database)."""
        self.frozen = True


def wait_for(predicate, timeout=15, interval=0.1):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def test_health_and_readiness(api):
    assert requests.get(api.url + "/healthz").json() == {"status": "ok"}
    r = requests.get(api.url + "/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    # Probes and metrics say how things are now: no cache may keep an answer to replay.
    for path in ("/healthz", "/readyz", "/metrics"):
        assert requests.get(api.url + path).headers["Cache-Control"] == "no-store", path


def test_readiness_answers_at_once_while_every_worker_waits_on_the_database(api):
    """/readyz reports a background check (on a connection of its own), not a trip
    through the workers and the pool: a pod whose workers all wait on the database is
    loaded, not unready, and taking it out of its Service would only move the load."""
    p = make_product(api, stock=100)
    carts = [make_cart(api, [(p["id"], 1)]) for _ in range(4)]
    holder = subprocess.Popen(["mariadb", "--protocol=TCP", "-h", os.environ["DB_HOST"], "-P", os.environ["DB_PORT"], "-u", os.environ["DB_USER"],
                               "--skip-column-names", "--unbuffered", os.environ["DB_NAME"], "-e",
                               f"SELECT CONNECTION_ID(); BEGIN; SELECT 'locked' FROM products WHERE id = {p['id']} FOR UPDATE; DO SLEEP(120);"],
                              env={**os.environ, "MYSQL_PWD": os.environ["DB_PASSWORD"]}, stdout=subprocess.PIPE, text=True)
    session = holder.stdout.readline().strip()
    s = Server(env={"DB_POOL_SIZE": "2"})
    threads = []
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert wait_for(lambda: requests.get(s.url + "/readyz").status_code == 200)
        # Two checkouts take both workers and wait for the lock; two more queue behind them.
        for cart in carts:
            threads.append(threading.Thread(target=requests.post, args=(s.url + "/api/v1/orders",),
                                            kwargs={"json": order_body(cart), "timeout": 60}))
            threads[-1].start()
        time.sleep(1)
        # What the saturation alert (docs/alerts.yaml) watches: more requests in flight than
        # the workers, one per pooled connection, that run them.
        samples = {(sample.name, tuple(sample.labels.items())): sample.value
                   for family in text_string_to_metric_families(requests.get(s.url + "/metrics").text) for sample in family.samples}
        assert samples[("http_requests_in_flight", ())] == 4
        assert samples[("db_pool_connections", (("state", "max"),))] == 2
        for _ in range(3):
            start = time.time()
            r = requests.get(s.url + "/readyz", timeout=3)
            assert r.status_code == 200 and time.time() - start < 1, (r.status_code, time.time() - start)
            time.sleep(1)
    finally:
        mariadb(f"KILL {session}")
        holder.wait()
        for t in threads:
            t.join(30)
        s.stop()


def test_database_outage_gives_503_and_recovers_by_itself():
    proxy = CuttableProxy(os.environ["DB_HOST"], int(os.environ["DB_PORT"]))
    s = Server(env={"DB_PORT": str(proxy.port), "DB_HOST": "127.0.0.1"})
    try:
        # Carts are never cached (catalog pages may be, for a second), so they show the outage at once.
        assert requests.post(s.url + "/api/v1/carts").status_code == 201
        proxy.cut()
        start = time.time()
        r = requests.post(s.url + "/api/v1/carts", timeout=10)
        assert r.status_code == 503 and r.headers["Retry-After"] and r.headers["Content-Type"] == "application/problem+json"
        assert time.time() - start < 5, "a database outage must not make requests hang"
        assert wait_for(lambda: requests.get(s.url + "/readyz").status_code == 503)
        assert requests.get(s.url + "/healthz").status_code == 200, "liveness must not depend on the database"
        for _ in range(5):
            assert requests.post(s.url + "/api/v1/carts", timeout=10).status_code == 503
        # The log says why, once, not once per request.
        warnings = [json.loads(line) for line in s.output()[0].splitlines() if '"level":"warning"' in line]
        outage = [w["message"] for w in warnings if w["message"].startswith("answering 503")]
        assert len(outage) == 1 and "MySQL error" in outage[0], warnings
        proxy.restore()
        assert wait_for(lambda: requests.post(s.url + "/api/v1/carts").status_code == 201), "did not recover"
        assert wait_for(lambda: requests.get(s.url + "/readyz").status_code == 200)
    finally:
        s.stop()


def test_a_database_that_hangs_gets_503_within_seconds_not_after_the_read_timeout():
    """A database that stops answering with its connections open (hung, or on a node
    that died without closing them): once it has not answered the readiness check for
    5 s, the request waiting on it is cut off with a 503, the next ones get 503 at
    once instead of each waiting out the 30 s read timeout on another connection, and
    everything is served again as soon as it answers."""
    proxy = CuttableProxy(os.environ["DB_HOST"], int(os.environ["DB_PORT"]))
    s = Server(env={"DB_PORT": str(proxy.port), "DB_HOST": "127.0.0.1", "DB_POOL_SIZE": "4"})
    try:
        with concurrent.futures.ThreadPoolExecutor(4) as pool:  # every pooled connection open
            assert set(pool.map(lambda _: requests.post(s.url + "/api/v1/carts").status_code, range(16))) == {201}
        assert wait_for(lambda: requests.get(s.url + "/readyz").status_code == 200)
        proxy.freeze()
        start = time.time()
        r = requests.post(s.url + "/api/v1/carts", timeout=40)
        waited = time.time() - start
        assert r.status_code == 503 and r.headers["Retry-After"] and r.headers["Content-Type"] == "application/problem+json"
        assert waited < 12, f"{waited:.1f} s: the request waited out the read timeout (30 s), not the readiness check (5 s)"
        for _ in range(4):
            start = time.time()
            assert requests.post(s.url + "/api/v1/carts", timeout=40).status_code == 503
            assert time.time() - start < 1, "once the silence is known, a request must not wait on the database"
        assert requests.get(s.url + "/readyz").status_code == 503
        assert requests.get(s.url + "/healthz").status_code == 200
        warnings = [json.loads(line)["message"] for line in s.output()[0].splitlines() if '"level":"warning"' in line]
        assert any(w.startswith("the database has not answered for") for w in warnings), warnings
        proxy.restore()
        assert wait_for(lambda: requests.post(s.url + "/api/v1/carts", timeout=10).status_code == 201), "did not recover"
        assert wait_for(lambda: requests.get(s.url + "/readyz").status_code == 200)
    finally:
        proxy.restore()
        s.stop()


def test_a_database_restart_between_requests_fails_none_of_the_next_ones():
    """Every database session of the server is gone (as after a restart or a
    failover) but the database is back before the next request: the pool and the
    readiness check see the closed sockets and connect anew, so neither a request
    nor readiness pays for the stale connections with a 503."""
    s = Server(env={"DB_POOL_SIZE": "4"})
    try:
        def cart(_):
            return requests.post(s.url + "/api/v1/carts", timeout=10).status_code
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            assert set(pool.map(cart, range(40))) == {201}  # all four connections open and pooled
        assert wait_for(lambda: requests.get(s.url + "/readyz").status_code == 200)
        client = ["mariadb", "-N", "--force", "-h", os.environ["DB_HOST"], "-P", os.environ["DB_PORT"], "-u", os.environ["DB_USER"], "-e"]
        env = dict(os.environ, MYSQL_PWD=os.environ["DB_PASSWORD"])
        sessions = subprocess.run(
            client + ["SELECT id FROM information_schema.processlist WHERE user = SUBSTRING_INDEX(USER(), '@', 1) AND id <> CONNECTION_ID()"],
            env=env, capture_output=True, text=True, check=True).stdout.split()
        assert len(sessions) >= 5, sessions  # the pool's four and the readiness check's own
        # --force: a session that ended meanwhile ("Unknown thread id") does not spare the rest.
        subprocess.run(client + [";".join(f"KILL {session}" for session in sessions)], env=env, capture_output=True)
        time.sleep(0.2)
        for i in range(10):
            assert (cart(i), requests.get(s.url + "/readyz").status_code) == (201, 200)
            time.sleep(0.1)
    finally:
        s.stop()


def test_an_outage_in_the_middle_of_checkouts_loses_no_order_and_sells_nothing_twice(api):
    """Connections cut at whatever point each checkout has reached (some mid-commit):
    afterwards every order answered 201 exists, and retrying each request with its
    Idempotency-Key ends in exactly one order per cart and exactly the stock sold."""
    a, b = make_product(api, stock=10000), make_product(api, stock=10000)
    carts = [make_cart(api, [(a["id"], 1 + i % 3), (b["id"], 1)]) for i in range(40)]
    keys = {cart: "outage-" + uuid.uuid4().hex for cart in carts}
    proxy = CuttableProxy(os.environ["DB_HOST"], int(os.environ["DB_PORT"]))
    s = Server(env={"DB_PORT": str(proxy.port), "DB_HOST": "127.0.0.1", "DB_POOL_SIZE": "4"})
    first = {}
    try:
        def checkout(cart, timeout=10):
            try:
                r = requests.post(s.url + "/api/v1/orders", json=order_body(cart), headers={"Idempotency-Key": keys[cart]}, timeout=timeout)
                return r.status_code, r.json()
            except requests.RequestException as error:
                return None, repr(error)

        def run(chunk):
            for cart in chunk:
                first[cart] = checkout(cart)

        threads = [threading.Thread(target=run, args=(carts[i::8],)) for i in range(8)]
        for t in threads:
            t.start()
        time.sleep(0.05)
        proxy.cut()
        time.sleep(0.5)
        proxy.restore()
        for t in threads:
            t.join(30)
        statuses = sorted({status for status, _ in first.values()}, key=str)
        assert set(statuses) <= {201, 503}, (f"server exit status {s.process.poll()}", first)
        assert 503 in statuses, "the cut came too late to hit a checkout; the test proves nothing"

        # The database is back: a retry with the same key settles each request at once
        # (a request cut off by the outage must not keep its key, or a retry would get
        # 409 "in progress" for as long as the key looks claimed).
        orders = {}
        assert wait_for(lambda: requests.get(s.url + "/readyz").status_code == 200)
        for cart in carts:
            status, body = checkout(cart)
            assert status == 201, (status, body)
            if first[cart][0] == 201:
                assert body == first[cart][1], "a retry of a placed order must replay it"
            orders[cart] = body["id"]
        assert len(set(orders.values())) == len(carts)
        sold_a = sum(1 + i % 3 for i in range(len(carts)))
        assert requests.get(f"{api.url}/api/v1/products/{a['id']}").json()["stock"] == 10000 - sold_a
        assert requests.get(f"{api.url}/api/v1/products/{b['id']}").json()["stock"] == 10000 - len(carts)
    finally:
        s.stop()


def test_repeated_outages_under_mixed_load_never_crash_nor_sell_stock_twice(api):
    """The database cut and restored every few hundred milliseconds while clients
    create carts, set lines, check out and cancel: the server stays up, answers
    every request (a 2xx, 422 for a cart a failed line write left empty, or 503),
    and afterwards each product has lost exactly the units in its live orders."""
    products = [make_product(api, stock=100000) for _ in range(3)]
    email = f"outage-{uuid.uuid4().hex[:8]}@example.com"
    proxy = CuttableProxy(os.environ["DB_HOST"], int(os.environ["DB_PORT"]))
    s = Server(env={"DB_PORT": str(proxy.port), "DB_HOST": "127.0.0.1", "DB_POOL_SIZE": "3"})
    answers, failures = [], []
    stop = time.time() + 6

    def client(seed):
        rnd = random.Random(seed)
        while time.time() < stop:
            try:
                r = requests.post(s.url + "/api/v1/carts", timeout=15)
                answers.append(r.status_code)
                if r.status_code != 201:
                    continue
                cart = r.json()["id"]
                for p in rnd.sample(products, 2):
                    answers.append(requests.put(f"{s.url}/api/v1/carts/{cart}/items/{p['id']}", json={"quantity": rnd.randint(1, 3)},
                                                timeout=15).status_code)
                r = requests.post(s.url + "/api/v1/orders", json=order_body(cart, email), timeout=15,
                                  headers={"Idempotency-Key": "mixed-" + cart})
                answers.append(r.status_code)
                if r.status_code == 201 and rnd.random() < 0.3:
                    answers.append(requests.post(f"{s.url}/api/v1/orders/{r.json()['id']}/cancel", timeout=15).status_code)
                answers.append(requests.get(f"{s.url}/api/v1/products/{rnd.choice(products)['id']}", timeout=15).status_code)
            except requests.RequestException as error:
                failures.append(repr(error))

    try:
        threads = [threading.Thread(target=client, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        cuts = 0
        while time.time() < stop:
            time.sleep(random.uniform(0.05, 0.4))
            proxy.cut()
            cuts += 1
            time.sleep(random.uniform(0, 0.3))
            proxy.restore()
        for t in threads:
            t.join(30)
        assert s.process.poll() is None, f"the server died (exit status {s.process.poll()}): {s.output()[1][-2000:]}"
        assert not failures, failures[:3]
        assert set(answers) <= {200, 201, 422, 503}, sorted(set(answers))
        assert 503 in answers and 201 in answers, "the cuts should hit some requests and miss others"

        orders, offset = [], 0
        while True:
            page = requests.get(f"{api.url}/api/v1/orders", params={"email": email, "limit": 100, "offset": offset}, headers=ADMIN).json()
            orders += page["items"]
            offset += 100
            if offset >= page["total"]:
                break
        for p in products:
            sold = sum(i["quantity"] for o in orders if o["status"] != "cancelled" for i in o["items"] if i["productId"] == p["id"])
            assert requests.get(f"{api.url}/api/v1/products/{p['id']}").json()["stock"] == 100000 - sold
    finally:
        s.stop()


def test_reads_ride_out_database_sessions_dropped_under_them(api):
    """The database's sessions dropped while it stays reachable (killed, or a failover
    behind a proxy), again and again under reads: a read whose connection died runs
    once more on a new one, so no reader sees a 503. (One that cannot connect gets
    503, as in any outage: connections still logging in are left alone here.)"""
    p = make_product(api, stock=10)
    carts = [make_cart(api, [(p["id"], 1)]) for _ in range(4)]
    proxy = CuttableProxy(os.environ["DB_HOST"], int(os.environ["DB_PORT"]))
    s = Server(env={"DB_PORT": str(proxy.port), "DB_HOST": "127.0.0.1", "DB_POOL_SIZE": "4"})
    answers, stop = [], time.time() + 8

    def reader(cart):
        while time.time() < stop:
            answers.append(requests.get(f"{s.url}/api/v1/carts/{cart}", timeout=15).status_code)

    try:
        with concurrent.futures.ThreadPoolExecutor(len(carts)) as pool:
            readers = [pool.submit(reader, cart) for cart in carts]
            cuts = 0
            while time.time() < stop:
                # Sessions logging in are spared (one that fails to connect answers 503 by
                # design), with a margin for a loaded machine's slow handshakes.
                time.sleep(0.8)
                proxy.kill_sessions(older_than=0.6)
                cuts += 1
            for r in readers:
                r.result()
        assert cuts >= 8 and len(answers) > 100, (cuts, len(answers))
        assert set(answers) == {200}, {status: answers.count(status) for status in set(answers)}
        rereads = next(line for line in requests.get(s.url + "/metrics").text.splitlines() if line.startswith("db_read_retries_total "))
        assert float(rereads.split()[1]) >= cuts / 2, (rereads, cuts)
    finally:
        s.stop()


def test_housekeeping_deletes_open_carts_unchanged_past_the_retention_once_the_database_is_ready():
    """The whole chain from the setting to the rows: a server that starts against a
    database holding an open cart last changed 31 days ago deletes it, with its
    line, in its first pass, counts it in /metrics and logs it; a fresh cart stays.
    A database of its own, so that no other server's pass gets there first."""
    database = "storefront_ops_" + uuid.uuid4().hex[:8]
    mariadb(f"CREATE DATABASE {database}")
    maker = Server(env={"DB_NAME": database, "ADMIN_TOKEN": ADMIN_TOKEN, "CART_RETENTION_DAYS": "0"})
    try:
        product = make_product(maker)
        old, fresh = make_cart(maker, [(product["id"], 1)]), make_cart(maker)
    finally:
        maker.stop()
    mariadb(f"UPDATE {database}.carts SET updated_at = updated_at - INTERVAL 31 DAY WHERE id = '{old}'")
    s = Server(env={"DB_NAME": database})
    try:
        def deleted():
            text = requests.get(s.url + "/metrics").text
            return next(int(float(line.split()[-1])) for line in text.splitlines()
                        if line.startswith('housekeeping_deleted_total{table="carts"}'))
        assert wait_for(lambda: deleted() == 1, timeout=10), "no housekeeping pass once the database was ready"
        assert requests.get(f"{s.url}/api/v1/carts/{old}").status_code == 404
        assert requests.get(f"{s.url}/api/v1/carts/{fresh}").status_code == 200
    finally:
        stdout, _ = s.stop()
        mariadb(f"DROP DATABASE {database}")
    messages = [json.loads(line)["message"] for line in stdout.splitlines()]
    assert "deleted open carts nobody changed for 30 days: 1" in messages, messages


def test_readiness_names_a_missing_schema_until_migrated_and_keeps_a_newer_one():
    """A schema newer than the binary's is a later release's (its rollout migrates
    while this release's pods still serve, and a rollback runs this release on it):
    it stays ready, where it used to fall out of every Service at once."""
    database = "storefront_ops_" + uuid.uuid4().hex[:8]
    mariadb(f"CREATE DATABASE {database}")
    s = Server(env={"DB_NAME": database, "MIGRATE_ON_START": "false"})
    try:
        r = requests.get(s.url + "/readyz")
        assert r.status_code == 503 and "schema" in r.json()["checks"]["database"]
        env = dict(os.environ, DB_NAME=database)

        def migrate():
            run = subprocess.run([BIN, "migrate"], env=env, capture_output=True, text=True, timeout=60)
            assert run.returncode == 0, run.stderr
            return [json.loads(line)["message"] for line in run.stdout.splitlines()]
        assert any(m.startswith("applied migrations 1, 2, 3;") for m in migrate())
        assert any(m == "the schema is up to date (version 3)" for m in migrate())
        assert wait_for(lambda: requests.get(s.url + "/readyz").status_code == 200)
        assert requests.get(s.url + "/readyz").json()["checks"] == {"database": "ok", "schema": 3}

        mariadb(f"INSERT INTO {database}.schema_migrations (version, name) VALUES (99, 'a later release')")
        assert any("version 99, newer than this build's 3" in m for m in migrate())
        assert wait_for(lambda: requests.get(s.url + "/readyz").json()["checks"].get("schema") == 99, timeout=5)
        assert requests.get(s.url + "/readyz").status_code == 200
        assert requests.get(s.url + "/api/v1/categories").status_code == 200
    finally:
        s.stop()
        mariadb(f"DROP DATABASE {database}")


def test_readiness_says_why_the_migration_at_start_up_fails_and_recovers_once_it_can():
    """A database that answers but cannot take the schema (here another application's
    `products` table is in the way): /readyz names the migration's own error, not just
    "run storefront migrate", which would fail the same way; once the obstacle is
    gone, the background retry migrates and the server becomes ready by itself."""
    database = "storefront_ops_" + uuid.uuid4().hex[:8]
    mariadb(f"CREATE DATABASE {database}", f"CREATE TABLE {database}.products (id INT PRIMARY KEY, title TEXT)")
    s = Server(env={"DB_NAME": database})
    try:
        r = requests.get(s.url + "/readyz")
        detail = r.json()["checks"]["database"]
        assert r.status_code == 503 and detail.startswith("schema version is none, expected 3: migrating at start-up fails"), detail
        assert "Foreign key constraint is incorrectly formed" in detail, detail
        mariadb(f"DROP TABLE {database}.products")
        assert wait_for(lambda: requests.get(s.url + "/readyz").status_code == 200, timeout=20)
    finally:
        s.stop()
        mariadb(f"DROP DATABASE {database}")


def test_migrate_waits_for_a_database_that_is_not_up_yet():
    """`migrate --wait S` (the Kubernetes init container's command) gives a database
    that is still starting S seconds instead of failing, and crash-looping, at once."""
    database = "storefront_ops_" + uuid.uuid4().hex[:8]
    mariadb(f"CREATE DATABASE {database}")
    proxy = CuttableProxy(os.environ["DB_HOST"], int(os.environ["DB_PORT"]))
    proxy.cut()
    env = dict(os.environ, DB_NAME=database, DB_HOST="127.0.0.1", DB_PORT=str(proxy.port), LOG_FORMAT="text")
    try:
        started = time.monotonic()
        given_up = subprocess.run([BIN, "migrate", "--wait", "3"], env=env, capture_output=True, text=True, timeout=30)
        assert given_up.returncode == 1 and "migration failed" in given_up.stdout, given_up.stdout
        assert time.monotonic() - started >= 3, "gave up before the time it was given"
        waiting = subprocess.Popen([BIN, "migrate", "--wait", "30"], env=env, stdout=subprocess.PIPE, text=True)
        time.sleep(3)
        assert waiting.poll() is None, "gave up while it had time left"
        proxy.restore()
        out, _ = waiting.communicate(timeout=30)
        assert waiting.returncode == 0 and "waiting up to 30 s for the database" in out and "applied migrations 1" in out, out
        typo = subprocess.run([BIN, "migrate", "--wait", "soon"], env=env, capture_output=True, text=True, timeout=30)
        assert typo.returncode == 2 and "--wait needs a number of seconds" in typo.stderr
    finally:
        mariadb(f"DROP DATABASE {database}")


def test_a_database_down_at_start_up_is_migrated_once_it_is_back():
    """MIGRATE_ON_START with the database away: the server listens anyway, is not
    ready, and migrates by itself when the database comes, with no restart."""
    database = "storefront_ops_" + uuid.uuid4().hex[:8]
    mariadb(f"CREATE DATABASE {database}")
    proxy = CuttableProxy(os.environ["DB_HOST"], int(os.environ["DB_PORT"]))
    proxy.cut()
    s = Server(env={"DB_NAME": database, "DB_HOST": "127.0.0.1", "DB_PORT": str(proxy.port)})
    try:
        r = requests.get(s.url + "/readyz")
        assert r.status_code == 503 and r.headers["Cache-Control"] == "no-store"
        problem = requests.post(s.url + "/api/v1/carts")
        assert problem.status_code == 503 and problem.headers["Retry-After"]
        time.sleep(2)  # a retry or two fails too
        assert requests.get(s.url + "/readyz").status_code == 503
        proxy.restore()
        assert wait_for(lambda: requests.get(s.url + "/readyz").status_code == 200, timeout=20)
        assert requests.post(s.url + "/api/v1/carts").status_code == 201
    finally:
        stdout, _ = s.stop()
        mariadb(f"DROP DATABASE {database}")
    messages = [json.loads(line)["message"] for line in stdout.splitlines()]
    assert any(m.startswith("could not migrate at start-up") for m in messages), messages
    assert "applied migrations 1, 2, 3; the schema is at version 3" in messages, messages
    assert any(m.startswith("the database schema is current (migrated at attempt") for m in messages), messages


def test_a_database_that_refuses_the_login_gives_503_not_500():
    """A password rotated on the database before the pods: the database is there
    but refuses the login; for clients that is an outage (503, retry), not a bug."""
    s = Server(env={"DB_PASSWORD": os.environ["DB_PASSWORD"] + "-rotated", "MIGRATE_ON_START": "false"})
    try:
        for r in [requests.post(s.url + "/api/v1/carts"), requests.get(s.url + "/api/v1/products/1")]:
            assert r.status_code == 503 and r.headers["Retry-After"], r.text
            assert r.headers["Content-Type"] == "application/problem+json"
        ready = requests.get(s.url + "/readyz")
        assert ready.status_code == 503 and "1045" in ready.json()["checks"]["database"]
    finally:
        stdout, _ = s.stop()
    assert "answering 503 on POST /api/v1/carts: MySQL error 1045" in stdout


def test_sigterm_drains_under_load_without_failing_accepted_requests(api):
    product = make_product(api)
    s = Server(env={"SHUTDOWN_DELAY_SECONDS": "1.5"})
    failures, successes = [], []
    stop = threading.Event()

    def load():
        session = requests.Session()
        while not stop.is_set():
            try:
                r = session.get(f"{s.url}/api/v1/products/{product['id']}", timeout=10)
                (successes if r.status_code == 200 else failures).append(r.status_code)
            except requests.ConnectionError as error:
                if "refused" in str(error).lower():
                    return  # the listener is closed: the drain is over for new connections
                failures.append(repr(error))
                return

    threads = [threading.Thread(target=load) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.5)
    s.process.send_signal(signal.SIGTERM)
    time.sleep(0.2)
    r = requests.get(s.url + "/readyz")
    assert r.status_code == 503 and r.json()["status"] == "draining"
    assert s.process.wait(timeout=30) == 0
    stop.set()
    for t in threads:
        t.join(10)
    assert successes and not failures, failures[:5]


def test_a_hung_database_cannot_hold_shutdown_past_its_deadline():
    proxy = CuttableProxy(os.environ["DB_HOST"], int(os.environ["DB_PORT"]))
    s = Server(env={"DB_PORT": str(proxy.port), "DB_HOST": "127.0.0.1", "DB_POOL_SIZE": "2",
                    "SHUTDOWN_DELAY_SECONDS": "0", "SHUTDOWN_TIMEOUT_SECONDS": "3"})
    try:
        assert requests.post(s.url + "/api/v1/carts").status_code == 201
        proxy.freeze()

        def wait_on_the_database():
            try:
                requests.post(s.url + "/api/v1/carts", timeout=60)
            except requests.RequestException:
                pass  # cut off at the shutdown deadline, as it must be

        stuck = [threading.Thread(target=wait_on_the_database) for _ in range(3)]
        for t in stuck:
            t.start()
        time.sleep(0.5)
        assert requests.get(s.url + "/healthz", timeout=5).status_code == 200, "liveness must not wait for the database"
        start = time.time()
        s.process.send_signal(signal.SIGTERM)
        assert s.process.wait(timeout=20) == 0
        assert time.time() - start < 3 + 2, "the shutdown deadline must hold while handlers wait on the database"
        assert "still running at the shutdown deadline" in s.output()[0]
        for t in stuck:
            t.join(10)
    finally:
        proxy.restore()
        s.stop()


def start_up_waiting_on_a_database_that_does_not_answer(env):
    # Like a network policy that drops packets: start-up waits out connect timeouts.
    proxy = CuttableProxy(os.environ["DB_HOST"], int(os.environ["DB_PORT"]))
    proxy.freeze()
    return proxy, Server(env={"DB_PORT": str(proxy.port), "DB_HOST": "127.0.0.1", **env})


def test_sigterm_while_start_up_waits_on_a_database_that_does_not_answer_still_drains():
    proxy, s = start_up_waiting_on_a_database_that_does_not_answer({"SHUTDOWN_DELAY_SECONDS": "0"})
    try:
        time.sleep(0.5)
        s.process.send_signal(signal.SIGTERM)
        assert s.process.wait(timeout=30) == 0, s.output()[1]
        assert '"stopped"' in s.output()[0]
    finally:
        proxy.restore()
        s.stop()


def test_a_second_sigterm_during_start_up_still_means_stop_at_once():
    proxy, s = start_up_waiting_on_a_database_that_does_not_answer({"SHUTDOWN_DELAY_SECONDS": "20", "SHUTDOWN_TIMEOUT_SECONDS": "25"})
    try:
        time.sleep(0.5)
        s.process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        s.process.send_signal(signal.SIGTERM)
        # Start-up waits about 6 s (two connect timeouts); then no 20 s delay.
        assert s.process.wait(timeout=14) == 0, s.output()[1]
    finally:
        proxy.restore()
        s.stop()


def test_metrics_parse_and_move(api):
    def scrape():
        r = requests.get(api.url + "/metrics")
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return {f.name: f for f in text_string_to_metric_families(r.text)}

    before = scrape()
    for name in ["http_requests", "http_request_duration_seconds", "http_connections_open", "http_requests_in_flight",
                 "db_pool_connections", "db_pool_wait_seconds", "db_transaction_retries", "db_read_retries", "orders_created",
                 "checkout_stock_conflicts", "process_resident_memory_bytes", "process_open_fds", "process_cpu_seconds",
                 "process_start_time_seconds", "process_max_fds", "storefront_build_info"]:
        assert name in before, name

    def value(families, name, **labels):
        return sum(s.value for s in families[name].samples
                   if s.name == name + ("_total" if families[name].type == "counter" else "")
                   and all(s.labels.get(k) == v for k, v in labels.items()))

    p = make_product(api, stock=1)
    requests.post(api.url + "/api/v1/orders", json=order_body(make_cart(api, [(p["id"], 1)])))
    requests.put(f"{api.url}/api/v1/carts/{make_cart(api)}/items/{p['id']}", json={"quantity": 1})  # sold out: 409
    requests.delete(f"{api.url}/api/v1/carts")  # 405, counted under the route it was meant for
    after = scrape()
    wrong_method = {"method": "DELETE", "route": "/api/v1/carts", "status": "405"}
    assert value(after, "http_requests", **wrong_method) == value(before, "http_requests", **wrong_method) + 1
    assert value(after, "orders_created") == value(before, "orders_created") + 1
    assert value(after, "checkout_stock_conflicts") >= value(before, "checkout_stock_conflicts") + 1
    assert value(after, "http_requests", route="/api/v1/products/{id}") >= 0
    # Latency by route and status too (API.md), so a slow 409 is told from a fast 200.
    refused = {"method": "PUT", "route": "/api/v1/carts/{cartId}/items/{productId}", "status": "409"}
    timed = [s.value for s in after["http_request_duration_seconds"].samples
             if s.name == "http_request_duration_seconds_count" and s.labels == refused]
    assert timed == [value(after, "http_requests", **refused)] and timed[0] >= 1, timed
    routes = {s.labels.get("route") for s in after["http_requests"].samples}
    assert "/api/v1/carts/{cartId}/items/{productId}" in routes
    assert not any(r and any(ch.isdigit() for ch in r.split("/")[-1]) for r in routes), "raw paths leaked into labels"
    assert value(after, "process_resident_memory_bytes") > 1_000_000
    # The process collector's conventions: restarts show as a new start time, CPU as a counter.
    assert time.time() - 3600 < value(after, "process_start_time_seconds") <= time.time()
    assert 0 < value(before, "process_cpu_seconds") <= value(after, "process_cpu_seconds")
    assert value(after, "process_open_fds") < value(after, "process_max_fds")
    version = subprocess.run([BIN, "--version"], capture_output=True, text=True).stdout.split()[-1]
    assert [(s.labels, s.value) for s in after["storefront_build_info"].samples] == [({"version": version}, 1)]


def test_alert_rules_parse_and_use_only_metrics_the_server_exposes(api):
    """docs/alerts.yaml: each rule is whole, its PromQL parses, and every series and
    label it selects on is one that GET /metrics gives (so a rename cannot leave an
    alert that silently never fires)."""
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "alerts.yaml")) as f:
        rules = [r for g in yaml.safe_load(f)["groups"] for r in g["rules"]]
    requests.get(api.url + "/api/v1/products/1")
    exposed = {}  # sample name -> label names
    for family in text_string_to_metric_families(requests.get(api.url + "/metrics").text):
        for sample in family.samples:
            exposed.setdefault(sample.name, set()).update(sample.labels)

    def selectors(node):
        if isinstance(node, promql_parser.VectorSelector):
            yield node
        for attribute in ("lhs", "rhs", "expr", "vector_selector", "param"):
            child = getattr(node, attribute, None)
            if child is not None:
                yield from selectors(child)
        for child in getattr(node, "args", None) or []:
            yield from selectors(child)

    assert len(rules) >= 5
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["labels"]["severity"] in ("page", "ticket") and rule["annotations"]["summary"], rule["alert"]
        found = list(selectors(promql_parser.parse(rule["expr"])))
        assert found, rule["alert"]
        for selector in found:
            assert selector.name in exposed, (rule["alert"], selector.name)
            for matcher in selector.matchers.matchers:
                assert matcher.name in exposed[selector.name], (rule["alert"], selector.name, matcher.name)


def test_secrets_stay_out_of_logs_and_errors():
    s = Server(env={"DB_PASSWORD": "wrong-password-s3cr3t", "ADMIN_TOKEN": ADMIN_TOKEN})
    try:
        r = requests.get(s.url + "/readyz")
        assert r.status_code == 503
        body = requests.get(s.url + "/api/v1/categories").text
        requests.get(s.url + "/api/v1/orders", headers=ADMIN)
    finally:
        out, err = s.stop()
    for text in (r.text, body, out, err):
        assert "wrong-password-s3cr3t" not in text
        assert ADMIN_TOKEN not in text


def test_access_log_masks_cart_and_order_ids_and_emails():
    # Whoever holds a cart or order id can read the customer's address or cancel
    # the order, so the ids are as secret as a token; an email is personal data.
    s = Server(env={"ADMIN_TOKEN": ADMIN_TOKEN, "LOG_LEVEL": "info"})
    try:
        email = f"log-{uuid.uuid4().hex[:8]}@example.com"
        product = make_product(s, stock=5)
        cart = make_cart(s, [(product["id"], 1)])
        order = requests.post(s.url + "/api/v1/orders", json=order_body(cart, email=email)).json()
        assert requests.get(f"{s.url}/api/v1/orders/{order['id']}").status_code == 200
        assert requests.post(f"{s.url}/api/v1/orders/{order['id']}/cancel").status_code == 200
        assert requests.get(f"{s.url}/api/v1/orders", params={"email": email}, headers=ADMIN).json()["total"] == 1
        assert requests.get(f"{s.url}/api/v1/cart/{cart}").status_code == 404  # a typo still hides the id
    finally:
        out, err = s.stop()
    paths = [json.loads(line)["path"] for line in out.splitlines() if '"message":"request"' in line]
    assert {"/api/v1/carts/***/items/%d" % product["id"], "/api/v1/orders/***/cancel", "/api/v1/orders?email=***"} <= set(paths), paths
    for text in (out, err):
        for secret in (cart, order["id"], email):
            assert secret not in text


def test_secrets_lose_their_line_end(tmp_path):
    # `kubectl create secret --from-file` and `echo > file` keep the newline: no header can
    # send it in a token, and MySQL refuses it in a password, a user or a database name.
    (tmp_path / "token").write_text(ADMIN_TOKEN + "\n")
    for env in [{"ADMIN_TOKEN": ADMIN_TOKEN + "\r\n", "DB_PASSWORD": os.environ["DB_PASSWORD"] + "\n",
                 "DB_USER": os.environ["DB_USER"] + "\n", "DB_NAME": os.environ["DB_NAME"] + "\n"},
                {"ADMIN_TOKEN_FILE": str(tmp_path / "token")}]:
        s = Server(env=env)
        try:
            assert requests.get(s.url + "/api/v1/orders", headers=ADMIN).status_code == 200, env
        finally:
            s.stop()


def test_cors_only_for_configured_origins(api):
    assert "Access-Control-Allow-Origin" not in requests.get(api.url + "/api/v1/categories", headers={"Origin": "http://evil.example"}).headers
    # Scheme and host are case-insensitive; browsers send them in lower case.
    s = Server(env={"CORS_ALLOWED_ORIGINS": "http://shop.example, HTTPS://Admin.Example"})
    try:
        ok = requests.get(s.url + "/api/v1/categories", headers={"Origin": "http://shop.example"})
        assert ok.headers["Access-Control-Allow-Origin"] == "http://shop.example" and "Origin" in ok.headers["Vary"]
        other = requests.get(s.url + "/api/v1/categories", headers={"Origin": "http://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
        again = requests.get(s.url + "/api/v1/categories", headers={"Origin": "http://shop.example"})  # a cache hit
        assert again.headers["Access-Control-Allow-Origin"] == "http://shop.example" and again.json() == ok.json()
        # A page on the origin may read the ETag and send it back itself (a preflighted header).
        assert "ETag" in ok.headers["Access-Control-Expose-Headers"]
        held = requests.get(s.url + "/api/v1/categories", headers={"Origin": "http://shop.example", "If-None-Match": ok.headers["ETag"]})
        assert held.status_code == 304 and held.headers["Access-Control-Allow-Origin"] == "http://shop.example"
        pre = requests.options(s.url + "/api/v1/categories", headers={
            "Origin": "http://shop.example", "Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "if-none-match"})
        assert "If-None-Match" in pre.headers["Access-Control-Allow-Headers"]
        pre = requests.options(s.url + "/api/v1/carts/abc/items/1", headers={
            "Origin": "https://admin.example", "Access-Control-Request-Method": "PUT"})
        assert pre.status_code == 204 and "PUT" in pre.headers["Access-Control-Allow-Methods"]
        assert "Content-Type" in pre.headers["Access-Control-Allow-Headers"] and "If-Match" in pre.headers["Access-Control-Allow-Headers"]
        # Errors too, from routing as from handlers: a page on the origin can read the problem.
        for method, path, status in [("GET", "/api/v1/nowhere", 404), ("DELETE", "/api/v1/carts", 405),
                                     ("GET", "/api/v1/orders", 401), ("GET", "/api/v1/products/0", 404)]:
            r = requests.request(method, s.url + path, headers={"Origin": "http://shop.example"})
            assert r.status_code == status and r.headers.get("Access-Control-Allow-Origin") == "http://shop.example", (method, path)
            assert "X-Request-Id" in r.headers["Access-Control-Expose-Headers"] and "Origin" in r.headers["Vary"]
        # And a body refused once the head was read: too large, or framed in a way the server does not take.
        for extra, status in [("Content-Length: 2000000\r\n", 413), ("Transfer-Encoding: gzip\r\n", 400)]:
            with socket.create_connection(("127.0.0.1", s.port), timeout=10) as sock:
                sock.sendall(f"PUT /api/v1/carts/abc/items/1 HTTP/1.1\r\nHost: x\r\nOrigin: http://shop.example\r\n{extra}\r\n".encode())
                answer = b""
                while chunk := sock.recv(65536):  # the server closes after these
                    answer += chunk
            head = answer.split(b"\r\n\r\n")[0].decode()
            assert head.startswith(f"HTTP/1.1 {status} ") and "Access-Control-Allow-Origin: http://shop.example" in head, head
    finally:
        s.stop()
