#!/usr/bin/env bash
# Sets up .venv with everything the project needs, on a fresh machine.
# torch comes first, pinned to the CPU build on disk: a plain `pip install torch`
# (or letting another package pull it) would download a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q "torch==${TORCH_VERSION:-2.13.0}"
.venv/bin/python -m pip install -q -e ".[dev]"
echo "setup.sh: .venv ready ($(.venv/bin/python -c 'import torch, ray, mlflow; print(f"torch {torch.__version__}, ray {ray.__version__}, mlflow {mlflow.__version__}")'))"
