"""`python -m hpo.storage.ensure_bucket`: create the configured bucket if it is missing.

The Helm chart's init container runs this before the sweep worker starts, so a cluster
creates its bucket exactly as `hpo up` and the CLI do (ObjectStore.ensure_bucket, with the
LocationConstraint AWS needs outside us-east-1): one bucket-creation path, not a copy of it.
It waits for an S3 endpoint that does not answer yet (a MinIO pod still starting); an
endpoint that answers and refuses (credentials, a name the server rejects) fails at once.
"""

from __future__ import annotations

import argparse
import sys
import time

from hpo.contracts.settings import Settings
from hpo.storage.s3 import ObjectStore, StorageUnavailable, StorageUnreachable


def ensure_bucket(settings: Settings, wait_s: float, poll_s: float = 5.0) -> str:
    """What was done ("created" / "exists"); StorageUnavailable when it cannot be done."""
    store = ObjectStore(settings)
    deadline = time.monotonic() + wait_s
    while True:
        try:
            return "created" if store.ensure_bucket() else "exists"
        except StorageUnreachable as error:
            if time.monotonic() + poll_s > deadline:
                raise StorageUnavailable(f"{error} (waited {wait_s:.0f}s)") from None
            print(f"waiting for S3: {error}", flush=True)
            time.sleep(poll_s)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m hpo.storage.ensure_bucket",
        description="Create HPO_S3_BUCKET on HPO_S3_ENDPOINT (region HPO_S3_REGION) if it is missing.",
    )
    parser.add_argument(
        "--wait-seconds", type=float, default=600.0, help="how long to wait for the endpoint to answer"
    )
    args = parser.parse_args(argv)
    settings = Settings()
    try:
        done = ensure_bucket(settings, args.wait_seconds)
    except StorageUnavailable as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"bucket {settings.s3_bucket} {done} on {settings.s3_endpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
