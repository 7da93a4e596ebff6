"""Replay-safe randomness.

Rather than serialising a Mersenne Twister (625 integers per state), each decision draws
from a fresh ``random.Random`` seeded by sha256(seed, stream, counter). The counter lives in
the scheduler state, so the state stays small, JSON-friendly and exactly restorable, and two
streams (say proposals and grid shuffling) can never disturb each other.
"""

from __future__ import annotations

import hashlib
import random


def derive_seed(seed: int, stream: str, counter: int = 0) -> int:
    digest = hashlib.sha256(f"{seed}/{stream}/{counter}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def make_rng(seed: int, stream: str, counter: int = 0) -> random.Random:
    return random.Random(derive_seed(seed, stream, counter))
