"""Temporal workflows: thin, deterministic orchestration (no torch, boto3 or numpy)."""
