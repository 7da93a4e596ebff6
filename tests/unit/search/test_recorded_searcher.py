"""RecordedSearcher: a model-based searcher's proposals fetched outside the scheduler and offered back.

The workflow catches ProposalNeeded, runs the suggest activity, offers its answer and calls the
same scheduler method again; these tests play the activity's part with ModelBasedSearcher itself.
"""

from __future__ import annotations

import random
import subprocess
import sys
from typing import Any

import pytest

from hpo.contracts.spec import SpecError, parse_spec
from hpo.modelsearch import SAMPLERS, ModelBasedSearcher
from hpo.modelsearch.proposal import answer  # what the suggest activity computes for a request
from hpo.search import ProposalNeeded, ProposalRequest, RecordedSearcher, build_scheduler, parse_space
from hpo.search.searcher import Observation

SPACE = {
    "x": {"type": "float", "low": 0.0, "high": 1.0},
    "n": {"type": "int", "low": 1, "high": 8},
    "kind": {"type": "categorical", "choices": ["a", 2, True]},
}


def drive(scheduler: Any, method: str, state: Any, *args: Any, log: list | None = None) -> tuple[Any, list]:
    """The workflow's loop (steering._fetch_proposals): call, fetch what is needed, offer, call again."""
    while True:
        before = state.model_dump(mode="json")
        try:
            new_state, actions = getattr(scheduler, method)(state, *args)
        except ProposalNeeded as needed:
            # Copy-on-write: the call that stopped for a proposal left the caller's state as it was.
            assert state.model_dump(mode="json") == before
            if log is not None:
                log.append(needed.request)
            scheduler.searcher.offer(needed.request, answer(needed.request))
            continue
        assert scheduler.searcher.unconsumed() == 0
        scheduler.searcher.drop_offers()
        return new_state, actions


def objective(params: dict[str, Any]) -> float:
    return (params["x"] - 0.3) ** 2 + 0.01 * params["n"] + (0.0 if params["kind"] == 2 else 0.5)


def run_sweep(algorithm: str, **options: Any) -> tuple[list[Any], list[ProposalRequest]]:
    scheduler = build_scheduler(algorithm, SPACE, seed=7, num_trials=6, max_concurrent=2, **options)
    log: list[ProposalRequest] = []
    state, actions = drive(scheduler, "initial_actions", scheduler.new_state(), log=log)
    every = list(actions)
    running = [a for a in actions if a.kind in ("create", "promote")]
    while running:
        job = running.pop(0)
        params = state.trials[job.trial_id].params
        state, actions = drive(
            scheduler, "on_result", state, job.trial_id, job.rung, objective(params), log=log
        )
        every += actions
        running += [a for a in actions if a.kind in ("create", "promote")]
    assert state.finished
    return every, log


def test_sampler_names_mirror_modelsearch():
    assert RecordedSearcher.__module__ == "hpo.search.recorded"
    from hpo.search.recorded import SAMPLER_NAMES

    assert SAMPLER_NAMES == SAMPLERS


def test_a_gp_sweep_is_deterministic_and_stays_in_the_space():
    first, asked = run_sweep("gp", n_startup_trials=3)
    again, asked_again = run_sweep("gp", n_startup_trials=3)
    assert first == again and asked == asked_again
    creates = [a for a in first if a.kind == "create"]
    assert len(creates) == 6 and len(asked) == 6  # one activity per proposal, none repeated
    space = parse_space(SPACE)
    assert all(space.contains(a.params) for a in creates)
    assert all(isinstance(a.params["n"], int) for a in creates)
    # The later proposals saw the results so far and the trials still running.
    assert [len(r.observations) for r in asked][-1] >= 3 and any(r.pending for r in asked)


def test_asha_with_a_gp_searcher_models_the_rung_with_enough_results():
    actions, asked = run_sweep("asha", searcher="gp", n_startup_trials=2, max_fidelity=9)
    assert any(a.kind == "promote" for a in actions)
    scheduler = build_scheduler(
        "asha", SPACE, num_trials=6, max_fidelity=9, searcher="gp", n_startup_trials=2
    )
    assert scheduler.searcher.min_observations == 2 and scheduler.searcher.wants_observations
    assert all(r.searcher["name"] == "gp" for r in asked)


