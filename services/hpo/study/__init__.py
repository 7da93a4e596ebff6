"""Search driven from your own process: the ask/tell facade behind `hpo.search.create`
(ask_tell), a deterministic simulation of a sweep for tests and benchmarks (simulate), and the
in-process answer to model-based proposals they share (local). Outside the pure core because
that answer imports optuna; the core (hpo.search) never imports this package."""
