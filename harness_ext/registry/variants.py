"""The lm-eval task variants every dataset gets (`selfimp_<dataset>_<suffix>`), and the sampling setting."""
from __future__ import annotations

from harness_ext.registry.spec import Variant

PASS1 = Variant("pass1", "greedy", "pass1.yaml", sampled=False, what="greedy pass@1")
PASSN = Variant("passn", "sampled", "passn.yaml", sampled=True,
                what="pass@k (k = 1..64) and avg@n over n sampled answers")
DIVERSITY = Variant("diversity", "diversity", "diversity.yaml", sampled=True,
                    what="diversity of correct / incorrect samples (n = 50)")
IMPROVE = Variant("improve", "improve", "improve.yaml", sampled=True,
                  what="pass@k of the evaluated model on the improvement set IS(candidate vs reference)")
GROUPS = Variant("groups", "groups", "groups_{name}.yaml", sampled=False,
                 what="greedy pass@1 per difficulty level and group disparity")
VARIANTS = (PASS1, PASSN, DIVERSITY, IMPROVE, GROUPS)  # GROUPS: datasets with declared levels only

GREEDY = {"do_sample": False, "temperature": 0.0}
SAMPLING = {"do_sample": True, "temperature": 0.75, "top_p": 0.95, "top_k": 0}  # the paper's T and top-p
