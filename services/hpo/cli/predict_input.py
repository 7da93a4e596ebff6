"""What `hpo predict` sends: its inputs from arguments, a file or stdin, checked against the size
one Temporal request may carry before anything is sent.

A file (or `-`, stdin) holds one input per line, read as an INPUT argument is: a line holding
a JSON array or object is data (an image, a feature vector), any other line is a text; blank
lines are skipped. A file whose name ends in `.json` instead holds one JSON array whose
elements are the inputs. Inputs from arguments come first, then the file's.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TextIO

from hpo.cli.ui import UserError

STDIN = "-"
# Temporal refuses a payload over its blob size limit, 2 MiB by default (the embedded dev
# server's too: limit.blobSize.error); the request carries the task spec and keys beside the
# inputs, hence the reserve.
PAYLOAD_LIMIT_BYTES = 2 * 1024 * 1024
REQUEST_RESERVE_BYTES = 64 * 1024
INPUTS_BUDGET_BYTES = PAYLOAD_LIMIT_BYTES - REQUEST_RESERVE_BYTES


def read_inputs(arguments: list[str], file: str | None, stdin: TextIO, target: str = "TARGET") -> list[str]:
    """The inputs in order (arguments, then the file's), each a string `hpo predict` parses
    as an INPUT argument; a lone `-` argument means stdin, like `--file -`."""
    if arguments == [STDIN] and file is None:
        arguments, file = [], STDIN
    inputs = list(arguments)
    if file is not None:
        inputs += _from_file(file, stdin)
    if not inputs:
        raise UserError(
            "predict needs inputs: give them as arguments, in a file (--file PATH: one per line, "
            "or a .json array), or on stdin (--file - or -)"
        )
    check_size(inputs, hint=(target, file if file not in (None, STDIN) else "INPUTS"))
    return inputs


def _from_file(file: str, stdin: TextIO) -> list[str]:
    where = "stdin" if file == STDIN else file
    try:
        text = stdin.read() if file == STDIN else Path(file).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"--file: {file} does not exist") from None
    except UnicodeDecodeError as error:
        raise UserError(f"--file: {where} is not UTF-8 text ({error.reason} at byte {error.start})") from None
    except OSError as error:
        raise UserError(f"--file: cannot read {where}: {error.strerror or error}") from None
    if file != STDIN and file.endswith(".json"):
        return _json_array(text, where)
    return [line for line in text.splitlines() if line.strip()]


def _json_array(text: str, where: str) -> list[str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise UserError(f"--file: {where} is not JSON (line {error.lineno}: {error.msg})") from None
    if not isinstance(data, list):
        raise UserError(f"--file: {where} must hold a JSON array of inputs, not a {type(data).__name__}")
    # Back to the argument form `hpo predict` parses: a string stays a text, data stays JSON.
    return [item if isinstance(item, str) else json.dumps(item) for item in data]


def encoded_size(inputs: list[str]) -> int:
    """The inputs' size in the request's JSON, at most: data parsed from a string is no longer
    than the string, so encoding each as a string bounds what is sent."""
    return len(json.dumps(inputs, ensure_ascii=False, separators=(",", ":")).encode())


def check_size(
    inputs: list[str], budget: int = INPUTS_BUDGET_BYTES, hint: tuple[str, str] = ("TARGET", "INPUTS")
) -> None:
    """Refuse, before sending, inputs that Temporal would refuse: say the limit and how to split."""
    size = encoded_size(inputs)
    if size <= budget:
        return
    limit = f"{PAYLOAD_LIMIT_BYTES / 2**20:.0f} MiB"
    largest = max(range(len(inputs)), key=lambda i: len(inputs[i].encode()))
    if encoded_size([inputs[largest]]) > budget:
        raise UserError(
            f"input {largest + 1} alone is {_mb(encoded_size([inputs[largest]]))}; one prediction "
            f"request carries at most {_mb(budget)} of inputs (Temporal's payload limit is {limit}): "
            "make it smaller"
        )
    per_request = max(1, math.floor(len(inputs) * budget / size * 0.9))
    raise UserError(
        f"the {len(inputs)} inputs come to {_mb(size)}; one prediction request carries at most "
        f"{_mb(budget)} of inputs (Temporal's payload limit is {limit}): split them into parts of "
        f"about {per_request} inputs, e.g. `split -l {per_request} {hint[1]} part-`, and run "
        f"`hpo predict {hint[0]} --file PART` for each part"
    )


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
