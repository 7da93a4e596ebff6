"""Names shared by the training activity and the trial workflow for how a segment ended early.

Plain constants (no imports): the workflow sandbox and the activity both read them.
"""

# The worker stopped (SIGTERM, node drain, scale-in) after checkpointing: start the segment again.
PREEMPTED = "WorkerShutdown"
# The sweep asked the segment to stop (stop, cancel-trial, a budget): it checkpointed and ended.
STOPPED = "SegmentStopped"
# The signal a trial workflow sends its sweep with its result.
RESULT_SIGNAL = "trial_finished"
# The segment's step stopped advancing (training.progress_timeout_s): ended and retried from its
# checkpoint; non-retryable once its hangs fail the trial. Its details say what it spent.
HUNG = "TrialHung"
