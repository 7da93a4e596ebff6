"""Multi-fidelity: how much training do ASHA, Hyperband and BOHB need to match random search?

The task is a multi-fidelity Hartmann-6 in the spirit of Kandasamy et al. (2017): at
fidelity z = steps / 81 the value is Hartmann-6 with its basin depths shifted by
0.2 (1 - z) (the global basin looks shallower and a local one deeper, so low fidelities are
*biased*), plus a learning-curve offset 0.5 (1 - z) and Gaussian noise 0.15 (1 - z) that is
fixed per (configuration, fidelity). At full fidelity (81 steps) it is exactly Hartmann-6.

Per seed, random search trains N = 100 configurations to full fidelity: its best value is
the target T and its cost, C = 100 x 81 steps, the reference. Every other method runs (one
worker, like Optuna's sequential loop) until a full-fidelity result reaches T or it has spent
half of C. Reported per method, median over seeds:

- fraction: steps spent until a full-fidelity result <= T, divided by C ("-" if not reached);
- vs 1st hit: the same steps divided by what random search spent until it first saw T
  ((index of its best configuration) x 81), per seed: a stricter yardstick;
- regret@15%: regret of the best full-fidelity result after spending 15 % of C, the budget
  at which the issue asks ASHA to have matched random search.

hpo_asha_gp and hpo_bohb_gp are ASHA and Hyperband whose new configurations come from hpo's GP
searcher fitted on the highest rung with at least its startup count (10) of results, in the spirit
of BOHB (which does the same with TPE: hpo_bohb) and MOBSTER; the proposals are computed exactly as
a sweep's suggest activity computes them.

Optuna's pruners run with Optuna's RandomSampler, the same search ASHA and Hyperband use, and
report at the same rungs (1, 3, 9, 27, 81 steps), so only the early-stopping rule differs.
The last line is ``asha_compute_fraction_vs_random=<median fraction for hpo's ASHA>``.

Usage: python bench/multifidelity.py [--seeds 20] [--workers 2]
"""

from __future__ import annotations

import argparse
import math
import os
import random
import statistics
import sys
import time
import zlib
from concurrent.futures import ProcessPoolExecutor
from typing import Any

# One BLAS/OpenMP thread per worker process (OpenBLAS reads this too): with more, the GP's idle
# threads spin-wait for the cores the other worker holds, and that spinning counts as its CPU.
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from analytic import HARTMANN_ALPHA, hartmann6

MAX_FIDELITY = 81
RUNGS = (1, 3, 9, 27, 81)
N_RANDOM = 100
FULL = N_RANDOM * MAX_FIDELITY
BUDGET = 0.15  # fraction of FULL at which regret is compared
CAP = 0.5  # fraction of FULL after which a method gives up
OPTIMUM = -3.32236801141551
SPACE = {f"x{i}": {"type": "float", "low": 0.0, "high": 1.0} for i in range(1, 7)}
BIAS = (1.0, -1.0, -1.0, 1.0)

METHODS = (
    "hpo_asha",
    "hpo_asha_8_workers",
    "hpo_hyperband",
    "hpo_bohb",
    "hpo_asha_gp",
    "hpo_bohb_gp",
    "optuna_sha_pruner",
    "optuna_hyperband_pruner",
)


def mf_hartmann6(params: dict[str, Any], fidelity: int) -> float:
    z = fidelity / MAX_FIDELITY
    alpha = [a + 0.2 * (1 - z) * b for a, b in zip(HARTMANN_ALPHA, BIAS, strict=True)]
    value = hartmann6(params, alpha)
    if z >= 1:
        return value
    # Noise fixed per (configuration, fidelity): every method sees the same draws; crc32, not hash().
    key = ",".join(repr(params[k]) for k in sorted(params)) + f"@{fidelity}"
    noise = random.Random(zlib.crc32(key.encode())).gauss(0.0, 1.0)
    return value + 0.5 * (1 - z) + 0.15 * (1 - z) * noise


def random_reference(seed: int) -> tuple[float, int]:
    """Best full-fidelity value of N random configurations, and how many it took to first see it."""
    from hpo.search import create

    study = create("random", SPACE, seed=10_000 + seed, num_trials=N_RANDOM)
    values = []
    while (s := study.ask()) is not None:
        values.append(mf_hartmann6(s.params, MAX_FIDELITY))
        study.tell(s.trial_id, values[-1])
    best = min(values)
    return best, values.index(best) + 1


class Tracker:
    """Turns a stream of (compute, full-fidelity value) into the two numbers we report."""

    def __init__(self, target: float) -> None:
        self.target = target
        self.best = math.inf
        self.best_at_budget = math.inf
        self.reached_at: float | None = None

    def record(self, compute: float, value: float | None) -> None:
        if value is not None:
            if compute <= BUDGET * FULL:
                self.best_at_budget = min(self.best_at_budget, value)
            self.best = min(self.best, value)
            if self.reached_at is None and value <= self.target + 1e-12:
                self.reached_at = compute

    def done(self, compute: float) -> bool:
        return compute >= CAP * FULL or (self.reached_at is not None and compute >= BUDGET * FULL)


