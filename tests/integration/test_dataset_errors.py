"""A dataset the task cannot use (one class, no label column, no rows) fails the sweep with its
message said once, by `hpo sweep run` and `hpo sweep status`: no traceback, local or remote."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml
from sweeps import new_sweep_id, tiny_spec
from temporalio.client import WorkflowFailureError

from hpo.connections.temporal import connect
from hpo.contracts.messages import SweepStatus

pytestmark = pytest.mark.integration


def _hpo(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hpo.cli", *args], env=env, capture_output=True, text=True, timeout=300
    )


def _rows(header: str, label: str = "positive", n: int = 40) -> str:
    return header + "\n" + "".join(f"the movie number {i} was fine,{label}\n" for i in range(n))


DATASETS = {
    "one-class": (_rows("text,label"), "has 1 distinct value(s) in 'label'; classification needs at least 2"),
    "no-label-column": (_rows("text,sentiment"), "has no column 'label' (dataset.label_field)"),
    "no-rows": ("", "holds no rows"),
    # dataset.labels names classes the data does not hold (see LABELS_ABSENT below).
    "labels-absent": (_rows("text,label"), "has 0 distinct value(s) in 'label'"),
}
LABELS_ABSENT = {"labels": ["joy", "anger"]}


@pytest.mark.parametrize("case", list(DATASETS))
async def test_a_bad_dataset_is_said_once_without_a_traceback(
    stack, training_worker, tiny_model, tmp_path, case
):
    content, message = DATASETS[case]
    data = tmp_path / "data.csv"
    data.write_text(content)
    dataset = {"source": str(data), **(LABELS_ABSENT if case == "labels-absent" else {})}
    spec = tiny_spec(tiny_model, data, name="bad-data", trials=2, training={"max_steps": 10}, dataset=dataset)
    path = tmp_path / "spec.yaml"
    path.write_text(yaml.safe_dump(spec.model_dump(mode="json")))
    sweep_id = new_sweep_id("bad-data")

    output = tmp_path / "out" / "final.json"
    run = _hpo("sweep", "run", str(path), "--id", sweep_id, "--output", str(output), env=stack.env)
    said = run.stdout + run.stderr
    assert run.returncode == 1, said  # the sweep failed (exit 2 is for what `hpo` finds itself)
    assert said.count(message) == 1, said
    assert f"sweep {sweep_id} failed: {data}" in said and "Traceback" not in said
    # --output says so too: a script finds the failure and its reason there, not a missing file.
    written = SweepStatus.model_validate_json(output.read_text())
    assert (written.sweep_id, written.state) == (sweep_id, "failed"), written
    assert message in (written.stop_reason or ""), written.stop_reason
    assert not list(output.parent.glob(".*.partial")), "the JSON is written whole, then renamed"

    status = _hpo("sweep", "status", sweep_id, env=stack.env)
    shown = status.stdout + status.stderr
    assert status.returncode == 1, shown
    assert shown.count(message) == 1 and "Traceback" not in shown, shown

    # At the source: the failure Temporal holds is the message, with no remote traceback under it.
    client = await connect(stack.settings)
    with pytest.raises(WorkflowFailureError) as failed:
        await client.get_workflow_handle(sweep_id, result_type=SweepStatus).result()
    chain, error = [], failed.value
    while error is not None:
        chain.append(str(getattr(error, "message", error)))
        error = error.cause if hasattr(error, "cause") else error.__cause__
    assert not any("Traceback" in link for link in chain), chain
    assert chain[-1].startswith(str(data)) and message in chain[-1], chain
