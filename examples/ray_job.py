"""A sweep as a Ray job: what ``ray job submit`` runs on a cluster.

On a cluster started with ``ray start --head`` (with its dashboard, which receives jobs;
extra ``ray`` installs ``ray[default]``), from any machine that reaches it::

    ray job submit --address http://HEAD:8265 --working-dir . -- \\
        python examples/ray_job.py --output /shared/sweep.zarr --seeds 8

Ray runs this script as the job's driver with ``RAY_ADDRESS`` set to the cluster, so
:func:`twin.run_ensemble` joins it (no ``address=`` needed); the store's path must be
one every node sees (a shared file system). ``ray job logs`` shows what it prints: the
members' status and the mean of each KPI. ``tests/twin/test_ray_job.py`` submits it to a
local head.
"""

from __future__ import annotations

import argparse

from twin.distributed import run_ensemble
from twin.testing import scenario


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", "-o", required=True, help="ensemble store to write")
    parser.add_argument("--seeds", type=int, default=8, help="weather seeds 0..N-1")
    parser.add_argument("--hours", type=float, default=1.0, help="simulated hours")
    args = parser.parse_args()
    sc = scenario(hours=args.hours, step="120s")  # the test city: about a second a member
    table = run_ensemble(sc, {"weather.seed": range(args.seeds)}, args.output)
    print("status:", " ".join(str(s) for s in table["status"].values))
    for name in ("total_delay", "pm25_exposure"):
        print(f"{name}: mean {float(table[name].mean()):.4g} {table[name].attrs.get('units', '')}")


if __name__ == "__main__":
    main()
