#!/usr/bin/env bash
# Tangent's own environment for benchmarks/bench_peers.py (make bench runs this).
#
# Tangent 0.1.9 (2017, the last release) declares tf-nightly, enum34 (which breaks the standard
# enum module on Python 3), nose and future as requirements; it uses none of them except through
# TensorFlow gradients we do not run, so it is installed without its declared requirements and
# with the ones it imports: gast 0.3.3 (Tangent was written for gast 0.2, whose trees Python
# 3.9+ no longer has; benchmarks/peers/tangent_shim.py adapts 0.3.3's trees to Tangent), astor,
# six, autograd and NumPy. The venv lives inside .venv/ (ignored by git, removed by make clean).
#
#   bash tools/tangent_env.sh        # PYTHON=python3.11 and TANGENT_VENV=... to override
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${TANGENT_VENV:-.venv/tangent}

[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install --quiet --no-deps "tangent==0.1.9" "gast==0.3.3"
"$VENV/bin/python" -m pip install --quiet "astor>=0.8" "six" "autograd>=1.2" "numpy>=1.24"
# Tangent must import through the shim and differentiate W1 correctly, or it is not installed.
"$VENV/bin/python" - <<'EOF'
import math, sys
sys.path.insert(0, "benchmarks")
from peers import tangent_shim  # noqa: F401
import numpy as np
import tangent
from peers.workloads import load_module

f = load_module("from numpy import log, sin\n\n\ndef f(x1, x2):\n"
                "    return log(x1) + x1 * x2 - sin(x2)\n", "tangent_env_check").f
got = tangent.grad(f, wrt=(0, 1))(2.0, 5.0)
want = (1 / 2 + 5, 2 - math.cos(5))
assert np.allclose(got, want, rtol=1e-12), (got, want)
print(f"tangent {tangent.__file__}: W1 gradient {tuple(map(float, got))} checks")
EOF
touch "$VENV/.installed"
