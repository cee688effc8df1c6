#!/usr/bin/env bash
# Download into the git-ignored .whl/ the wheels the GPU tests need that the device machine lacks
# (cp312 manylinux x86_64, no dependency resolution: the list is the closure minus what the device
# has: torch, transformers, peft, accelerate, sentence-transformers (+ scikit-learn, scipy), numpy,
# huggingface-hub, fsspec, jinja2, regex, sympy, pyyaml, tqdm, psutil, requests, pytest).
# Versions are those of the project's CPU venv. One device run carries at most 64 MiB, and pyarrow
# alone is ~52 MiB, so the wheels go in two parts, each checked to be <= 64 MiB:
#   .whl/a/  pyarrow            .whl/b/  everything else
# scripts/gpu_check.sh installs the parts one device run at a time (see its header).
# Usage: bash scripts/build_wheelhouse.sh [DEST]   (default .whl)
set -euo pipefail
DEST="${1:-.whl}"
LIMIT_MIB=64
PART_A=(pyarrow==26.0.1)
PART_B=(
  trl==1.16.0 lm_eval==0.4.13 datasets==5.2.0 evaluate==0.4.6
  dill==0.4.1 multiprocess==0.70.19 xxhash==4.1.0
  pandas==3.1.1 python-dateutil==2.9.0.post0 pytz==2026.6 six==1.17.0
  pytablewriter==1.2.1 DataProperty==1.1.1 mbstrdecoder==1.1.5 pathvalidate==3.3.1
  tabledata==1.3.5 tcolorpy==0.1.7 typepy==1.3.5 chardet==6.0.0.post1
  absl-py==2.5.1 nltk==3.10.4 click==8.5.1 joblib==1.6.0 defusedxml==0.7.1
  sacrebleu==2.6.0 colorama==0.4.6 lxml==6.1.3 portalocker==4.4.2 tabulate==0.10.0
  more_itertools==11.2.1
  math-verify==0.9.0 latex2sympy2_extended==1.11.0 antlr4-python3-runtime==4.13.2
  hypothesis==6.170.15 sortedcontainers==2.4.0
)
# Published as source only: built here into pure-Python (py3-none-any) wheels.
SDIST_ONLY=(sqlitedict==2.1.0 rouge_score==0.1.2 word2number==1.1)

download() {  # download DIR PIN...
  local dir=$1; shift
  mkdir -p "$dir"
  for pin in "$@"; do
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$dir" "$pin"
  done
}

check() {  # check DIR: print its size, fail if over the limit
  local dir=$1 total
  total=$(du -cb "$dir"/*.whl | tail -1 | cut -f1)
  printf 'wheelhouse %s: %d wheels, %.1f MiB (limit %d MiB per device run)\n' "$dir" \
    "$(ls "$dir"/*.whl | wc -l)" "$(awk -v b="$total" 'BEGIN { print b / 1048576 }')" "$LIMIT_MIB"
  if (( total > LIMIT_MIB * 1048576 )); then
    echo "error: $dir is over ${LIMIT_MIB} MiB; largest wheels:" >&2
    ls -S -l "$dir"/*.whl | head -5 >&2
    exit 1
  fi
}

download "$DEST/a" "${PART_A[@]}"
download "$DEST/b" "${PART_B[@]}"
for pin in "${SDIST_ONLY[@]}"; do
  python3 -m pip wheel -q --no-deps --no-build-isolation -w "$DEST/b" "$pin"
done
if ls "$DEST"/b/*.whl | grep -v -e 'none-any\.whl$' -e 'cp312' >/dev/null; then
  echo "error: a wheel in $DEST/b is neither pure Python nor cp312" >&2
  exit 1
fi
check "$DEST/a"
check "$DEST/b"
printf 'wheelhouse total: %.1f MiB\n' "$(du -cb "$DEST"/a/*.whl "$DEST"/b/*.whl | tail -1 | cut -f1 | awk '{ print $1 / 1048576 }')"
