"""Helpers shared by the bench scripts."""
import signal
import socket
import subprocess
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
