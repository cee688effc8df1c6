#!/usr/bin/env bash
# What to run on a device machine (CUDA): install the wheelhouse of scripts/build_wheelhouse.sh,
# then the GPU tests (pytest -m gpu tests/test_gpu.py), figures as JSON to $OUT/gpu_figures.json.
#
# A device run carries at most 64 MiB and the wheelhouse is two parts (.whl/a = pyarrow, .whl/b =
# the rest), so it takes two runs on the same warm machine; the install goes to the git-ignored
# .whl/site, which stays on the machine between runs:
#   1. carry [".whl/a"], command: bash scripts/gpu_check.sh --install-only
#   2. carry [".whl/b"], command: bash scripts/gpu_check.sh
# Each run installs whatever part it finds; the tests run once every package imports.
set -uo pipefail
cd "$(dirname "$0")/.."
SITE="$PWD/.whl/site"
mkdir -p "$SITE"
for part in .whl/a .whl/b; do
  if compgen -G "$part/*.whl" > /dev/null; then
    python3 -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$SITE" "$part"/*.whl \
      || { echo "gpu_check: installing $part failed"; exit 1; }
    echo "gpu_check: installed $(ls "$part"/*.whl | wc -l) wheels from $part into $SITE"
  fi
done
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 TOKENIZERS_PARALLELISM=false
[[ "${1:-}" == "--install-only" ]] && exit 0

python3 - <<'PY' || { echo "gpu_check: missing packages: carry the other wheelhouse part first"; exit 1; }
import importlib
for name in ("torch", "transformers", "peft", "trl", "datasets", "lm_eval", "math_verify", "pyarrow"):
    importlib.import_module(name)
import torch
print(f"gpu_check: torch {torch.__version__}, CUDA {torch.cuda.is_available()}, "
      f"{torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no GPU'}")
PY

export SELFIMP_GPU_FIGURES="${OUT:-/tmp}/gpu_figures.json"
python3 -m pytest -m gpu tests/test_gpu.py -q -p no:cacheprovider -o addopts="" 2>&1 | tee "${OUT:-/tmp}/gpu_pytest.log"
rc=${PIPESTATUS[0]}
if [[ -f "$SELFIMP_GPU_FIGURES" ]]; then
  python3 - "$SELFIMP_GPU_FIGURES" <<'PY'
import json, sys
f = json.load(open(sys.argv[1]))
s = f.get("sampler", {})
print(f"gpu_check summary: {f['device']}: sampler/raw {s.get('sampler_over_raw')}, "
      f"{s.get('samples_per_s')} samples/s; "
      + "; ".join(f"{m}: SFT {t['sft_tokens_per_s']} tok/s, DPO {t['dpo_tokens_per_s']} tok/s"
                  for m, t in ((k[6:], v) for k, v in f.items() if k.startswith("train_")))
      + f"; peak GiB {f.get('peak_gpu_memory_gib')}")
PY
fi
echo "gpu_check: pytest exit code $rc"
exit "$rc"
