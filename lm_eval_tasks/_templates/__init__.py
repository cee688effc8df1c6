"""Glue module directory of the selfimp lm-eval tasks (see harness_ext.tasks)."""
