"""The built wheel: shipped datasets inside `twin`, no top-level `datasets` module."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (path,) = out.glob("*.whl")
    return path


def test_wheel_contents(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"twin", "sim", "gpu", "viz"}, tops
    assert "twin/_datasets/gwangju/dataset.toml" in names
    assert "twin/_scenarios/june_weekday.toml" in names
    assert "gpu/kernels/air_substep.cu" in names  # the fused air kernel's source


def test_installed_wheel_finds_datasets(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(target),
            str(wheel),
        ],
        check=True,
        capture_output=True,
    )
    code = (
        "import twin, twin.catalog as c; "
        f"assert c.datasets_root().is_relative_to(r'{target}'), c.datasets_root(); "
        "print(twin.build_city('gwangju', resolution_m=500).summary()['buildings'])"
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert run.returncode == 0, run.stderr
    assert int(run.stdout.strip()) > 1000
