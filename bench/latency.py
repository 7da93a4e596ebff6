"""Suggest latency: how long one proposal takes with 100 and 1,000 observations behind it.

Each searcher gets the same random history on the ``mixed`` space (a log-float, an int, a
categorical and a float; bench/analytic.py) and four pending configurations, and proposes a few
times; the table shows the median wall time per proposal. ``gp`` refits its GP from scratch on
every call (stateless, as a durable sweep needs); ``gp capped`` fits on at most 200 observations
(the best 100 and the most recent ones: ``max_observations=200``).

The last line compares hpo's TPE with Optuna's at the largest size:
``tpe_latency_vs_optuna_tpe=<hpo seconds / Optuna seconds>``.

Usage: python bench/latency.py [--sizes 100,1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from analytic import PROBLEMS


def searchers(space):
    from hpo.modelsearch import ModelBasedSearcher
    from hpo.search.factory import build_searcher

    return {
        "random": build_searcher("random", space, 0, {}, "random"),
        "tpe": build_searcher("tpe", space, 0, {}, "tpe"),
        "optuna-tpe": ModelBasedSearcher(space, "TPESampler"),
        "gp": ModelBasedSearcher(space, "GPSampler"),
        "gp capped": ModelBasedSearcher(space, "GPSampler", max_observations=200),
    }


def main() -> None:
    from hpo.search import Observation, parse_space

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", default="100,1000")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    problem = next(p for p in PROBLEMS if p.name == "mixed")
    space = parse_space(problem.space)
    rng = random.Random(0)
    history = [space.sample(rng) for _ in range(max(sizes))]
    observations = [Observation(p, problem.fn(p)) for p in history]
    pending = [space.sample(rng) for _ in range(4)]
    table: dict[str, dict[int, float]] = {}
    for name, searcher in searchers(space).items():
        for n in sizes:
            # One repeat of an uncapped GP at 1,000 points is already long enough to tell.
            repeats = 1 if name == "gp" and n > 200 else args.repeats
            times = []
            for r in range(repeats):
                start = time.perf_counter()
                searcher.suggest(random.Random(r), n, observations[:n], pending)
                times.append(time.perf_counter() - start)
            table.setdefault(name, {})[n] = statistics.median(times)
    print("median seconds per suggestion (4 pending trials, mixed space, 1 thread)")
    print(f"{'searcher':<12}" + "".join(f"{f'n={n}':>12}" for n in sizes))
    for name, row in table.items():
        print(f"{name:<12}" + "".join(f"{row[n]:>12.3f}" for n in sizes))
    largest = max(sizes)
    print(f"tpe_latency_vs_optuna_tpe={table['tpe'][largest] / table['optuna-tpe'][largest]:.3f}")


if __name__ == "__main__":
    main()