def run_hpo(method: str, seed: int, tracker: Tracker) -> int:
    from hpo.search import build_scheduler
    from hpo.study.simulate import Simulation, simulate

    algorithm = {"hpo_asha": "asha", "hpo_asha_8_workers": "asha", "hpo_hyperband": "hyperband"}.get(
        method, method.removeprefix("hpo_").removesuffix("_gp")
    )
    # *_gp: new configurations from the GP fitted on the highest rung with enough results.
    options = {"searcher": "gp"} if method.endswith("_gp") else {}
    sched = build_scheduler(
        algorithm,
        SPACE,
        mode="min",
        seed=seed,
        num_trials=1_000_000,  # effectively unbounded: the budget stops the run
        max_concurrent=8 if method.endswith("8_workers") else 1,
        max_fidelity=MAX_FIDELITY,
        min_fidelity=1,
        eta=3,
        **options,
    )
    seen = 0

    def stop(sim: Simulation) -> bool:
        nonlocal seen
        for compute, _tid, _rung, value in sim.trace[seen:]:
            tracker.record(compute, value if _rung == len(RUNGS) - 1 else None)
        seen = len(sim.trace)
        now = sim.trace[-1][0] if sim.trace else 0.0
        return tracker.done(now)

    sim = simulate(
        sched,
        lambda tid, params, rung, fidelity: mf_hartmann6(params, fidelity or MAX_FIDELITY),
        stop_when=stop,
    )
    return len(sim.state.trials) if sim.state is not None else 0


def run_optuna(method: str, seed: int, tracker: Tracker) -> int:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if method == "optuna_sha_pruner":
        pruner: optuna.pruners.BasePruner = optuna.pruners.SuccessiveHalvingPruner(
            min_resource=1, reduction_factor=3, min_early_stopping_rate=0
        )
    else:
        pruner = optuna.pruners.HyperbandPruner(min_resource=1, max_resource=MAX_FIDELITY, reduction_factor=3)
    # A fixed study name: HyperbandPruner assigns brackets by crc32 of name and trial number.
    study = optuna.create_study(
        study_name=f"mf-{seed}",
        direction="minimize",
        sampler=optuna.samplers.RandomSampler(seed=seed),
        pruner=pruner,
    )
    compute = 0.0
    trials = 0
    while not tracker.done(compute):
        trial = study.ask()
        trials += 1
        params = {name: trial.suggest_float(name, 0.0, 1.0) for name in SPACE}
        reached = 0
        for step in RUNGS:
            compute += step - reached
            reached = step
            value = mf_hartmann6(params, step)
            trial.report(value, step)
            if step < MAX_FIDELITY and trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, value)
            tracker.record(compute, value)
    return trials


def run_one(task: tuple[str, int]) -> tuple[str, float | None, float | None, float, int, float]:
    method, seed = task
    target, first_hit = random_reference(seed)
    tracker = Tracker(target)
    start = time.process_time()
    runner = run_optuna if method.startswith("optuna") else run_hpo
    trials = runner(method, seed, tracker)
    cpu = time.process_time() - start
    reached = tracker.reached_at
    fraction = None if reached is None else reached / FULL
    vs_first_hit = None if reached is None else reached / (first_hit * MAX_FIDELITY)
    return method, fraction, vs_first_hit, tracker.best_at_budget - OPTIMUM, trials, cpu


def median(values: list[float | None]) -> float:
    # A run that never reached the target counts as infinitely expensive: an honest median.
    return statistics.median(v if v is not None else math.inf for v in values)


def fmt(x: float) -> str:
    return f"{x:.3f}" if math.isfinite(x) else "-"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--methods", default=",".join(METHODS))
    args = ap.parse_args()
    methods = args.methods.split(",")
    wall = time.perf_counter()
    refs = [random_reference(s) for s in range(args.seeds)]
    rows: dict[str, list[tuple[float | None, float | None, float, int, float]]] = {m: [] for m in methods}
    tasks = [(m, s) for m in methods for s in range(args.seeds)]
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for method, *row in pool.map(run_one, tasks):
            rows[method].append(tuple(row))  # type: ignore[arg-type]
    wall = time.perf_counter() - wall

    print(
        f"MF-Hartmann6, fidelity 1..{MAX_FIDELITY} steps, eta 3, {args.seeds} seeds; reference: random search, "
        f"{N_RANDOM} configurations x {MAX_FIDELITY} steps = {FULL} steps"
    )
    print(
        f"random search: median target regret {statistics.median(t - OPTIMUM for t, _ in refs):.3e}, "
        f"first reached after {statistics.median(i for _, i in refs) / N_RANDOM:.2f} of its budget (median)"
    )
    print(
        f"{'method':<26}{'fraction':>10}{'reached':>9}{'vs 1st hit':>11}{'regret@15%':>12}{'trials':>8}{'cpu s':>7}"
    )
    fractions: dict[str, float] = {}
    for m in methods:
        data = rows[m]
        fractions[m] = median([d[0] for d in data])
        reached = sum(d[0] is not None for d in data)
        print(
            f"{m:<26}{fmt(fractions[m]):>10}{reached:>6}/{len(data):<2}{fmt(median([d[1] for d in data])):>11}"
            f"{statistics.median(d[2] for d in data):>12.3e}"
            f"{statistics.median(d[3] for d in data):>8.0f}{statistics.mean(d[4] for d in data):>7.1f}"
        )
    print(f"wall time {wall:.0f} s with {args.workers} workers")
    if "hpo_asha" in fractions:
        print(f"asha_compute_fraction_vs_random={fractions['hpo_asha']:.3f}")


if __name__ == "__main__":
    main()