def test_an_offer_for_other_inputs_is_refused():
    searcher = RecordedSearcher(parse_space(SPACE))
    with pytest.raises(ProposalNeeded) as needed:
        searcher.suggest(random.Random(1), 0, [], [])
    request = needed.value.request
    searcher.offer(request, {"x": 0.5, "n": 2, "kind": "a"})
    with pytest.raises(AssertionError, match="other observations"):
        searcher.suggest(random.Random(1), 0, [Observation({"x": 0.1, "n": 1, "kind": "a"}, 1.0)], [])


def test_min_observations_mirror_the_model_based_searcher():
    space = parse_space(SPACE)
    for options in ({}, {"n_startup_trials": 4}):
        recorded = RecordedSearcher(space, "gp", options)
        model = ModelBasedSearcher(space, "gp", options)
        assert recorded.min_observations == model.min_observations
        assert recorded.config() == model.config()
        assert recorded.wants_observations == model.wants_observations


def test_factory_names_and_auto():
    assert build_scheduler("gp", SPACE, num_trials=10).searcher.name == "gp"
    tpe = build_scheduler("optuna", SPACE, num_trials=10, sampler="TPESampler")
    assert tpe.searcher.name == "optuna:TPESampler"
    assert build_scheduler("auto", SPACE, num_trials=20).searcher.name == "gp"
    assert build_scheduler("auto", SPACE, num_trials=1000).searcher.name == "tpe"
    with pytest.raises(ValueError, match="needs the option sampler"):
        build_scheduler("optuna", SPACE, num_trials=10)


def spec(algorithm: Any, trials: int = 8) -> dict[str, Any]:
    return {
        "name": "gp",
        "task": {"entrypoint": "trainer:train", "code": "."},
        "space": {"x": {"type": "float", "low": 0.0, "high": 1.0}},
        "algorithm": algorithm,
        "trials": trials,
        "objective": {"metric": "loss", "mode": "min"},
        "training": {"max_steps": 9},
    }


def test_spec_records_autos_choice_and_checks_sampler_options():
    assert parse_spec(spec("auto")).algorithm.name == "gp"
    assert parse_spec(spec("auto", trials=500)).algorithm.name == "tpe"
    asha = parse_spec(spec({"name": "asha", "options": {"searcher": "auto"}}))
    assert asha.algorithm.options["searcher"] == "gp"
    with pytest.raises(SpecError, match="unknown option 'bogus' for sampler GPSampler"):
        parse_spec(spec({"name": "gp", "options": {"bogus": 1}}))
    with pytest.raises(SpecError, match="CmaEsSampler is not offered"):
        parse_spec(spec({"name": "optuna", "options": {"sampler": "CmaEsSampler"}}))


def test_building_a_gp_scheduler_imports_no_model_libraries():
    # What the workflow sandbox does: validate the spec and build its scheduler, optuna-free.
    code = (
        "import sys\n"
        "from hpo.contracts.spec import SweepSpec, make_scheduler\n"
        f"s = SweepSpec.model_validate({spec({'name': 'asha', 'options': {'searcher': 'gp'}})!r})\n"
        "make_scheduler(s)\n"
        "print(','.join(m for m in ('optuna', 'torch', 'numpy', 'scipy') if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == ""


def test_random_fraction_skips_the_model_for_that_share_of_proposals() -> None:
    space = parse_space(SPACE)
    observations = [Observation(space.sample(random.Random(i)), float(i)) for i in range(12)]
    always = RecordedSearcher(space, "GPSampler", {}, random_fraction=1.0)
    # Never asks for a model proposal, and the same RNG gives the same configuration.
    first = always.suggest(random.Random(3), 12, observations, [])
    assert first == always.suggest(random.Random(3), 12, observations, []) and space.contains(first)
    half = RecordedSearcher(space, "GPSampler", {}, random_fraction=0.5)
    asked = 0
    for seed in range(200):
        try:
            half.suggest(random.Random(seed), 12, observations, [])
        except ProposalNeeded:
            asked += 1
    assert 70 < asked < 130  # about half go to the model
    # A searcher without it keeps exactly the config (and fingerprint) it always had.
    assert "random_fraction" not in RecordedSearcher(space).config()
    assert half.config()["random_fraction"] == 0.5
    for bad in (1.5, -0.1, "half", True):
        with pytest.raises(ValueError, match="random_fraction"):
            build_scheduler("bohb", SPACE, max_fidelity=9, min_fidelity=1, searcher="gp", random_fraction=bad)
