"""``ray job submit`` of examples/ray_job.py to a local head (with its dashboard, which
receives jobs), as the README documents it; the head is stopped afterwards."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.twin.conftest import ROOT, agent_ports, free_port, stop_head

pytest.importorskip("ray.dashboard")
pytestmark = pytest.mark.xdist_group("ray")  # one pytest worker runs every Ray test


@pytest.mark.slow
def test_ray_job_submit_runs_the_example(tmp_path):
    ray_bin = str(Path(sys.executable).parent / "ray")
    port, dash = free_port(), free_port()
    temp = Path("/tmp") / f"twin-rayjob-{os.getpid()}"  # unix socket paths must stay short
    env = os.environ | {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled",
                        "PYTHONPATH": str(ROOT)}  # fmt: skip
    env.pop("RAY_ADDRESS", None)
    head = subprocess.Popen(
        [ray_bin, "start", "--head", "--block", f"--port={port}", "--node-ip-address=127.0.0.1",
         "--num-cpus=2", "--num-gpus=0", "--include-dashboard=true",
         "--dashboard-host=127.0.0.1", f"--dashboard-port={dash}", "--disable-usage-stats",
         f"--temp-dir={temp}", *agent_ports()],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{dash}"
    try:
        deadline = time.monotonic() + 180
        while True:  # the job server answers once the dashboard is up
            try:
                urllib.request.urlopen(f"{url}/api/version", timeout=2).close()
                break
            except OSError:
                if head.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"no Ray dashboard at {url}")
                time.sleep(1)
        store = tmp_path / "job.zarr"
        while True:  # the head's job agent starts a little after the dashboard
            out = subprocess.run(
                [ray_bin, "job", "submit", "--address", url, "--",
                 sys.executable, str(ROOT / "examples" / "ray_job.py"), "-o", str(store),
                 "--seeds", "2"],
                env=env, cwd=ROOT, capture_output=True, text=True, timeout=400,
            )  # fmt: skip
            if "No available agent" not in out.stderr or time.monotonic() > deadline:
                break
            time.sleep(2)
        assert out.returncode == 0, (out.stdout + out.stderr)[-3000:]
        assert "status: complete complete" in out.stdout, out.stdout[-3000:]
        assert "succeeded" in out.stdout + out.stderr
        assert (store / "members").exists()
    finally:
        stop_head(head)
