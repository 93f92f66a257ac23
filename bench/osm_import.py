"""`twin city import-osm` on a synthetic city-sized extract: time, peak memory, fallbacks.

No real extract can be downloaded on the development machine, so this writes one with
pyosmium (``tests/twin/osm_city.py:write_grid_city``): a grid city of ``blocks`` x
``blocks`` blocks, each with ``per-block`` buildings and a land-use polygon, a
multipolygon office every tenth block, corners moved by up to ``--jitter-m`` (so that
coordinates do not compress better than surveyed ones), and nonsense tags (``lanes=abc
maxspeed=fast``, ``height=-5 building:levels=1e9``) on every ``--nonsense``-th street and
building.

Each step runs in its own process under ``/usr/bin/time -v`` (peak resident memory):

* baseline: pyosmium reading the file once in C++ with the same node-location index and
  no Python handler (the floor for any importer of this file);
* the import (two streaming passes, the second with multipolygon assembly), saved to Zarr.

Run: ``python bench/osm_import.py [--blocks 300 --per-block 10 --block-m 150]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for the extract writer shared with the tests

from tests.twin.osm_city import write_grid_city  # noqa: E402

RAW_READ = """
import sys, osmium
from osmium.io import Reader
index = osmium.index.create_map("flex_mem")
with Reader(sys.argv[1]) as reader:
    osmium.apply(reader, osmium.NodeLocationsForWays(index))
"""


def timed(cmd: list[str]) -> tuple[float, float, str]:
    """Wall time [s], peak RSS [MiB] and output of ``cmd`` in a child process."""
    t0 = time.perf_counter()
    wrapped = ["/usr/bin/time", "-v", *cmd] if Path("/usr/bin/time").exists() else cmd
    done = subprocess.run(wrapped, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode:
        sys.exit(f"{' '.join(cmd)} failed:\n{done.stdout}\n{done.stderr}")
    match = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    return wall, int(match[1]) / 1024 if match else float("nan"), done.stdout


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--blocks", type=int, default=300)
    p.add_argument("--per-block", type=int, default=10)
    p.add_argument("--block-m", type=float, default=150.0)
    p.add_argument("--resolution", type=float, default=50.0)
    p.add_argument("--nonsense", type=int, default=50)
    p.add_argument("--jitter-m", type=float, default=2.0, help="corner noise [m]")
    p.add_argument("--population", type=float, default=1_500_000)
    p.add_argument("--dir", type=Path, default=None, help="where to write (default: a temp dir)")
    args = p.parse_args()
    folder = args.dir or Path(tempfile.mkdtemp(prefix="osm-bench-"))
    folder.mkdir(parents=True, exist_ok=True)
    extract, store = folder / "synthetic.osm.pbf", folder / "synthetic.zarr"
    if store.exists():
        shutil.rmtree(store)

    params = {k: getattr(args, k) for k in ("blocks", "per_block", "block_m", "nonsense")}
    params["jitter_m"] = args.jitter_m
    counts = folder / "synthetic.json"  # what was written, to reuse the extract next time
    t0 = time.perf_counter()
    if counts.exists() and json.loads(counts.read_text())["params"] == params:
        wrote = json.loads(counts.read_text())["wrote"]
        print(f"reusing {extract}")
    else:
        wrote = write_grid_city(
            extract,
            args.blocks,
            args.block_m,
            args.per_block,
            nonsense_every=args.nonsense,
            jitter_m=args.jitter_m,
        )
        counts.write_text(json.dumps({"params": params, "wrote": wrote}))
    write_s = time.perf_counter() - t0
    size_mib = extract.stat().st_size / 2**20
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(
        f"extract: {wrote['nodes']:,} nodes, {wrote['ways']:,} ways, {wrote['relations']:,} "
        f"relations ({wrote['buildings']:,} buildings), {size_mib:.1f} MiB PBF, "
        f"written in {write_s:.1f} s"
    )
    raw_s, raw_mib, _ = timed([sys.executable, "-c", RAW_READ, str(extract)])
    cmd = [sys.executable, "-m", "twin.cli", "city", "import-osm", str(extract)]
    cmd += ["-o", str(store), "--resolution", f"{args.resolution:g}"]
    cmd += ["--population", f"{args.population:g}"]
    imp_s, imp_mib, _ = timed(cmd)

    print("\n| step | wall s | peak RSS MiB |\n|---|---:|---:|")
    print(f"| baseline: one C++ read with node locations | {raw_s:.1f} | {raw_mib:.0f} |")
    print(f"| twin city import-osm (incl. saving the store) | {imp_s:.1f} | {imp_mib:.0f} |")
    print(f"\nimport / baseline: {imp_s / raw_s:.1f}x the time, {imp_mib / raw_mib:.1f}x memory")

    import twin

    city = twin.open_city(store)
    s = city.summary()
    print(
        f"city: {s['grid']}, {s['buildings']:,} buildings, {s['nodes']:,} nodes "
        f"({s['signalized_nodes']:,} signalized), {s['links']:,} links"
    )
    report = city.tree.attrs["import_report"]
    print("fallbacks (count: what):")
    for what, n in sorted(report["fixes"].items()):
        print(f"  {n:>9,}: {what}")
    print(
        f"injected: {wrote['bad_roads']:,} streets with lanes=abc maxspeed=fast, "
        f"{wrote['bad_buildings']:,} buildings with height=-5 building:levels=1e9"
    )
    print(json.dumps({"stats": report["stats"]}))


if __name__ == "__main__":
    main()
