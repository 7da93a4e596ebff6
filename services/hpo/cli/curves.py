"""Every trial's learning curve for a command that shows them (`hpo report`, `hpo export`)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from hpo.cli.ui import UserError, console
from hpo.contracts.messages import SweepStatus
from hpo.contracts.settings import Settings
from hpo.storage.curves import read_curve
from hpo.storage.s3 import ObjectStore, StorageUnavailable


def read_curves(settings: Settings, status: SweepStatus) -> dict[str, list[dict[str, Any]]]:
    """Every trial's merged curve (empty for a trial that reported nothing). S3 that cannot be
    read stops the command with one message; a damaged curve file costs that trial its curve,
    with a warning, not the whole report or export."""
    store = ObjectStore(settings)
    curves: dict[str, list[dict[str, Any]]] = {}
    for trial in status.trials:
        try:
            curves[trial.trial_id] = read_curve(store, status.sweep_id, trial.trial_id, status.scope)
        except (ClientError, BotoCoreError, StorageUnavailable) as error:
            raise UserError(
                f"could not read the learning curves of {status.sweep_id}/{trial.trial_id} "
                f"from S3 {settings.s3_endpoint}: {error}"
            ) from None
        except (ValueError, KeyError) as error:
            console.print(f"[yellow]{trial.trial_id}: learning curve unreadable ({error}); left out[/yellow]")
            curves[trial.trial_id] = []
    return curves
