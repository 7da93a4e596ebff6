"""Steering a sweep (the `control` update, and `hpo sweep extend` of an ended one): each
command checked (hpo.engine.control), then applied to the engine's state. Part of SweepEngine."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hpo.contracts.messages import ControlRequest, ControlResult, TrialEvent
from hpo.engine import control as checks
from hpo.engine.guard import guarded
from hpo.engine.state import EngineState


class Steering:
    # Provided by SweepEngine (hpo.engine.core).
    state: EngineState
    scheduler: Any
    search: Any
    done: bool

    if TYPE_CHECKING:  # the rest of SweepEngine that these methods call

        def _search(self, method: str, *args: Any) -> None: ...

        def _stop(self, reason: str, *, cancel_running: bool) -> None: ...

        def _status_of(self, trial_id: str) -> str | None: ...

        def _emit(self, event: TrialEvent, was: str | None) -> None: ...

        def state_name(self) -> str: ...

    def validate(self, command: ControlRequest) -> None:
        """Raise ValueError (the update is rejected, nothing recorded) unless `command` makes sense now."""
        checks.check(command, self.state, self.done, self._status_of)

    def control(self, command: ControlRequest) -> ControlResult:
        self.validate(command)
        state = self.state
        action = command.action
        if action == "pause":
            state.paused = True
            message = f"paused: no new segment starts; {len(state.running)} running go on"
        elif action == "resume":
            state.paused = False
            message = f"resumed: {len(state.pending)} waiting segment(s) may start"
        elif action == "stop":
            self._stop(
                "stopped by the user" + (f": {command.reason}" if command.reason else ""), cancel_running=True
            )
            message = f"stopping: {len(state.running)} running segment(s) checkpoint and end"
        elif action == "cancel_trial":
            message = self._cancel(command.trial_id or "")
        else:
            message = self._extend(command)
        return ControlResult(action=action, state=self.state_name(), message=message)

    def _cancel(self, trial_id: str) -> str:
        state = self.state
        run = state.running.get(trial_id)
        if run is not None:
            run.cancelling = True
            state.to_cancel.append(trial_id)
            return f"cancelling {trial_id}: its segment checkpoints and ends"
        job = next(job for job in state.pending if job.trial_id == trial_id)
        state.pending.remove(job)
        if job.kind == "create":
            state.trials_created += 1
            self._emit(TrialEvent(trial_id=trial_id, status="cancelled", params=dict(job.params)), was=None)
        else:
            self._emit(TrialEvent(trial_id=trial_id, status="cancelled"), was=self._status_of(trial_id))
        self._search("on_failure", trial_id, "cancelled by the user")
        return f"cancelled {trial_id} before it started"

    def _extend(self, command: ControlRequest) -> str:
        state = self.state
        changes: list[str] = []
        spec_update: dict[str, Any] = {}
        if command.trials is not None:
            spec_update["trials"] = command.trials
            changes.append(f"trials {state.spec.trials} → {command.trials}")
        if command.max_concurrent is not None:
            spec_update["max_concurrent"] = command.max_concurrent
            changes.append(f"max_concurrent {state.spec.max_concurrent} → {command.max_concurrent}")
        budget = checks.extended_budget(state.budget, command)
        if budget is not state.budget:
            state.budget = budget
            changes.extend(
                f"{name} {getattr(command, name):g}"
                for name in checks.BUDGETS
                if getattr(command, name) is not None
            )
        if spec_update:
            # Limits are not the search core's identity: the same state loads into a scheduler
            # rebuilt with the new limits, and it fills the slots they free.
            state.spec = state.spec.model_copy(update=spec_update)
            self.scheduler = self.scheduler_for(state.spec)
            self.search = guarded(self.scheduler.load_state, self.search)
            self._search("refill")
        return "extended: " + ", ".join(changes)

    def reopened(self, command: ControlRequest) -> str:
        """A finished (completed or stopped) sweep goes on with the limits of an `extend`
        command (`hpo sweep extend` of an ended sweep): the same search state, new trials.
        ValueError when the command does not make sense (as for a running sweep)."""
        state = self.state
        state.stopping = state.finished = state.paused = False
        state.stop_reason = None
        checks.check_extend(command, state)
        self.search = guarded(self.scheduler.reopen, self.search)
        # Creates a stop dropped before they started never ran: the search core learns so, and
        # their ids stay unused.
        for trial_id, record in list(getattr(self.search, "trials", {}).items()):
            if record.status == "running" and trial_id not in state.running:
                self._search("on_failure", trial_id, "never started: the sweep stopped first")
        message = self._extend(command)
        if command.trials is None:
            self._search("refill")
        return message
