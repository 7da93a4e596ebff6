"""Connections to the services hpo runs on: Temporal (temporal). S3 is storage's own (hpo.storage.s3)."""
