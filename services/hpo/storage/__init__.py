"""Storage: one S3 code path (boto3) for the embedded stack, MinIO and AWS alike.

Contract: keys are immutable once a manifest names them, manifests are written last
(so a reader never sees a half-written checkpoint or snapshot), and writes are
idempotent (writing the same key twice with the same bytes is harmless).
"""
