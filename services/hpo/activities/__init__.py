"""Temporal activities: all non-determinism (files, S3, torch) lives here."""
