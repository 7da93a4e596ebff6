"""A training run saved at step k and restored continues exactly like the uninterrupted run."""

from __future__ import annotations

import torch

from hpo.tasks import text_classification as tc


def _data(n: int = 64) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 60, (n, 16), generator=generator, dtype=torch.int32)
    labels = (ids[:, 0] % 2).long()
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids, dtype=torch.int8), "labels": labels}


def test_restore_reproduces_the_loss_sequence(tiny_model, tmp_path):
    hp = tc.Hyperparameters.from_params({"lr": 2e-3, "batch_size": 8, "warmup_ratio": 0.1})
    data = _data()

    straight = tc.TrainingRun.create(tiny_model, 2, 2, hp, seed=7, total=30)
    straight.train_until(data, 30, lambda step, loss: None)

    first = tc.TrainingRun.create(tiny_model, 2, 2, hp, seed=7, total=30)
    first.train_until(data, 12, lambda step, loss: None)
    files = first.save(tmp_path / "ckpt")
    # Disturb the global RNG as another process or trial would.
    torch.rand(1000)

    resumed = tc.TrainingRun.create(tiny_model, 2, 2, hp, seed=7, total=30)
    resumed.restore(files)
    assert resumed.state.step == 12
    resumed.train_until(data, 30, lambda step, loss: None)

    assert resumed.state.losses == straight.state.losses
    for name, tensor in straight.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name


def test_checkpoint_state_loads_with_weights_only(tiny_model, tmp_path):
    hp = tc.Hyperparameters.from_params({"lr": 1e-3, "batch_size": 8})
    run = tc.TrainingRun.create(tiny_model, 2, 2, hp, seed=1, total=4)
    run.train_until(_data(), 2, lambda step, loss: None)
    files = run.save(tmp_path / "ckpt")
    state = torch.load(str(files["state.pt"]), weights_only=True)
    assert state["step"] == 2 and len(state["losses"]) == 2
