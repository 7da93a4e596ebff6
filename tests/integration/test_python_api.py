"""`hpo.run` from a user's script: the function in the script is shipped and trained on the
real stack's workers, and the script gets the leaderboard back."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.integration

SCRIPT = textwrap.dedent(
    '''
    import json
    import sys

    import hpo


    def train(trial):
        """A toy run with real checkpoints: the 'model' is one number walking towards lr."""
        state = trial.restore() or {"x": 0.0, "step": 0}
        x, step = state["x"], state["step"]
        while step < trial.target_step:
            step += 1
            x += (trial.params["lr"] - x) * 0.5
            trial.report(step, loss=abs(trial.params["lr"] - 0.01))
        trial.save({"x": x, "step": step}, step=step)
        return {"closeness": -abs(x - 0.01)}


    if __name__ == "__main__":
        status = hpo.run(
            train,
            space={"lr": {"type": "float", "low": 0.001, "high": 0.1, "log": True}},
            trials=4,
            algorithm="tpe",
            objective="closeness",
            training={"max_steps": 12, "checkpoint_every": 4},
            name="from-python",
            stack="running",
        )
        best = status.leaderboard()[0]
        print("RESULT " + json.dumps({"best": best.trial_id, "best_id": status.best_trial_id,
                                      "statuses": [t.status for t in status.trials],
                                      "steps": [t.train.step for t in status.trials],
                                      "sdk_in_script": "temporalio.bridge" in " ".join(sys.modules)}))
    '''
)


def test_hpo_run_sweeps_a_function_from_a_script(stack, training_worker, tmp_path):
    script = tmp_path / "my_experiment.py"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script)],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    outcome = json.loads(line.removeprefix("RESULT "))
    assert outcome["statuses"] == ["completed"] * 4 and outcome["steps"] == [12] * 4
    assert outcome["best"] == outcome["best_id"]
    # The Temporal SDK never loads in the user's process: its threads can abort an interpreter
    # that is finalizing (temporalio/sdk-python#300), and a script cannot leave with os._exit.
    assert outcome["sdk_in_script"] is False
    assert "my_experiment.py" in result.stdout or "shipped" in result.stdout


def test_hpo_run_refuses_a_function_it_cannot_ship():
    import hpo
    from hpo.contracts.spec import SpecError

    def nested(trial):
        return {}

    with pytest.raises(SpecError, match="must be a top-level function in a .py file"):
        hpo.run(nested, space={}, trials=1, objective="x")
