"""The README's run command, as a developer runs it: scripts/run on free ports
with no DB_* set (so it starts its own throwaway MariaDB), then the shop and
the API through the frontend's proxy, then Ctrl-C."""
import os
import re
import signal
import socket
import subprocess
import time

import requests

from conftest import free_port

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def test_scripts_run_serves_the_shop_and_the_api(tmp_path):
    api_port, shop_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    env.update(PORT=str(api_port), FRONTEND_PORT=str(shop_port))
    log = open(tmp_path / "run.log", "wb")
    process = subprocess.Popen([os.path.join(ROOT, "scripts", "run")], env=env, stdout=log, stderr=subprocess.STDOUT,
                               start_new_session=True)
    try:
        deadline = time.time() + 600  # includes a release build
        while time.time() < deadline and b"shop: open" not in (tmp_path / "run.log").read_bytes():
            assert process.poll() is None, (tmp_path / "run.log").read_text(errors="replace")[-3000:]
            time.sleep(1)
        shop = f"http://127.0.0.1:{shop_port}"
        assert requests.get(shop + "/").status_code == 200
        products = requests.get(shop + "/api/v1/products").json()
        assert products["total"] >= 30, "the demo catalog is served through the frontend's proxy"
        assert requests.get(f"http://127.0.0.1:{api_port}/readyz").status_code == 200
    finally:
        # Ctrl-C in a terminal signals the whole process group.
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(90)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            raise AssertionError("scripts/run did not stop on Ctrl-C:\n" + (tmp_path / "run.log").read_text(errors="replace")[-3000:])
    assert process.returncode == 0
    output = (tmp_path / "run.log").read_text(errors="replace")
    assert "error" not in output.lower()
    data = re.search(r"data in (tmp/mariadb-\d+)", output)
    assert data, output[-3000:]
    assert not os.path.exists(os.path.join(ROOT, data.group(1))), "the throwaway database's data goes with it"


def test_scripts_run_stops_with_a_reason_when_a_port_is_taken(tmp_path):
    """A port in use must end the run with the server's own reason and a failure
    status, not leave it pointing the developer at a shop that is not there."""
    api_port, shop_port = free_port(), free_port()
    taken = socket.socket()
    taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    taken.bind(("0.0.0.0", api_port))
    taken.listen()
    env = {k: v for k, v in os.environ.items() if not k.startswith("DB_")}
    env.update(PORT=str(api_port), FRONTEND_PORT=str(shop_port))
    process = subprocess.Popen([os.path.join(ROOT, "scripts", "run")], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output = process.communicate(timeout=600)[0]  # includes a release build when run alone
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise AssertionError("scripts/run neither started nor stopped with a port taken")
    finally:
        taken.close()
    assert process.returncode != 0, output[-3000:]
    assert "Address already in use" in output and "the API could not start" in output, output[-3000:]
    assert "shop: open" not in output
