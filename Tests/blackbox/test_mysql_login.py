"""Logging in to MySQL 8.4, whose default is caching_sha2_password, through the
client library the server is linked with: a first login's full authentication
(over TLS, or with the server's RSA key when there is no TLS), then the fast
path from the server's cache. MariaDB has no such login, so a proxy plays
MySQL's part of it in front of the test database (caching_sha2_proxy.py)."""
import os
import subprocess
import time

import pytest
import requests

from caching_sha2_proxy import CachingSha2Proxy
from conftest import BIN, Server


@pytest.fixture
def proxy_factory(tmp_path):
    if "DB_HOST" not in os.environ:
        pytest.fail("DB_HOST is not set: run these through scripts/test, which starts a database")
    proxies = []

    def make(tls):
        proxy = CachingSha2Proxy((os.environ["DB_HOST"], int(os.environ["DB_PORT"])), os.environ["DB_USER"],
                                 os.environ["DB_PASSWORD"], str(tmp_path), tls=tls)
        proxies.append(proxy)
        return proxy

    yield make
    for proxy in proxies:
        proxy.close()


def serve_through(proxy, **env):
    """A storefront whose database is `proxy`, ready, having answered a listing."""
    s = Server(env={"DB_HOST": "127.0.0.1", "DB_PORT": str(proxy.port), "DB_POOL_SIZE": "3", **env})
    deadline = time.time() + 20
    while requests.get(s.url + "/readyz").status_code != 200:
        assert time.time() < deadline, f"not ready through the proxy; logins {proxy.logins}; log:\n{''.join(s.output())[-3000:]}"
        time.sleep(0.1)
    assert requests.get(s.url + "/api/v1/products?limit=1").status_code == 200
    return s


def test_without_tls_the_first_login_sends_the_password_encrypted_with_the_servers_rsa_key(proxy_factory):
    # DB_TLS=disabled, or a MySQL without a certificate: the library must ask for the
    # server's public key itself (MySQL 8.4 makes a key pair at first start).
    proxy = proxy_factory(tls=False)
    s = serve_through(proxy, DB_TLS="disabled")
    assert proxy.logins[0] == "full with RSA", proxy.logins
    # The connections after the first (the readiness check's, the workers'): the cached login.
    assert len(proxy.logins) >= 2 and set(proxy.logins[1:]) == {"fast"}, proxy.logins
    s.stop()


def test_over_tls_the_first_login_sends_the_password_inside_the_tls_session(proxy_factory):
    proxy = proxy_factory(tls=True)
    s = serve_through(proxy, DB_TLS="verify-identity", DB_TLS_CA=proxy.certificate)
    assert proxy.logins[0] == "full over TLS", proxy.logins
    assert len(proxy.logins) >= 2 and set(proxy.logins[1:]) == {"fast"}, proxy.logins
    s.stop()


@pytest.mark.parametrize("tls", [False, True])
def test_a_wrong_password_is_refused_with_the_servers_message(proxy_factory, tls):
    proxy = proxy_factory(tls=tls)
    env = {k: v for k, v in os.environ.items() if k.startswith("DB_") or k in ("PATH", "LD_LIBRARY_PATH")}
    env.update(DB_HOST="127.0.0.1", DB_PORT=str(proxy.port), DB_PASSWORD="not-the-password", DB_TLS="preferred")
    result = subprocess.run([BIN, "migrate"], env=env, capture_output=True, text=True, timeout=30)
    assert result.returncode != 0
    assert "MySQL error 1045 (28000): Access denied for user" in result.stdout + result.stderr, result
    assert proxy.logins and set(proxy.logins) == {"denied"}, proxy.logins
