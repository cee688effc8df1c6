#!/usr/bin/env bash
# Wall time of the README's embedded job (train 5 iterations -> sweep -> report) and each stage's share.
#   bash benchmarks/bench_e2e.sh --clone [WORKDIR]    the README's <!-- e2e-command --> block, exactly, in a
#       fresh clone of this checkout's HEAD (committed files only), install in a new venv included
#   bash benchmarks/bench_e2e.sh [--quick] [WORKDIR]  the job's three commands in this environment
#   bash benchmarks/bench_e2e.sh --print-command      print the README command that --clone runs
# WORKDIR defaults to a new temporary directory. --quick: 2 iterations on a few questions, to check the
# pipeline runs (CI); its times mean nothing. Training stages come from the run's manifest.json wall_time_s.
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
readme_command() {
  awk '/<!-- e2e-command -->/{found=1; next} found && /^```/{if (inblock) exit; inblock=1; next} inblock{print}' \
    "$REPO/README.md"
}
MODE=here
case "${1:-}" in
  --print-command) readme_command; exit 0 ;;
  --clone) MODE=clone; shift ;;
  --quick) MODE=quick; shift ;;
esac
WORK="${1:-$(mktemp -d)}"
mkdir -p "$WORK"
WORK="$(cd "$WORK" && pwd)"
PY="${PYTHON:-python3}"
export TOKENIZERS_PARALLELISM=false
export SELFIMP_EMBEDDING_CACHE="$WORK/embedding-cache"  # empty: the report encodes as on a new user's machine

echo "== bench_e2e: embedded job (train -> sweep -> report)"
echo "command: bash benchmarks/bench_e2e.sh $([[ $MODE != here ]] && echo "--$MODE") $WORK"
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)
echo "machine: $(nproc) cores ($cpu), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
: > "$WORK/times.txt"

if [[ $MODE == clone ]]; then
  cmd=$(readme_command)
  [[ -n "$cmd" ]] || { echo "error: README.md has no command block after <!-- e2e-command -->" >&2; exit 2; }
  git clone -q "$REPO" "$WORK/clone"
  git -C "$WORK/clone" checkout -q "$(git -C "$REPO" rev-parse HEAD)"
  echo "commit: $(git -C "$WORK/clone" log -1 --format='%h (%cd)' --date=short)"
  # The README block's `&&`-joined commands, one per line in one shell (the venv and exports carry on),
  # each followed by a time stamp.
  awk 'BEGIN { RS = " && " } { sub(/\n$/, ""); print }' <<< "$cmd" > "$WORK/steps.txt"
  {
    echo 'set -euo pipefail'
    echo "stamp() { date +%s.%N >> '$WORK/stamps.txt'; }"
    echo 'stamp'
    sed 's/$/\nstamp/' "$WORK/steps.txt"
  } > "$WORK/e2e.sh"
  : > "$WORK/stamps.txt"
  (cd "$WORK/clone" && env -u PYTHONPATH -u VIRTUAL_ENV bash "$WORK/e2e.sh") > "$WORK/e2e.log" 2>&1 \
    || { echo "the README command failed; see $WORK/e2e.log"; tail -20 "$WORK/e2e.log"; exit 1; }
  paste -d' ' <(sed 1d "$WORK/stamps.txt") <(sed '$d' "$WORK/stamps.txt") "$WORK/steps.txt" \
    | awk '{ t = $1 - $2; $1 = $2 = ""; sub(/^ +/, ""); printf "%s\t%.1f\n", $0, t }' >> "$WORK/times.txt"
  RUN="$WORK/clone/runs/embedded"
else
  export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1
  export SELFIMP_DATA_DIR="${SELFIMP_DATA_DIR:-$REPO/../shared/data}"
  if [[ $MODE == quick ]]; then
    TRAIN=(--iters 2 --m1_max_examples 64 --m1_epochs 1 --n_samples 2 --max_train_questions 8
           --eval_max_questions 8 --is_samples 0)
    SWEEP=(--limit 4 --n 2)
    REPORT=(--no-sbert)
  else
    TRAIN=(--iters 5)
    SWEEP=()
    REPORT=(--sbert-dtype auto)
  fi
  stage() {  # stage NAME COMMAND...: run it, remember its wall time
    local name=$1; shift
    local start; start=$(date +%s.%N)
    "$@" > "$WORK/$name.log" 2>&1 \
      || { echo "stage $name failed; see $WORK/$name.log"; tail -20 "$WORK/$name.log"; exit 1; }
    awk -v n="$name" -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { printf "%s\t%.1f\n", n, b - a }' \
      >> "$WORK/times.txt"
  }
  stage train selfimp-train --out "$WORK/run" "${TRAIN[@]}"
  stage sweep selfimp-eval sweep "$WORK/run" --out "$WORK/sweep" "${SWEEP[@]}"
  stage report selfimp-report "$WORK/sweep" --out "$WORK/report" "${REPORT[@]}"
  RUN="$WORK/run"
fi

"$PY" - "$WORK/times.txt" "$RUN/manifest.json" <<'EOF'
import json, sys
from pathlib import Path
times = [line.rsplit("\t", 1) for line in Path(sys.argv[1]).read_text().splitlines()]
total = sum(float(s) for _, s in times)
print(f"  total wall (this machine): {total:.1f} s (target <= 600 s on 2 idle cores)")
for name, s in times:
    print(f"  {name[:100]} (this machine): {float(s):.1f} s = {100 * float(s) / total:.1f}% of total")
stages: dict[str, float] = {}
manifest = Path(sys.argv[2])
for it in json.loads(manifest.read_text())["iterations"] if manifest.is_file() else []:
    for stage, s in it.get("wall_time_s", {}).items():
        stages[stage] = stages.get(stage, 0.0) + s
for stage, s in stages.items():
    print(f"  train/{stage} (this machine): {s:.1f} s = {100 * s / total:.1f}% of total")
EOF
if [[ $MODE == clone ]]; then
  echo "what selfimp-train printed:"
  grep -A12 '^model ' "$WORK/e2e.log" | sed 's/^/  /' || echo "  (no summary table in $WORK/e2e.log)"
  echo "the verdicts of report.md:"
  awk '/^## Verdict/{on=1; next} on && /^## /{exit} on' "$WORK/clone/report/report.md" 2>/dev/null | sed 's/^/  /'
fi
echo "machine at end: load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%H:%M UTC')"
echo "outputs: $WORK"
