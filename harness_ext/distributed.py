"""The processes of one `accelerate launch`: who is main, and a barrier that outwaits sampling.

`accelerate launch --multi_gpu --num_processes N` starts N processes through torchrun. Without
CUDA they join one gloo process group only when asked for the CPU (`PartialState(cpu=True)`);
otherwise each would believe it is the only, and main, process. (`--cpu --num_processes N`
starts a single process: accelerate runs several CPU processes only through mpirun.)
The loop, the sweep and lm-eval's HF model (`lm_eval_compat.install_data_parallel`) take their
state from `process_state()`; the TRL trainers' arguments remake the state on the same group.
"""
from __future__ import annotations

from datetime import timedelta

# The non-main processes wait at a barrier while the main one samples or evaluates, which at the
# paper's scale takes hours; torch.distributed's default of 30 min would kill them. (lm-eval's HF
# model waits up to 52 weeks for the same reason.)
BARRIER_TIMEOUT = timedelta(days=7)


def process_state():
    """accelerate's state of this process (the process group is made on the first call)."""
    import torch
    from accelerate import PartialState

    return PartialState(cpu=not torch.cuda.is_available(), timeout=BARRIER_TIMEOUT)
