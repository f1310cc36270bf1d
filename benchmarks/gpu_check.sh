#!/usr/bin/env bash
# The prepared GPU check (under five minutes on one data-centre GPU): the device, the GPU tests and
# the NVRTC compile checks, then bench_warp.py (direct, mass, the accumulation over 1-3 courses, with
# and without host transfers) at 256^3 and 512 x 512 x 200 on CuPy. Results go to $OUT (the device
# machine's return folder) or benchmarks/results:
#   gpu_check.json (device, steps, exit codes, seconds), gpu_tests.xml (JUnit), warp_gpu.json, gpu_check.log
#
# Usage:  benchmarks/gpu_check.sh                  # on the GPU machine
#         GPU_CHECK_BACKEND=cuda-host GPU_CHECK_SIZES=64 benchmarks/gpu_check.sh   # dry run on a CPU
# PYTHON picks the interpreter (default .venv/bin/python, else python3); it needs the package
# installed with CuPy (pip install -e '.[test,gpu]').
set -uo pipefail
cd "$(dirname "$0")/.."

OUT_DIR="${OUT:-benchmarks/results}"
mkdir -p "$OUT_DIR"
BACKEND="${GPU_CHECK_BACKEND:-cupy}"
SIZES="${GPU_CHECK_SIZES:-256 512x512x200}"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"; elif [ -x .venv/bin/python ]; then PY=.venv/bin/python; else PY=python3; fi
LOG="$OUT_DIR/gpu_check.log"
: > "$LOG"
STEPS=()

step() {  # step NAME TIMEOUT_S COMMAND...: run, log, remember exit code and seconds
    local name="$1" limit="$2"
    shift 2
    local start=$SECONDS
    echo "== $name: $*" | tee -a "$LOG"
    timeout "$limit" "$@" >> "$LOG" 2>&1
    local code=$?
    STEPS+=("{\"step\": \"$name\", \"exit\": $code, \"seconds\": $((SECONDS - start))}")
    echo "   exit $code after $((SECONDS - start)) s" | tee -a "$LOG"
}

step device 30 "$PY" -c "
import json, sys
import cupy
props = cupy.cuda.runtime.getDeviceProperties(0)
print(json.dumps({'name': props['name'].decode(), 'memory_gib': props['totalGlobalMem'] / 2**30,
                  'compute_capability': f\"{props['major']}{props['minor']}\", 'cupy': cupy.__version__,
                  'cuda_runtime': cupy.cuda.runtime.runtimeGetVersion()}))
"
command -v nvidia-smi > /dev/null && nvidia-smi >> "$LOG" 2>&1

# every test with the gpu marker (CuPy against the NumPy reference), and the NVRTC/nvcc compile checks
step tests 150 "$PY" -m pytest -q -p no:cacheprovider --junitxml "$OUT_DIR/gpu_tests.xml" \
    tests/test_kernels.py tests/warp/test_warp_backends.py tests/warp/test_warp_analytic.py \
    tests/test_accumulation.py tests/test_radiobiology.py -k "cupy or nvrtc or nvcc or launch"

# shellcheck disable=SC2086  # SIZES is a list of words
step bench 210 "$PY" benchmarks/bench_warp.py --backends "$BACKEND" --sizes $SIZES --repeat 3 \
    --output "$OUT_DIR/warp_gpu.json"

DEVICE=$(grep -m1 '^{"name"' "$LOG" || echo null)
IFS=,
printf '{"device": %s, "backend": "%s", "sizes": "%s", "steps": [%s]}\n' "$DEVICE" "$BACKEND" "$SIZES" "${STEPS[*]}" \
    > "$OUT_DIR/gpu_check.json"
cat "$OUT_DIR/gpu_check.json"
