#!/usr/bin/env python3
"""The API scenarios under wrk: storefront side by side with the FastAPI peer.

Both servers get the same data (10,000 products, the scenario slugs) in their
own database on the same MariaDB, the same core (1; wrk on core 0), one
process each, and are re-seeded before every scenario. Both talk to the
database without TLS (the peer does not use it, so storefront gets
DB_TLS=disabled). Prints requests/s per scenario and the ratio, the CPU time
the server and the database spent per request (which shows where a
scenario's cost lies), plus any non-2xx count wrk or the checkout script
reported. A benchmark, not a test: it asserts nothing.

Run through bench/api.sh, which starts a throwaway database (or uses DB_*).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

from common import sh, stop, wait_port, warn_if_busy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED = os.path.join(ROOT, "..", "shared", "bench")
SCENARIOS = ["get-product", "list-products", "cart-write", "checkout"]



def storefront(products):
    env = {**os.environ, "DB_NAME": "storefront_bench", "LOG_LEVEL": "warning", "DB_TLS": "disabled"}
    sh([os.path.join(ROOT, ".build", "release", "storefront"), "seed", "--products", str(products)], env=env,
       stdout=subprocess.DEVNULL)
    return (["taskset", "-c", "1", os.path.join(ROOT, ".build", "release", "storefront")], 8089,
            {**env, "PORT": "8089", "HOST": "127.0.0.1", "EVENT_LOOPS": "1", "DB_POOL_SIZE": "10"}, None)


def fastapi(products, venv):
    peer = os.path.join(SHARED, "peers", "fastapi")
    env = {**os.environ, "DB_NAME": "storefront_peer_fastapi", "DB_POOL_SIZE": "10"}
    sh([os.path.join(venv, "bin", "python"), os.path.join(peer, "seed.py"), "--products", str(products)], env=env,
       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cmd = ["taskset", "-c", "1", os.path.join(venv, "bin", "uvicorn"), "app:app", "--host", "127.0.0.1", "--port", "8092",
           "--workers", "1", "--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    return cmd, 8092, env, peer


def cpu_seconds(pid):
    """User + system CPU time a process has used so far (None if it is not ours to read)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, TypeError):
        return None


def wait_until_quiet(pid, limit=30.0):
    """Waits (up to `limit` s) until the database is nearly idle, so that flushing and
    purging left from seeding or from the previous server's run are not counted
    against the next one."""
    start = time.monotonic()
    previous = cpu_seconds(pid)
    while previous is not None and time.monotonic() - start < limit:
        time.sleep(0.5)
        now = cpu_seconds(pid)
        if now is None or now - previous < 0.5 * 0.05:  # gone, or under 5 % of a core
            return
        previous = now


def run(name, spec, scenario, products, duration, connections):
    """wrk against one server; returns req/s, orders/s, problems, wrk's output and the
    CPU microseconds per request that the server and the database spent."""
    cmd, port, env, cwd = spec
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        script = os.path.join(SHARED, "scenarios", scenario + ".lua")
        db_pid = os.environ.get("BENCH_DB_PID")
        wait_until_quiet(db_pid)
        before = (cpu_seconds(proc.pid), cpu_seconds(db_pid))
        out = sh(["taskset", "-c", "0", "wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", script, f"http://127.0.0.1:{port}"],
                 env={**os.environ, "PRODUCTS": str(products)}, capture_output=True, text=True).stdout
        after = (cpu_seconds(proc.pid), cpu_seconds(db_pid))
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        requests = rps * duration
        cpu = tuple(None if a is None or b is None else (b - a) / requests * 1e6 for a, b in zip(before, after))
        orders = re.search(r"([\d.]+) orders/s", out)
        problems = [line.strip() for line in out.splitlines() if "Non-2xx" in line or "Socket errors" in line or "unexpected" in line]
        return rps, float(orders.group(1)) if orders else None, problems, out, cpu
    finally:
        stop(proc)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--products", type=int, default=10000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--venv", default=os.path.join(ROOT, "tmp", "peer-venv"))
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    args = parser.parse_args()
    sh(["swift", "build", "-c", "release", "--product", "storefront"], cwd=ROOT, stdout=subprocess.DEVNULL)
    warn_if_busy()
    results = {}
    for scenario in args.scenarios.split(","):
        for round_ in range(args.rounds):
            for name, make in (("storefront", lambda: storefront(args.products)), ("fastapi", lambda: fastapi(args.products, args.venv))):
                rps, orders, problems, out, cpu = run(name, make(), scenario, args.products, args.duration, args.connections)
                results.setdefault((scenario, name), []).append((rps, orders, problems, cpu))
                print(f"{scenario} {name}: {rps:.0f} req/s {'' if orders is None else f'{orders:.0f} orders/s '}"
                      f"CPU per request: server {micros(cpu[0])}, database {micros(cpu[1])} {problems}", file=sys.stderr)
                if problems:
                    print(out, file=sys.stderr)

    print(f"\nshared/bench/scenarios, wrk -t1 -c{args.connections} -d{args.duration}s, {args.products} products, server on core 1 "
          f"(one process), wrk on core 0, MariaDB on the same machine ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)\n")
    print("| scenario | storefront req/s | FastAPI req/s | ratio | CPU µs/request: server, database (storefront / FastAPI) | non-2xx/errors (storefront / FastAPI) |")
    print("|---|---|---|---|---|---|")
    for scenario in args.scenarios.split(","):
        s = results[(scenario, "storefront")]
        f = results[(scenario, "fastapi")]
        ratio = statistics.median(a[0] / b[0] for a, b in zip(s, f))
        sp = "; ".join(p for r in s for p in r[2]) or "none"
        fp = "; ".join(p for r in f for p in r[2]) or "none"
        print(f"| {scenario} | {statistics.median(r[0] for r in s):.0f} | {statistics.median(r[0] for r in f):.0f} | {ratio:.1f}× "
              f"| {cpu_cell(s)} / {cpu_cell(f)} | {sp} / {fp} |")


def micros(value):
    return "n/a" if value is None else f"{value:.0f} µs"


def cpu_cell(rounds):
    """Median server and database CPU per request over the rounds."""
    def median(i):
        values = [r[3][i] for r in rounds if r[3][i] is not None]
        return statistics.median(values) if values else None
    return f"{micros(median(0)).replace(' µs', '')}, {micros(median(1)).replace(' µs', '')}"


if __name__ == "__main__":
    main()
