"""Fixtures of the twin tests: the Ray cluster that the distributed tests share (Ray
starts once per test session)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agent_ports() -> list[str]:
    """Free ports for a head's side services, whose fixed defaults (52365 and others)
    collide with any other Ray head on the machine."""
    names = ("dashboard-agent-listen-port", "dashboard-agent-grpc-port", "metrics-export-port",
             "runtime-env-agent-port", "ray-client-server-port")  # fmt: skip
    return [f"--{name}={free_port()}" for name in names]


def stop_head(head: subprocess.Popen) -> None:
    """Stop a ``ray start --head --block`` process (and its session, if it hangs)."""
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()


@pytest.fixture(scope="session")
def cluster(tmp_path_factory):
    """A local Ray cluster started apart from the tests (``ray start --head --block``),
    stopped by signalling the process that started it. Token authentication (on by
    default with ``ray start``) is off: the tests' drivers imported Ray without it."""
    ray = pytest.importorskip("ray")
    port = free_port()
    temp = Path("/tmp") / f"twin-ray-{os.getpid()}"  # unix socket paths must stay short
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "RAY_USAGE_STATS_ENABLED": "0",
        "RAY_AUTH_MODE": "disabled",
    }
    head = subprocess.Popen(
        [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block",
         f"--port={port}", "--node-ip-address=127.0.0.1", "--num-cpus=2", "--num-gpus=0",
         "--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}",
         *agent_ports()],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"ray start --head did not answer on {address}")
                time.sleep(0.5)
        yield {"address": address, "pid": head.pid}
    finally:
        ray.shutdown()
        stop_head(head)
