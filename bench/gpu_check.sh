#!/usr/bin/env bash
# The one prepared GPU check (issue 16): device, GPU tests, copy bandwidth, benchmarks, table.
#
# Here, first (no device time):  bash bench/gpu_check.sh --fetch-wheels
#   downloads into .whl/ the wheels a machine with CuPy, NumPy, xarray, pytest, typer,
#   rich, PyYAML, certifi and packaging (the nvidia-h200 image, Python 3.12) lacks:
#   zarr numcodecs donfig google-crc32c pydantic pydantic-core annotated-types
#   typing-inspection typing-extensions array-api-compat pyproj tomli-w (about 15-22 MB;
#   .gitignore keeps .whl/ out of git, so it travels only when `carry` names it).
# Then on the device:            run(command="bash bench/gpu_check.sh", carry=[".whl"])
#   installs them from .whl/ (no network), prints the device, runs `pytest -m gpu`
#   (NumPy/CuPy parity, the fused air and CTM kernels among them), then
#   bench/gpu_check.py: copy bandwidth, the air benchmark at 4096^2 and 8192^2 against
#   NumPy in the same run, air memory, launches per coupling step, and the hooks
#   (traffic with the fused CTM kernel and the array code, energy, coupled days). One table to stdout and $OUT/gpu_check_table.txt,
#   the whole log to $OUT/gpu_check.log. Under 8 minutes (timeouts below: 240 s + 200 s).
# Without a usable NVIDIA GPU it says so and exits 3, having measured nothing.
# Environment: PYTHON (default python3), WHEELS (default .whl), OUT, GPU_CHECK_ARGS
# (extra arguments for bench/gpu_check.py, e.g. --coupled or --quick).
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
WHEELS="${WHEELS:-.whl}"
PKGS=(zarr numcodecs donfig google-crc32c pydantic pydantic-core annotated-types
      typing-inspection typing-extensions array-api-compat pyproj tomli-w)

if [[ "${1:-}" == "--fetch-wheels" ]]; then
  rm -rf "$WHEELS"  # one version of each, or the install stops
  "$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
    --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$WHEELS" "${PKGS[@]}"
  status=$?
  ls "$WHEELS"
  exit $status
fi

no_gpu() {
  echo "gpu_check: no usable NVIDIA GPU here ($1)."
  echo "gpu_check: nothing was measured; run this on a machine with an NVIDIA GPU and CuPy."
  exit 3
}
command -v nvidia-smi > /dev/null 2>&1 || no_gpu "nvidia-smi is not on the PATH"
gpu_line=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1) \
  || no_gpu "nvidia-smi: $gpu_line"

OUT="${OUT:-/tmp/gpu_check}"; mkdir -p "$OUT"; export OUT
exec > >(tee "$OUT/gpu_check.log") 2>&1
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
if compgen -G "$WHEELS/*.whl" > /dev/null; then
  site=/tmp/twin-site
  "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target "$site" "$WHEELS"/*.whl && export PYTHONPATH="$PYTHONPATH:$site"
fi
echo "== device: $gpu_line ($(date -u +%Y-%m-%dT%H:%MZ))"
reason=$("$PYTHON" -c "import gpu; b = gpu.select('gpu'); print(b.device)" 2>&1) \
  || no_gpu "$(echo "$reason" | tail -1)"
echo "backend: cupy on $reason"

echo "== GPU tests (NumPy vs CuPy parity, kernels, graphs, transfers, the coupled run)"
timeout 240 "$PYTHON" -m pytest -q -m gpu -p no:cacheprovider --continue-on-collection-errors \
  -o addopts="" tests 2>&1 | tail -30

echo "== benchmarks"
# shellcheck disable=SC2086
timeout 200 "$PYTHON" bench/gpu_check.py ${GPU_CHECK_ARGS:-}
echo "gpu_check: done; the table is in $OUT/gpu_check_table.txt"
