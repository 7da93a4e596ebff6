"""Is a training segment still making progress? (pure: the clock is an argument)

Heartbeats say the worker is alive, not that the training is: a deadlocked data loader, a
collective waiting for a lost peer or a `while True: sleep(1)` heartbeats forever. So a
segment whose step (trial.report, trial.save, a command's hpo:report / hpo:checkpoint lines)
has not advanced for `training.progress_timeout_s` is ended as hung, and retried from its
newest checkpoint; its `training.max_hangs`-th hang fails the trial, as does a hang on the
last attempt the retry budget allows (each hang spends a retry: it is a failure).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Progress:
    """The furthest step a segment reached, and when it got there (monotonic seconds)."""

    timeout_s: float
    step: int
    since: float

    def advance(self, step: int, now: float) -> bool:
        """Record a reported or saved step; only a step past the furthest one is progress (a
        loop that re-reports the same step is not training)."""
        if step <= self.step:
            return False
        self.step, self.since = step, now
        return True

    def restart(self, now: float) -> None:
        """Start the clock again (the training code starts now: setup before it is not its)."""
        self.since = now

    def stalled_s(self, now: float) -> float:
        return max(now - self.since, 0.0)

    def hung(self, now: float) -> bool:
        return self.stalled_s(now) >= self.timeout_s


def watch_interval(timeout_s: float, heartbeat_every: float) -> float:
    """How often the heartbeat thread looks at the progress: often enough to end a hang
    within a tenth of the timeout, never less often than it heartbeats."""
    return max(0.2, min(heartbeat_every, timeout_s / 10))


@dataclass(frozen=True)
class Hang:
    """A hang of one execution of a segment, as its details and its error report it."""

    trial_id: str
    step: int  # the step it stalled at
    timeout_s: float
    count: int  # hangs of this segment so far, this one included
    max_hangs: int
    resume_step: int | None  # the checkpoint a retry resumes from (None: step 0)

    def final(self, attempt: int, max_attempts: int | None) -> bool:
        """Whether this hang fails the trial: the max_hangs-th, or one on the last attempt
        (max_attempts None or 0: unlimited retries)."""
        last_attempt = bool(max_attempts) and attempt >= int(max_attempts or 0)
        return self.count >= self.max_hangs or last_attempt

    def message(self, final: bool) -> str:
        times = "once" if self.count == 1 else f"{self.count} times"
        stalled = (
            f"trial {self.trial_id} made no progress for {self.timeout_s:g} s at step {self.step}, "
            f"{times} (training.progress_timeout_s)"
        )
        where = (
            f"its newest checkpoint (step {self.resume_step})"
            if self.resume_step
            else "step 0 (it saved no checkpoint)"
        )
        if not final:
            return (
                f"{stalled}: its training was ended and is retried from {where}; at "
                f"{self.max_hangs} hangs (training.max_hangs) the trial fails"
            )
        return (
            f"{stalled}: its training code hangs (a deadlocked data loader, a distributed "
            "collective waiting for a lost peer, a loop that never reports a new step); each "
            f"hang was ended and resumed from {where}. Find where it "
            "blocks (e.g. `py-spy dump` on the worker), or raise training.progress_timeout_s "
            "if one step, the first one or the final evaluation really takes longer"
        )
