"""The same training as train.py, as a command trial: any program that speaks hpo's protocol.

    task: {command: [python, train_command.py], code: .}

It reads its hyperparameters from HPO_PARAMS and its budget from HPO_TARGET_STEP and
HPO_MAX_STEPS, resumes from HPO_CHECKPOINT_DIR when HPO_START_STEP > 0, writes checkpoint
files into that directory and then prints `hpo:checkpoint {"step": N}`, prints
`hpo:report {"step": N, "loss": ...}` as it goes, and ends with `hpo:result {...}`.
On SIGTERM it checkpoints and exits 0. Nothing here imports hpo: a Julia or C++ program
would do the same with its own files.
"""

from __future__ import annotations

import json
import os
import random
import signal
from pathlib import Path

import torch
from model import build_model, cosine, evaluate, load_data, make_optimizer, train_step

stopping = False


def _stop(*_: object) -> None:
    global stopping
    stopping = True


def emit(kind: str, payload: dict) -> None:
    print(f"hpo:{kind} {json.dumps(payload)}", flush=True)


def main() -> None:
    signal.signal(signal.SIGTERM, _stop)
    p = json.loads(os.environ["HPO_PARAMS"])
    config = json.loads(os.environ.get("HPO_CONFIG") or "{}")
    checkpoints = Path(os.environ["HPO_CHECKPOINT_DIR"])
    total = int(os.environ.get("HPO_MAX_STEPS") or 300)
    target = int(os.environ.get("HPO_TARGET_STEP") or total)
    every = int(os.environ.get("HPO_CHECKPOINT_EVERY") or 50)
    batch_size = int(p.get("batch_size", 64))

    data = load_data(seed=int(config.get("data_seed", 0)))
    torch.manual_seed(int(os.environ["HPO_SEED"]))
    model = build_model(int(p.get("hidden", 128)), float(p.get("dropout", 0.1)))
    optimizer = make_optimizer(
        model, p.get("optimizer", "adam"), float(p.get("lr", 1e-3)), float(p.get("weight_decay", 0.0))
    )
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, cosine(total))
    step = 0
    if int(os.environ.get("HPO_START_STEP") or 0) > 0:
        state = torch.load(checkpoints / "state.pt", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step = int(state["step"])
        torch.set_rng_state(state["torch_rng"])
        random.setstate((3, tuple(state["python_rng"]), None))

    def checkpoint() -> None:
        state = {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "schedule": schedule.state_dict(),
            "step": step,
            "torch_rng": torch.get_rng_state(),
            "python_rng": list(random.getstate()[1]),
        }
        torch.save(state, checkpoints / "state.pt")
        emit("checkpoint", {"step": step})

    model.train()
    while step < target:
        loss = train_step(model, optimizer, schedule, data, batch_size)
        step += 1
        emit("report", {"step": step, "loss": loss})
        if step % every == 0 or step == target or stopping:
            checkpoint()
        if stopping:
            return
    emit("result", {"validation": evaluate(model, data.validation), "test": evaluate(model, data.test)})


if __name__ == "__main__":
    main()
