"""hpo's own metrics: what trial processes record (metrics) and what the sweep workflow
records through the SDK's meter (sweep_metrics). Serving them is the workers' job."""
