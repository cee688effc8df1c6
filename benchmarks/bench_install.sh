#!/usr/bin/env bash
# The README's install step, each way in a new venv, in turn: pip alone (`pip install torch -e .`)
# vs pip for torch + uv for the rest (the README's commands), then the job's imports in a new
# process of each venv (bytecode compiled at install both ways). Package caches stay as they are.
#   bash benchmarks/bench_install.sh
set -euo pipefail
cd "$(dirname "$0")/.."
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
TORCH=torch==2.13.0

seconds() {  # seconds COMMAND...: run it quietly, print its wall time
  local start; start=$(date +%s.%N)
  "$@" > "$TMP/last.log" 2>&1 || { echo "failed: $*"; tail -20 "$TMP/last.log"; exit 1; }
  awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }'
}
pip_only() { python3 -m venv "$TMP/pip" && "$TMP/pip/bin/pip" install -q "$TORCH" -e .; }
pip_uv() {
  python3 -m venv "$TMP/uv" && "$TMP/uv/bin/pip" install -q "$TORCH" 'uv>=0.13,<0.14' \
    && VIRTUAL_ENV="$TMP/uv" "$TMP/uv/bin/uv" pip install -q --compile-bytecode -e .
}
imports() { "$1/bin/python" -c "import torch, transformers, trl, peft, datasets, lm_eval, sentence_transformers, selfimp_train.cli, harness_ext.cli"; }

echo "== bench_install: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
a=$(seconds pip_only); echo "pip install $TORCH -e . : ${a} s"
b=$(seconds pip_uv); echo "pip install $TORCH uv && uv pip install --compile-bytecode -e . : ${b} s"
ia=$(seconds imports "$TMP/pip"); ib=$(seconds imports "$TMP/uv")
echo "the job's imports, new process: pip venv ${ia} s, uv venv ${ib} s"
norm() { tr 'A-Z_' 'a-z-' | grep -v -E '^(uv|pip|setuptools|selfimp)[=@ ]' | sort; }
freeze() { "$TMP/uv/bin/uv" pip freeze -q --python "$1/bin/python" | norm; }
if diff <(freeze "$TMP/pip") <(freeze "$TMP/uv") > "$TMP/diff.txt"; then
  echo "installed versions: identical"
else
  echo "installed versions differ:"; cat "$TMP/diff.txt"
fi
awk -v a="$a" -v b="$b" 'BEGIN { printf "install ratio pip / pip+uv: %.2fx\n", a / b }'
echo "load at end $(cut -d' ' -f1-3 /proc/loadavg)"
