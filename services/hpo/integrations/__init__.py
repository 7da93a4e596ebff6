"""Bring the training code you have: adapters from popular training loops to `hpo.Trial`.

Each adapter is optional and imports its framework only when used: `hpo.integrations.transformers`
(Hugging Face Trainer), `hpo.integrations.lightning` (Lightning), `hpo.integrations.xgboost` and `hpo.integrations.lightgbm` (boosting
rounds as steps, on `hpo.integrations.boosting`), `hpo.integrations.optuna` (Optuna objectives). They sit on the trial seam: what they do, a user's own `train(trial)`
could do by hand.
"""
