#!/usr/bin/env bash
# One prepared GPU check for a session that is lent a device (DEVELOPERS.md, 'The GPU').
#
# Here, first (no device time):  bash bench/gpu_check.sh --fetch-wheels
# Then on the device:            run(command="bash bench/gpu_check.sh", carry=[".whl"])
# It runs the GPU test suite (NumPy vs CuPy parity), then the kernel benchmarks on the GPU,
# writing everything to $OUT/gpu_check.log; copy the numbers into bench/RESULTS.md.
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  grep -qx '/.whl/' .git/info/exclude 2>/dev/null || echo /.whl/ >> .git/info/exclude
  # what the device's Python 3.12 lacks (it has CuPy, NumPy, xarray, pytest, typer, rich)
  pkgs=(zarr numcodecs donfig crc32c typing-extensions pydantic pydantic-core annotated-types
        typing-inspection array-api-compat pyproj certifi tomli-w pyyaml)
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl "${pkgs[@]}"
  exit $?
fi

OUT="${OUT:-/tmp/gpu_check}"; mkdir -p "$OUT"
exec > >(tee "$OUT/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if [[ -d .whl ]]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl && export PYTHONPATH="$PYTHONPATH:/tmp/site"
fi
nvidia-smi --query-gpu=name,memory.total --format=csv,noheader
python3 -c "import gpu; b = gpu.select('gpu'); print('backend:', b.name, b.device)" || exit 1

echo "== GPU tests (NumPy vs CuPy parity)"
timeout 240 python3 -m pytest -q -m gpu -p no:cacheprovider --continue-on-collection-errors \
  tests/gpu tests/sim tests/verification tests/twin -o addopts="" 2>&1 | tail -30

echo "== air kernel on the GPU (fraction of device copy bandwidth)"
timeout 120 python3 bench/air.py --device gpu --sizes 2048 4096 --repeats 20
