"""Bring your own training, as a function trial: hpo calls `train(trial)` once per segment.

    task: {entrypoint: "train:train", code: ., predict: "train:predict"}

The function restores the newest checkpoint (None on a fresh start), trains to
`trial.target_step`, reports its loss, saves a checkpoint every `trial.checkpoint_every`
steps, stops early when `trial.should_stop()` says the worker is going away, and returns its
own validation metrics. Saving the RNG state with the model makes a resumed run identical to
an uninterrupted one, so a promotion or a crash never changes the result.
"""

from __future__ import annotations

from typing import Any

import torch
from model import build_model, cosine, evaluate, load_data, make_optimizer, train_step

import hpo


def train(trial: hpo.Trial) -> hpo.Result:
    p = trial.params
    hidden, dropout = int(p.get("hidden", 128)), float(p.get("dropout", 0.1))
    batch_size = int(p.get("batch_size", 64))
    data = load_data(seed=int(trial.config.get("data_seed", 0)))
    torch.manual_seed(trial.seed)
    model = build_model(hidden, dropout)
    optimizer = make_optimizer(
        model, p.get("optimizer", "adam"), float(p.get("lr", 1e-3)), float(p.get("weight_decay", 0.0))
    )
    total = trial.max_steps or 300  # the full budget: the learning-rate schedule spans all of it
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine(total))

    step = 0
    state = trial.restore()
    if state is not None:  # a promotion or a retry: continue exactly where the checkpoint left off
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = int(state["step"])
        hpo.restore_rng(state["rng"])

    def checkpoint() -> None:
        trial.save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict(),
                "step": step,
                "rng": hpo.capture_rng(),
            },
            step=step,
        )

    target = trial.target_step or total
    every = trial.checkpoint_every or 50
    model.train()
    while step < target:
        loss = train_step(model, optimizer, schedule, data, batch_size)
        step += 1
        trial.report(step, loss=loss)
        if step % every == 0 or step == target:
            checkpoint()
        if trial.should_stop():  # SIGTERM, scale-in: save and return; another worker resumes
            if trial.saved_step != step:
                checkpoint()
            return hpo.Result(validation={})
    return hpo.Result(validation=evaluate(model, data.validation), test=evaluate(model, data.test))


def predict(checkpoint: hpo.Checkpoint, inputs: list[Any]) -> list[dict[str, Any]]:
    """`hpo predict SWEEP '[0, 0, 5, 13, ...]'`: 64 pixel values (0-16) per input."""
    import json

    model = build_model(
        int(checkpoint.params.get("hidden", 128)), float(checkpoint.params.get("dropout", 0.1))
    )
    model.load_state_dict(checkpoint.state()["model"])
    model.eval()
    pixels = [json.loads(item) if isinstance(item, str) else item for item in inputs]
    with torch.no_grad():
        probabilities = torch.softmax(model(torch.tensor(pixels, dtype=torch.float32) / 16.0), dim=1)
    return [
        {
            "label": str(int(row.argmax())),
            "probabilities": {str(d): round(float(v), 4) for d, v in enumerate(row)},
        }
        for row in probabilities
    ]
