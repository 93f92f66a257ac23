"""One writer per run store: an OS lock, a clear refusal naming the holder, no stale
locks after a kill, and readers that work while a run writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from tests.twin.test_runner import scenario
from twin.errors import InputError
from twin.locking import WriterLock, lock_holder, lock_path
from twin.runner import run
from twin.store import open_run, read_kpis, run_summary

HOLD = textwrap.dedent(
    """
    import sys, time
    from twin.locking import WriterLock
    WriterLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(120)
    """
)


@pytest.fixture(scope="module")
def done(tmp_path_factory):
    path = tmp_path_factory.mktemp("lock") / "run.zarr"
    return run(scenario(duration="2h"), path, progress=False).store


def test_second_writer_refused_naming_the_holder(done, tmp_path):
    sc_path = tmp_path / "mini.toml"
    sc_path.write_text(scenario(duration="2h").to_toml())
    env = {**os.environ, "PYTHONPATH": os.getcwd()}
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(done)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        second = subprocess.run(
            [sys.executable, "-m", "twin.cli", "run", str(sc_path), "-o", str(done),
             "--no-progress", "--overwrite"],
            capture_output=True, text=True, env=env, timeout=300,
        )  # fmt: skip
        out = second.stdout + second.stderr
        assert second.returncode == 2, out
        assert f"being written by pid {holder.pid} on host" in " ".join(out.split())
        assert "Traceback" not in out
        # readers are not locked out
        assert run_summary(done)["status"] == "complete"
        assert float(read_kpis(done)["completed_trips"]) > 0
        assert open_run(done)["state/air"]["pm25"].shape[0] == 2
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the kernel released the dead holder's lock: nobody holds it, a writer may take it
    assert lock_holder(done) is None
    with WriterLock(done):
        assert lock_holder(done).startswith(f"pid {os.getpid()} on host")
    assert not lock_path(done).exists()


def test_two_writers_in_one_process_and_a_stale_lock_file(tmp_path):
    store = tmp_path / "run.zarr"
    # a lock file left by a dead process (pid 999999999) is no lock at all
    lock_path(store).write_text(json.dumps({"pid": 999999999, "host": "elsewhere"}))
    with WriterLock(store):
        with pytest.raises(InputError, match=rf"being written by pid {os.getpid()}"):
            WriterLock(store).acquire()
        for resume in (False, True):
            with pytest.raises(InputError, match="refusing to write it too"):
                run(scenario(duration="1h"), store, progress=False, resume=resume)
    assert not store.exists()  # the refused run wrote nothing


def test_running_status_without_a_writer_reads_as_interrupted(done, tmp_path):
    import shutil

    copy = tmp_path / "copy.zarr"
    shutil.copytree(done, copy)
    meta = copy / "zarr.json"
    doc = json.loads(meta.read_text())
    doc["attributes"]["status"] = "running"
    meta.write_text(json.dumps(doc))
    assert run_summary(copy)["status"].startswith("interrupted")
    with WriterLock(copy):
        assert run_summary(copy)["status"] == "running"
