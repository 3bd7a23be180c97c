#!/usr/bin/env bash
# Fetch, on a machine with network, the wheels that benchmarks/cuda/check.sh installs on a GPU machine
# without network: what customrun needs beyond what such a machine has (torch, pluggy, attrs, click,
# rich, pytest, packaging, tensorboard, matplotlib, torchmetrics). They go to benchmarks/cuda/wheels/,
# which git ignores; the device tool carries it with `carry = ["benchmarks/cuda/wheels"]` (about 45 MB).
#
#   benchmarks/cuda/fetch_wheels.sh [PYTHON_VERSION [REQUIREMENT ...]]   # default: 3.12, the whole list
#
# WHEELS names another folder (check.sh's dry run fetches only what its Python lacks into a temporary one).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
version=${1:-3.12}
shift || true
abi="cp${version/./}"
dest=${WHEELS:-$here/wheels}
mkdir -p "$dest"
requirements=("$@")
if ((${#requirements[@]} == 0)); then
    requirements=("importlib-metadata>=7" "tomli-w>=1.0" "pluggy>=1.7" "setuptools>=77"
                  "scikit-learn>=1.3" scipy joblib threadpoolctl)
fi
# Each with what it needs (importlib-metadata: zipp, lazy-importer; scikit-learn: scipy, joblib, ...),
# except numpy, which the GPU machines have (matplotlib needs it): its 16 MB would take the folder past
# what the device tool carries (64 MiB). needs.py says so if the machine's numpy is too old.
download() {
    "${PYTHON:-python3}" -m pip download --quiet --dest "$dest" --only-binary=:all: \
        --python-version "$version" --implementation cp --abi "$abi" \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 \
        --platform any "$@"
}
download "${requirements[@]}"
rm -f "$dest"/numpy-*.whl
ls -1 "$dest"
