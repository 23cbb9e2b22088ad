#!/usr/bin/env python3
"""GET /healthz under wrk: storefront side by side with Hummingbird 2 and nginx.

Each server is pinned to core 1 and wrk to core 0 (keep-alive, 64 connections),
servers run one after another and alternate over rounds; the table shows the
median of the rounds and each ratio's spread. A benchmark, not a test: it
asserts nothing. Run from the repository root: bench/healthz.py [--rounds N]
(it builds what it needs; the Hummingbird peer takes a few minutes once).
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

from common import sh, stop, wait_port, warn_if_busy

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TMP = os.path.join(ROOT, "tmp", "bench")
PEERS = os.path.join(ROOT, "..", "shared", "bench", "peers")



def ensure_tools():
    missing = [p for p, exe in (("wrk", "wrk"), ("nginx", "nginx")) if not shutil.which(exe) and not os.path.exists("/usr/sbin/" + exe)]
    if missing:
        sh(["apt-get", "update", "-qq"])
        sh(["apt-get", "install", "-y", "-qq", *missing], env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def build():
    sh(["swift", "build", "-c", "release", "--product", "storefront"], cwd=ROOT)
    peer = os.path.join(ROOT, "tmp", "peers", "hummingbird-peer")
    if not os.path.exists(os.path.join(peer, ".build", "release", "HummingbirdPeer")):
        shutil.rmtree(peer, ignore_errors=True)
        shutil.copytree(os.path.join(PEERS, "hummingbird-peer"), peer, ignore=shutil.ignore_patterns(".build"))
        print("building the Hummingbird peer (a few minutes, once)...", file=sys.stderr)
        sh(["swift", "build", "-c", "release"], cwd=peer)
    return peer


def servers(peer):
    nginx_prefix = os.path.join(TMP, "nginx")
    os.makedirs(os.path.join(nginx_prefix, "tmp"), exist_ok=True)
    shutil.copy(os.path.join(PEERS, "nginx", "nginx.conf"), nginx_prefix)
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    return {
        "storefront": (["taskset", "-c", "1", os.path.join(ROOT, ".build", "release", "storefront")], 8089,
                       {"PORT": "8089", "HOST": "127.0.0.1", "EVENT_LOOPS": "1", "LOG_LEVEL": "warning",
                        # /healthz never touches the database; do not wait on one at start.
                        "MIGRATE_ON_START": "false"}),
        "hummingbird": (["taskset", "-c", "1", os.path.join(peer, ".build", "release", "HummingbirdPeer")], 8090, {"PORT": "8090"}),
        "nginx": (["taskset", "-c", "1", nginx, "-p", nginx_prefix + "/", "-c", "nginx.conf"], 8091, {}),
    }


def peak_rss_mib(pid):
    # The pinned process is taskset's exec'd child: same pid.
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def to_ms(text):
    value, unit = re.match(r"([\d.]+)([a-z]+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def run_one(name, spec, duration, connections):
    cmd, port, env = spec
    proc = subprocess.Popen(cmd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        url = f"http://127.0.0.1:{port}/healthz"
        sh(["taskset", "-c", "0", "wrk", "-t1", "-c", str(connections), "-d2s", url], stdout=subprocess.DEVNULL)
        out = sh(["taskset", "-c", "0", "wrk", "-t1", "-c", str(connections), f"-d{duration}s", "--latency", url],
                 capture_output=True, text=True).stdout
        if "Non-2xx" in out or "Socket errors" in out:
            print(f"warning: {name} had errors:\n{out}", file=sys.stderr)
        if "Requests/sec" not in out or "99%" not in out:
            raise RuntimeError(f"{name}: unexpected wrk output:\n{out}")
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        # Anchored: a Thread Stats "+/- Stdev" such as 75.50% also ends in "50%".
        p50 = to_ms(re.search(r"^\s*50%\s+(\S+)", out, re.M).group(1))
        p99 = to_ms(re.search(r"^\s*99%\s+(\S+)", out, re.M).group(1))
        return rps, p50, p99, peak_rss_mib(proc.pid)
    finally:
        stop(proc)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()
    ensure_tools()
    peer = build()
    specs = servers(peer)
    warn_if_busy()
    results = {name: [] for name in specs}
    for round_ in range(args.rounds):
        order = list(specs) if round_ % 2 == 0 else list(reversed(specs))
        for name in order:
            results[name].append(run_one(name, specs[name], args.duration, args.connections))
            print(f"round {round_ + 1} {name}: {results[name][-1][0]:.0f} req/s", file=sys.stderr)

    def med(name, i):
        return statistics.median(r[i] for r in results[name])

    print(f"\nGET /healthz, wrk -t1 -c{args.connections} -d{args.duration}s, server on core 1, wrk on core 0, "
          f"median of {args.rounds} rounds ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores)\n")
    print("| server | requests/s | p50 ms | p99 ms | peak RSS MiB | storefront ÷ this (min–max) |")
    print("|---|---|---|---|---|---|")
    for name in specs:
        ratios = [s[0] / o[0] for s, o in zip(results["storefront"], results[name])]
        spread = f"{statistics.median(ratios):.2f} ({min(ratios):.2f}–{max(ratios):.2f})" if name != "storefront" else "—"
        print(f"| {name} | {med(name, 0):.0f} | {med(name, 1):.2f} | {med(name, 2):.2f} | {med(name, 3):.1f} | {spread} |")


if __name__ == "__main__":
    main()
