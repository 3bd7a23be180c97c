#!/usr/bin/env bash
# Every GPU path of customrun, checked with one command on a machine with a CUDA GPU and no network.
#
#   bash benchmarks/cuda/check.sh             # on a GPU machine: at most 8 minutes (tests 240 s, benchmark 200 s)
#   bash benchmarks/cuda/check.sh --dry-run   # anywhere (CI): the same steps on the CPU, a few iterations
#
# Without CUDA it is a dry run whatever it is told. Steps, each announced with a timestamp:
#   1. install customrun-core and the four first-party plugins into a temporary directory, next to the
#      torch already installed (PYTHONPATH; nothing outside the temporary directory changes): built from
#      a copy of this checkout, with only the distributions this Python lacks taken from
#      benchmarks/cuda/wheels/ (fetch_wheels.sh fills it beforehand; a dry run fetches it if missing);
#   2. import everything and list the plugins, as `customrun plugins` does;
#   3. run every test marked `cuda` (tests/ and the plugins' tests; see tests/test_cuda_paths.py for
#      compile, pin_memory, the non-finite check and DDP over Gloo on one GPU);
#   4. the throughput benchmark, hand-written loop against `customrun train` (throughput.py);
#   5. write summary.json and summary.md (summary.py) to $OUT, else benchmarks/results/cuda-<time>/.
# Exit status: 0 when every test passed and the benchmark ran, 1 otherwise (goals missed are reported
# in the summary, not failures).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
python=${PYTHON:-python3}
dry_run=0
[[ "${1:-}" == "--dry-run" ]] && dry_run=1
out=${OUT:-$repo/benchmarks/results/cuda-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }
started=$(date +%s)

if ! "$python" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)" 2>/dev/null; then
    if ((dry_run == 0)); then log "torch sees no CUDA device: a dry run on the CPU"; fi
    dry_run=1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

# -- 1. install ---------------------------------------------------------------------------------------
log "1/5 install into $tmp (python: $("$python" -c 'import sys; print(sys.version.split()[0])'))"
# What this Python lacks (or has too old) of what customrun needs: taken from the wheels.
wheels=$here/wheels
if [[ ! -d "$wheels" ]]; then
    if ((dry_run == 0)); then
        log "FAIL: $wheels is missing: run benchmarks/cuda/fetch_wheels.sh where there is network, and carry it"
        exit 1
    fi
    needed=$("$python" "$here/needs.py" --build) || { log "FAIL: reading the installed versions"; exit 1; }
    read -r -a first <<<"$needed"
    wheels=$tmp/wheels
    mkdir -p "$wheels"
    if ((${#first[@]})); then
        log "    no benchmarks/cuda/wheels: fetching what this Python lacks (a GPU machine needs fetch_wheels.sh)"
        pyversion=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
        WHEELS=$wheels PYTHON=$python bash "$here/fetch_wheels.sh" "$pyversion" "${first[@]}" >/dev/null \
            || { log "FAIL: fetching wheels"; exit 1; }
    fi
fi
needed=$("$python" "$here/needs.py" --build --wheels "$wheels") || { log "FAIL: reading the installed versions"; exit 1; }
read -r -a missing <<<"$needed"
# The source tree, copied so that building writes nothing into the checkout.
mkdir -p "$tmp/src"
(cd "$repo" && tar --exclude=./.git --exclude=./.tox --exclude=./benchmarks/cuda/wheels --exclude=./benchmarks/results \
    --exclude='*.egg-info' --exclude=./build --exclude=./work_dirs -cf - .) | tar -xf - -C "$tmp/src"
site=$tmp/site
if ((${#missing[@]})); then
    log "    from $wheels: ${missing[*]}"
    "$python" -m pip install --quiet --no-index --no-deps --find-links "$wheels" --target "$site" "${missing[@]}" \
        || { log "FAIL: installing the wheels"; exit 1; }
fi
export PYTHONPATH=$site
packages=("$tmp/src" "$tmp/src/plugins/customrun-amp" "$tmp/src/plugins/customrun-lars"
          "$tmp/src/plugins/customrun-cosine" "$tmp/src/plugins/customrun-layer-decay")
"$python" -m pip install --quiet --no-index --no-deps --no-build-isolation --target "$site" "${packages[@]}" \
    || { log "FAIL: building customrun-core and the plugins"; exit 1; }

# -- 2. imports ---------------------------------------------------------------------------------------
log "2/5 imports"
(cd "$tmp" && "$python" - <<'PY') || { log "FAIL: imports"; exit 1; }
import importlib
import torch
for name in ("customrun_core", "customrun_amp", "customrun_lars", "customrun_cosine", "customrun_layer_decay"):
    module = importlib.import_module(name)
    assert module.__file__ is not None
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, device: "
      + (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"))
PY
(cd "$tmp" && "$python" -m customrun_core plugins >"$out/plugins.txt" 2>&1) \
    || { log "FAIL: customrun plugins"; cat "$out/plugins.txt" >&2; exit 1; }

# -- 3. tests -----------------------------------------------------------------------------------------
log "3/5 tests marked cuda"
(cd "$tmp/src" && timeout 240 "$python" -m pytest -q -p no:cacheprovider -p customrun_core.testing -m cuda \
    -rs --junitxml="$out/cuda-tests.xml" tests plugins/customrun-amp/tests >"$out/cuda-tests.txt" 2>&1)
status=$?
tail -n 5 "$out/cuda-tests.txt" >&2
# pytest: 0 all passed, 5 nothing collected; anything else is a failure (1), an error or the timeout.
if ((status != 0 && status != 5)); then failed=1; log "FAIL: tests (status $status, see cuda-tests.txt)"; fi

# -- 4. throughput ------------------------------------------------------------------------------------
log "4/5 throughput: hand-written loop against customrun train"
dry_flag=()
((dry_run)) && dry_flag=(--dry-run)
(cd "$tmp/src" && timeout 200 "$python" benchmarks/cuda/throughput.py "${dry_flag[@]}" --out "$out" \
    >"$out/throughput.md" 2>"$out/throughput.log")
status=$?
tail -n 3 "$out/throughput.log" >&2
if ((status != 0)); then failed=1; log "FAIL: throughput (status $status, see throughput.log)"; fi

# -- 5. summary ---------------------------------------------------------------------------------------
log "5/5 summary"
"$python" "$here/summary.py" --out "$out" --dry-run "$dry_run" --seconds "$(($(date +%s) - started))" \
    --failed "$failed" || failed=1
log "done in $(($(date +%s) - started)) s: $out/summary.md"
exit "$failed"
