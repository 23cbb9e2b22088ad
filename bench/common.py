"""Helpers shared by the bench scripts."""
import signal
import socket
import subprocess
import sys
import time


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def wait_port(port, proc):
    """Waits until something listens on 127.0.0.1:port, or fails if `proc` exits first."""
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


def stop(proc):
    """SIGTERM, then SIGKILL if it has not exited within 30 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()


def warn_if_busy(seconds=3.0, limit=0.03):
    """Says so on stderr when something else keeps the CPUs busy before a run
    (a container engine's health-check ticker, a build, a browser): every row
    would come out low, and not by the same factor for each server."""
    def busy_and_total():
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # all but idle and iowait
    busy0, total0 = busy_and_total()
    time.sleep(seconds)
    busy1, total1 = busy_and_total()
    share = (busy1 - busy0) / max(1, total1 - total0)
    if share > limit:
        print(f"warning: the machine is {share:.0%} busy before the benchmark starts; stop what runs "
              f"(`top` shows it) for numbers worth comparing", file=sys.stderr)
