"""Search quality: hpo's TPE and random search against Optuna 5.0.0 on analytic functions.

Every method gets the same budget (100 sequential evaluations by default) on the same
functions with 20 seeds; the table shows the median final regret (best value found minus the
known optimum) per function and method. The last line is the geometric mean, over functions,
of hpo TPE's median regret divided by Optuna TPE's (defaults: multivariate, constant liar):

    tpe_regret_ratio_vs_optuna=<x>        (< 1 means hpo finds better optima)

Usage: python bench/search_quality.py [--seeds 20] [--trials 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from analytic import PROBLEMS, Problem

METHODS = ("hpo_tpe", "optuna_tpe", "hpo_random", "optuna_random")
_FLOOR = 1e-12  # regret floor, so a solved function does not divide by zero


def run_hpo(problem: Problem, algorithm: str, seed: int, trials: int, options: dict[str, Any]) -> float:
    from hpo.search import create

    study = create(algorithm, problem.space, mode="min", seed=seed, num_trials=trials, **options)
    while (s := study.ask()) is not None:
        study.tell(s.trial_id, problem.fn(s.params))
    assert study.best is not None
    return study.best[1]


def run_optuna(problem: Problem, sampler: str, seed: int, trials: int) -> float:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler == "tpe":
        smp: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed)
    else:
        smp = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(direction="minimize", sampler=smp)

    def objective(trial: optuna.Trial) -> float:
        params: dict[str, Any] = {}
        for name, d in problem.space.items():
            if d["type"] == "float":
                params[name] = trial.suggest_float(name, d["low"], d["high"], log=d.get("log", False))
            elif d["type"] == "int":
                params[name] = trial.suggest_int(
                    name, d["low"], d["high"], step=d.get("step", 1), log=d.get("log", False)
                )
            else:
                params[name] = trial.suggest_categorical(name, d["choices"])
        return problem.fn(params)

    study.optimize(objective, n_trials=trials)
    return study.best_value


def run_one(task: tuple[str, str, int, int, str]) -> tuple[str, str, int, float, float]:
    name, method, seed, trials, options_json = task
    problem = next(p for p in PROBLEMS if p.name == name)
    start = time.process_time()
    if method == "hpo_tpe":
        best = run_hpo(problem, "tpe", seed, trials, json.loads(options_json))
    elif method == "hpo_random":
        best = run_hpo(problem, "random", seed, trials, {})
    elif method == "optuna_tpe":
        best = run_optuna(problem, "tpe", seed, trials)
    else:
        best = run_optuna(problem, "random", seed, trials)
    return name, method, seed, problem.regret(best), time.process_time() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=20)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--problems", default=",".join(p.name for p in PROBLEMS))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--tpe-options", default="{}", help="JSON options for hpo's TPE (for ablations)")
    args = ap.parse_args()
    names = args.problems.split(",")
    methods = args.methods.split(",")
    tasks = [
        (n, m, s, args.trials, args.tpe_options) for n in names for m in methods for s in range(args.seeds)
    ]
    wall = time.perf_counter()
    regrets: dict[tuple[str, str], list[float]] = {}
    cpu: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for name, method, _seed, regret, seconds in pool.map(run_one, tasks, chunksize=4):
            regrets.setdefault((name, method), []).append(regret)
            cpu[method] = cpu.get(method, 0.0) + seconds
    wall = time.perf_counter() - wall

    print(f"median final regret after {args.trials} evaluations, {args.seeds} seeds (lower is better)")
    header = f"{'function':<18}" + "".join(f"{m:>15}" for m in methods)
    if "hpo_tpe" in methods and "optuna_tpe" in methods:
        header += f"{'tpe ratio':>12}{'hpo wins':>10}"
    print(header)
    ratios = []
    for n in names:
        med = {m: statistics.median(regrets[(n, m)]) for m in methods}
        row = f"{n:<18}" + "".join(f"{med[m]:>15.3e}" for m in methods)
        if "hpo_tpe" in methods and "optuna_tpe" in methods:
            ratio = max(med["hpo_tpe"], _FLOOR) / max(med["optuna_tpe"], _FLOOR)
            wins = sum(
                a < b for a, b in zip(regrets[(n, "hpo_tpe")], regrets[(n, "optuna_tpe")], strict=True)
            )
            ratios.append(ratio)
            row += f"{ratio:>12.3f}{wins:>7}/{args.seeds}"
        print(row)
    print(
        "cpu seconds per run: " + ", ".join(f"{m} {cpu[m] / (len(names) * args.seeds):.2f}" for m in methods)
    )
    print(f"wall time {wall:.0f} s with {args.workers} workers")
    if ratios:
        geo = math.exp(sum(math.log(r) for r in ratios) / len(ratios))
        print(f"tpe_regret_ratio_vs_optuna={geo:.3f}")


if __name__ == "__main__":
    main()
