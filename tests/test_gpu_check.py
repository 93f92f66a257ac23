"""bench/gpu_check.sh without a GPU (CI): a clear message and exit status 3, nothing
measured; bench/gpu_check.py's parts on NumPy."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import gpu
from sim.air import AirModel

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "bench" / "gpu_check.sh"


def _run(tmp_path, path: str) -> subprocess.CompletedProcess:
    env = os.environ | {"PATH": path, "PYTHON": sys.executable, "OUT": str(tmp_path / "out"),
                        "WHEELS": str(tmp_path / "no-wheels")}  # fmt: skip
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)  # fmt: skip


def test_exits_3_without_nvidia_smi(tmp_path):
    r = _run(tmp_path, "/usr/bin:/bin")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "no usable NVIDIA GPU here (nvidia-smi is not on the PATH)" in r.stdout
    assert "nothing was measured" in r.stdout


@pytest.mark.skipif(gpu.backend._probe_cupy()[0] is not None, reason="a GPU is usable here")
def test_exits_3_when_cupy_finds_no_device(tmp_path):
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "nvidia-smi").write_text("#!/bin/sh\necho 'Stand-in GPU, 1 MiB, 0'\n")
    (fake / "nvidia-smi").chmod(0o755)
    r = _run(tmp_path, f"{fake}:/usr/bin:/bin")
    assert r.returncode == 3, r.stdout + r.stderr
    assert "== device: Stand-in GPU" in r.stdout
    assert "no usable NVIDIA GPU here (" in r.stdout and "device='gpu' was requested" in r.stdout
    assert "== GPU tests" not in r.stdout  # nothing ran


def test_check_parts_on_numpy():
    sys.path.insert(0, str(ROOT))
    from bench import gpu_check

    numpy = gpu.select("cpu")
    assert gpu_check.copy_bandwidth(numpy, 1 << 20, 2) > 0
    r = gpu_check.air_case(numpy, 64, 1)
    assert r["substeps"] > 1 and r["bytes"] == 7 * 64 * 64 * 4 and not r["fused"]
    # float32, two species and the wind factor: 12 bytes a cell; a fused step adds two
    # ping-pong fields, the gain and the new state of both species (32 bytes).
    assert gpu_check.air_memory_mb_per_mcell(AirModel(10.0)) == (12.0, 44.0)
    assert "HOOK" in gpu_check.bench_hook("timing", numpy, 10)[0][3]  # no gpu_check there
    assert "10-500 m only" in gpu_check.coupled_day(5.0, True)[0][3]
    assert "--coupled" in gpu_check.coupled_day(25.0, False)[0][3]


def test_traffic_and_energy_rows_on_numpy():
    # the hooks' rows of the table, dry-run on NumPy at small sizes
    sys.path.insert(0, str(ROOT))
    from bench import gpu_check

    numpy = gpu.select("cpu")
    traffic = gpu_check.bench_hook("traffic", numpy, 3000)
    assert [r[0] for r in traffic] == [
        "traffic step (60 s), NumPy", "traffic step (60 s), numpy, array code",
        "traffic device memory", "traffic launches per 60 s step",
    ]  # fmt: skip
    assert traffic[1][3].endswith("x NumPy per cell-sub-step")
    assert traffic[2][1] == "10^6 road cells" and traffic[2][2].endswith(" MB state")
    fused, array = (int(v.split()[0].replace(",", "")) for v in traffic[3][2].split(", "))
    assert 0 < fused < array  # the fused kernel's sub-steps are one launch
    energy = gpu_check.bench_hook("energy", numpy, 2000)
    assert [r[0] for r in energy] == [
        "energy step (1 h), NumPy", "energy step (1 h), numpy", "energy device memory",
    ]  # fmt: skip
    assert energy[1][3].endswith("x NumPy per building") and energy[2][1] == "10^6 buildings"
