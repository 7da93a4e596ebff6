"""Ablations of hpo's TPE options against a cached Optuna TPE baseline (development aid).

    python bench/tpe_ablation.py '{"n_ei_candidates": 64}' '{"gamma": 0.15}' ...

Prints, per option set, the median regret ratio per function and the geometric mean. The
Optuna baseline is computed once per (seeds, trials) and cached in the temp directory.
"""

from __future__ import annotations

import json
import math
import os
import statistics
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from analytic import PROBLEMS
from search_quality import run_one


def medians(method: str, seeds: int, trials: int, options: str, workers: int) -> dict[str, float]:
    tasks = [(p.name, method, s, trials, options) for p in PROBLEMS for s in range(seeds)]
    out: dict[str, list[float]] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for name, _m, _s, regret, _t in pool.map(run_one, tasks, chunksize=4):
            out.setdefault(name, []).append(regret)
    return {k: statistics.median(v) for k, v in out.items()}


def main() -> None:
    seeds = int(os.environ.get("SEEDS", "20"))
    trials = int(os.environ.get("TRIALS", "100"))
    workers = int(os.environ.get("WORKERS", "2"))
    cache = os.path.join(tempfile.gettempdir(), f"hpo_bench_optuna_tpe_{seeds}x{trials}.json")
    if os.path.exists(cache):
        with open(cache) as f:
            base = json.load(f)
    else:
        base = medians("optuna_tpe", seeds, trials, "{}", workers)
        os.makedirs(os.path.dirname(cache), exist_ok=True)
        with open(cache, "w") as f:
            json.dump(base, f)
    print("optuna " + " ".join(f"{k}={v:.2e}" for k, v in base.items()), flush=True)
    for options in sys.argv[1:] or ["{}"]:
        med = medians("hpo_tpe", seeds, trials, options, workers)
        ratios = {k: max(med[k], 1e-12) / max(base[k], 1e-12) for k in base}
        geo = math.exp(sum(math.log(r) for r in ratios.values()) / len(ratios))
        print(f"{geo:.3f} {options} " + " ".join(f"{k[:6]}={r:.2f}" for k, r in ratios.items()), flush=True)


if __name__ == "__main__":
    main()
