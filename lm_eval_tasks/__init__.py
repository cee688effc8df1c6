"""The selfimp lm-eval task family (YAML configs); pass this directory as `lm_eval --include_path`
(`selfimp-eval tasks-dir` prints it). The logic behind the YAMLs lives in harness_ext.tasks."""
