#!/usr/bin/env bash
# Wall time of the README's embedded job: train 5 iterations -> sweep -> report, with the share of
# each stage (training-loop stages from the run's manifest.json wall_time_s).
#   bash benchmarks/bench_e2e.sh [--quick] [WORKDIR]     (default WORKDIR: a new temporary dir)
# --quick: 2 iterations on a few questions, to check the pipeline runs (CI); its times mean nothing.
set -euo pipefail
QUICK=0
if [[ "${1:-}" == "--quick" ]]; then QUICK=1; shift; fi
WORK="${1:-$(mktemp -d /tmp/selfimp-e2e.XXXXXX)}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
REPO="$(cd "$(dirname "$0")/.." && pwd)"
export SELFIMP_DATA_DIR="${SELFIMP_DATA_DIR:-$REPO/../shared/data}"
PY="${PYTHON:-python}"
mkdir -p "$WORK"

if [[ $QUICK == 1 ]]; then
  TRAIN=(--iters 2 --m1_max_examples 64 --m1_epochs 1 --n_samples 2 --max_train_questions 8
         --eval_max_questions 8 --is_samples 0)
  SWEEP=(--limit 4 --n 2)
  REPORT=(--no-sbert)
else
  TRAIN=(--iters 5)
  SWEEP=()
  REPORT=(--sbert-dtype auto)
fi

echo "== bench_e2e: embedded job (train -> sweep -> report)"
echo "command: bash benchmarks/bench_e2e.sh $([[ $QUICK == 1 ]] && echo --quick) $WORK"
echo "machine: $(nproc) cores, $("$PY" -c 'import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU")'), load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"

stage() {  # stage NAME COMMAND...: run it, print and remember its wall time
  local name=$1; shift
  local start end
  start=$(date +%s.%N)
  "$@" > "$WORK/$name.log" 2>&1 || { echo "stage $name failed; see $WORK/$name.log"; tail -20 "$WORK/$name.log"; exit 1; }
  end=$(date +%s.%N)
  awk -v n="$name" -v a="$start" -v b="$end" 'BEGIN { printf "%s %.1f\n", n, b - a }' >> "$WORK/times.txt"
}
: > "$WORK/times.txt"
stage train selfimp-train --out "$WORK/run" "${TRAIN[@]}"
stage sweep selfimp-eval sweep "$WORK/run" --out "$WORK/sweep" "${SWEEP[@]}"
stage report selfimp-report "$WORK/sweep" --out "$WORK/report" "${REPORT[@]}"

"$PY" - "$WORK" <<'EOF'
import json, sys
from pathlib import Path
work = Path(sys.argv[1])
times = {name: float(s) for name, s in (line.split() for line in (work / "times.txt").read_text().splitlines())}
total = sum(times.values())
print(f"  total wall (this machine): {total:.1f} s (target <= 600 s on 2 idle cores)")
for name, s in times.items():
    print(f"  {name} (this machine): {s:.1f} s = {100 * s / total:.1f}% of total")
manifest = json.loads((work / "run" / "manifest.json").read_text())
stages: dict[str, float] = {}
for it in manifest["iterations"]:
    for stage, s in it.get("wall_time_s", {}).items():
        stages[stage] = stages.get(stage, 0.0) + s
for stage, s in stages.items():
    print(f"  train/{stage} (this machine): {s:.1f} s = {100 * s / total:.1f}% of total")
print(f"  train/other (start-up, data, manifest) (this machine): {times['train'] - sum(stages.values()):.1f} s")
EOF
echo "machine at end: load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%H:%M UTC')"
echo "outputs: $WORK"
