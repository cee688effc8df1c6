"""Print every selfimp lm-eval task's and group's resolved config (its YAML with every include merged,
as lm-eval's task index holds it) as JSON, the tasks directory written as `<tasks>`.

    python scripts/dump_task_configs.py > after.json   # and, on another commit, > before.json; then diff

A refactor of the registry, the templates or the generator should leave this output unchanged."""
from __future__ import annotations

import json
import sys

from harness_ext.lm_eval_compat import task_manager, tasks_dir


def resolved_configs() -> dict[str, dict]:
    root = str(tasks_dir())
    index = task_manager(include_defaults=False).task_index
    configs = {name: entry.cfg for name, entry in index.items()
               if entry.yaml_path is not None and str(entry.yaml_path).startswith(root)}
    return json.loads(json.dumps(configs, sort_keys=True, default=str).replace(root, "<tasks>"))


if __name__ == "__main__":
    json.dump(resolved_configs(), sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
