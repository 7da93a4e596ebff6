"""Every random number generator a training run draws from, captured and restored in one call.

`state = hpo.capture_rng()` before `trial.save({..., "rng": state})`, and
`hpo.restore_rng(saved["rng"])` after `trial.restore()`: dropout masks, augmentation and
shuffles then continue exactly where the interrupted run left them. The state holds only
tensors, ints, floats and lists, so it loads back with torch.load(weights_only=True).
"""

from __future__ import annotations

import random
import sys
from typing import Any


def capture_rng() -> dict[str, Any]:
    import torch

    state: dict[str, Any] = {
        "python": _python_state(random.getstate()),
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    numpy = sys.modules.get("numpy")  # only if the training uses numpy: never import it for them
    if numpy is not None:
        kind, keys, position, has_gauss, cached = numpy.random.get_state()
        state["numpy"] = [kind, torch.from_numpy(keys.astype("int64")), position, has_gauss, cached]
    return state


def restore_rng(state: dict[str, Any]) -> None:
    import torch

    random.setstate((state["python"][0], tuple(state["python"][1]), state["python"][2]))
    torch.set_rng_state(state["torch"].cpu())
    if state.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])
    if "numpy" in state:
        import numpy

        kind, keys, position, has_gauss, cached = state["numpy"]
        numpy.random.set_state((kind, keys.numpy().astype("uint32"), position, has_gauss, cached))


def _python_state(value: tuple[Any, ...]) -> list[Any]:
    version, internal, gauss = value
    return [version, list(internal), gauss]
