"""A run never depends on its terminal (issue 11 item 3): closed pipes, Ctrl-C, the log."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from twin.cli import app
from twin.console import PipeSafe
from twin.runner import _Writer

ROOT = Path(__file__).resolve().parents[2]
TWIN = [sys.executable, "-m", "twin.cli"]
runner = CliRunner()


@pytest.fixture
def short(tmp_path):
    from tests.twin.test_runner import scenario

    path = tmp_path / "short.toml"
    path.write_text(scenario(duration="2h", output_interval="1h").to_toml())
    return path


def _env():
    return os.environ | {"PYTHONPATH": str(ROOT)}


def _status(store: Path) -> dict:
    return json.loads((store / "zarr.json").read_text())["attributes"]


@pytest.mark.parametrize("flags", [["-v"], []], ids=["verbose-no-progress", "progress"])
def test_closed_pipe_neither_hangs_nor_fails_the_run(short, tmp_path, flags):
    """`twin -v run ... 2>&1 | head -2` used to hang (futex wait) and, without -v,
    `| head -2` left the run "failed"; now both finish the run, exit 0."""
    store = tmp_path / "p.zarr"
    run = [*TWIN, *flags, "run", str(short), "-o", str(store)]
    run += ["--no-progress"] if flags else []
    shell = f"{shlex.join(run)} 2>&1 | head -2; exit ${{PIPESTATUS[0]}}"
    proc = subprocess.run(
        ["bash", "-c", shell], capture_output=True, text=True, timeout=240, env=_env()
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert len(proc.stdout.splitlines()) <= 2 and "Traceback" not in proc.stderr
    attrs = _status(store)
    assert attrs["status"] == "complete" and attrs["completed_outputs"] == 2
    assert (store / "kpi" / "zarr.json").is_file()


def test_verbose_shows_the_twins_log_only_and_log_file(short, tmp_path):
    store, log = tmp_path / "v.zarr", tmp_path / "run.log"
    result = runner.invoke(
        app, ["-v", "run", str(short), "-o", str(store), "--no-progress", "--log", str(log)]
    )
    assert result.exit_code == 0, result.output
    assert "Wrote output step 2 and a restart" in result.output  # the twin's debug lines
    assert "store_path" not in result.output and "Zarr" not in result.output  # not Zarr's
    text = log.read_text()
    for line in ("twin.runner: Running mini", "DEBUG   twin.runner: Wrote output step 1",
                 "twin.runner: Run complete"):  # fmt: skip
        assert line in text, (line, text)
    assert "zarr" not in text.replace(str(store), "").replace(".zarr", "")
    # without -v the console keeps to INFO
    result = runner.invoke(
        app, ["run", str(short), "-o", str(tmp_path / "q.zarr"), "--no-progress"]
    )
    assert result.exit_code == 0 and "Wrote output step" not in result.output
    assert "Running mini" in result.output


def test_ctrl_c_says_how_to_resume(tmp_path):
    from tests.twin.test_runner import scenario

    sc = tmp_path / "day.toml"
    sc.write_text(scenario().to_toml())  # 24 h: long enough to interrupt
    store = tmp_path / "day.zarr"
    proc = subprocess.Popen(
        [*TWIN, "run", str(sc), "-o", str(store), "--no-progress"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env(),
    )  # fmt: skip
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if _status(store).get("completed_outputs", 0) >= 1:
                break
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, out
    assert "interrupted:" in out and f"twin run {sc} -o {store} --resume" in out, out
    assert "Traceback" not in out and _status(store)["status"] == "interrupted"


class _Store:
    path = "full.zarr"  # the writer's error names the store

    def write_service_records(self, records, units):
        pass

    def write_outputs(self, k, outputs):
        raise OSError(28, "No space left on device")


def _within(seconds: float, fn) -> None:
    """Run ``fn`` in a thread; fail (instead of hanging the suite) if it does not end."""
    errors: list[BaseException] = []

    def target():
        try:
            fn()
        except BaseException as err:
            errors.append(err)

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(seconds)
    assert not t.is_alive(), "deadlocked"
    if errors:
        raise errors[0]


def test_writer_never_deadlocks():
    writer = _Writer(_Store())
    writer.put(0, {}, None)
    with pytest.raises(RuntimeError, match="No space left"):
        _within(10, lambda: [writer.put(k, {}, None) for k in range(1, 50)])
    with pytest.raises(RuntimeError, match="No space left"):
        _within(10, writer.close)  # the main thread's error path closes it again: no wait
    gone = _Writer(_Store())
    gone.queue.put(None)  # the thread ends, as if it had died
    gone.thread.join(5)
    with pytest.raises(RuntimeError, match="writer thread stopped"):
        _within(10, lambda: [gone.put(k, {}, None) for k in range(5)])  # queue of 2: full


def test_pipe_safe_stream_goes_quiet(tmp_path):
    r, w = os.pipe()
    os.close(r)
    stream = open(w, "w", buffering=1)  # noqa: SIM115 (closed by the test)
    old, sys.stdout = sys.stdout, stream
    try:
        safe = PipeSafe("stdout")
        assert safe.write("line\n") == 5 and safe.broken  # EPIPE: silenced, not raised
        assert safe.write("more\n") == 5
        safe.flush()
    finally:
        sys.stdout = old
        stream.close()  # its fd now points at /dev/null: no "Exception ignored"
