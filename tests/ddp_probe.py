"""`selfimp-train` under `accelerate launch`, watched: each process appends what it does to
`$SELFIMP_PROBE_DIR/rank<RANK>.jsonl` (file renames into place, model saves, generate calls,
trainer runs, each with its wall-clock time), then runs the CLI with the given arguments."""
from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def _recorder():
    log = Path(os.environ["SELFIMP_PROBE_DIR"]) / f"rank{os.environ.get('RANK', '0')}.jsonl"

    def record(event: str, **fields) -> None:
        with open(log, "a", encoding="utf-8") as f:
            f.write(json.dumps({"event": event, "time": time.time(), **fields}) + "\n")

    return record


def _watch(record) -> None:
    from transformers import PreTrainedModel, Trainer

    from selfimp_train.samplers import HFSampler

    def wrap(owner, name, describe):
        original = getattr(owner, name)

        def watched(*args, **kwargs):
            record(name, **describe(*args, **kwargs))
            result = original(*args, **kwargs)
            record(f"{name}_done")
            return result

        setattr(owner, name, watched)

    wrap(os, "replace", lambda src, dst, *a, **k: {"path": str(dst)})
    wrap(Path, "rename", lambda self, target: {"path": str(target)})
    wrap(PreTrainedModel, "save_pretrained", lambda self, path, *a, **k: {"path": str(path)})
    wrap(HFSampler, "generate", lambda self, prompts, n, temperature, *a, **k: {"n": n, "temperature": temperature,
                                                                                  "prompts": len(prompts)})
    wrap(Trainer, "train", lambda self, *a, **k: {"world_size": self.args.world_size})


if __name__ == "__main__":
    _watch(_recorder())
    from selfimp_train.cli import main

    sys.exit(main(sys.argv[1:]))
