"""`hpo predict` inputs: from arguments, a file (one per line, or a .json array) or stdin, and
refused before sending when one request could not carry them."""

from __future__ import annotations

import io
import json

import pytest
from test_cli_errors import closed_endpoints, hpo

from hpo.cli.predict_input import (
    INPUTS_BUDGET_BYTES,
    PAYLOAD_LIMIT_BYTES,
    check_size,
    encoded_size,
    read_inputs,
)
from hpo.cli.ui import UserError

NO_STDIN = io.StringIO("")


def test_arguments_alone_are_the_inputs():
    assert read_inputs(["a lovely day", "[0, 3]"], None, NO_STDIN) == ["a lovely day", "[0, 3]"]


def test_a_file_holds_one_input_per_line_after_the_arguments(tmp_path):
    path = tmp_path / "inputs.txt"
    path.write_text('what a lovely day\r\n\n  \n[0, 3, 16]\n{"pixels": [1]}\nlast line no newline')
    assert read_inputs(["first"], str(path), NO_STDIN) == [
        "first",
        "what a lovely day",
        "[0, 3, 16]",
        '{"pixels": [1]}',
        "last line no newline",
    ]


def test_a_json_file_holds_one_array_of_inputs(tmp_path):
    path = tmp_path / "inputs.json"
    path.write_text(json.dumps(["a text", [0, 3, 16], {"pixels": [1, 2]}]))
    inputs = read_inputs([], str(path), NO_STDIN)
    assert inputs == ["a text", "[0, 3, 16]", '{"pixels": [1, 2]}']
    assert json.loads(inputs[1]) == [0, 3, 16]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"not": "a list"}', "must hold a JSON array of inputs, not a dict"),
        ("[1, 2", "is not JSON (line 1"),
    ],
)
def test_a_json_file_that_is_no_array_is_refused(tmp_path, content, message):
    path = tmp_path / "inputs.json"
    path.write_text(content)
    with pytest.raises(UserError, match="--file: .*inputs.json") as refused:
        read_inputs([], str(path), NO_STDIN)
    assert message in str(refused.value)


def test_stdin_by_file_dash_or_a_lone_dash():
    assert read_inputs([], "-", io.StringIO("one\ntwo\n")) == ["one", "two"]
    assert read_inputs(["-"], None, io.StringIO("one\n")) == ["one"]


def test_no_inputs_at_all_says_where_they_can_come_from():
    with pytest.raises(UserError, match="predict needs inputs"):
        read_inputs([], None, NO_STDIN)
    with pytest.raises(UserError, match="predict needs inputs"):
        read_inputs([], "-", io.StringIO("\n\n"))


def test_a_missing_or_binary_file_is_named(tmp_path):
    with pytest.raises(UserError, match="--file: .*nowhere.txt does not exist"):
        read_inputs([], str(tmp_path / "nowhere.txt"), NO_STDIN)
    binary = tmp_path / "weights.bin"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(UserError, match="weights.bin is not UTF-8 text"):
        read_inputs([], str(binary), NO_STDIN)


def test_the_size_is_that_of_the_json_sent_at_most():
    inputs = ['say "hi"', "[0, 3]", "déjà vu"]
    sent = json.dumps(['say "hi"', [0, 3], "déjà vu"], ensure_ascii=False, separators=(",", ":")).encode()
    assert encoded_size(inputs) >= len(sent)
    assert INPUTS_BUDGET_BYTES < PAYLOAD_LIMIT_BYTES == 2 * 1024 * 1024


def test_inputs_over_the_limit_are_refused_with_how_to_split(tmp_path):
    path = tmp_path / "inputs.txt"
    line = "a review that goes on and on " * 10
    path.write_text("\n".join([line] * 12_000))  # about 3.5 MB
    with pytest.raises(UserError) as refused:
        read_inputs([], str(path), NO_STDIN, "s1")
    message = str(refused.value)
    assert "the 12000 inputs come to 3.4 MiB" in message
    assert f"{path} part-`, and run `hpo predict s1 --file PART` for each part" in message
    assert "Temporal's payload limit is 2 MiB" in message and "split -l" in message
    per_part = int(message.split("parts of about ")[1].split()[0])
    assert encoded_size([line] * per_part) <= INPUTS_BUDGET_BYTES < encoded_size([line] * (2 * per_part))


def test_one_input_over_the_limit_is_named():
    with pytest.raises(UserError, match="input 2 alone is 2.4 MiB"):
        check_size(["short", "x" * 2_500_000])


def test_over_the_limit_the_cli_exits_2_before_reaching_any_server(tmp_path):
    path = tmp_path / "big.txt"
    path.write_text(("x" * 1000 + "\n") * 3000)
    result = hpo("predict", "some-sweep", "--file", str(path), env=closed_endpoints())
    assert result.returncode == 2, result.stderr
    said = " ".join(result.stderr.split())
    assert "the 3000 inputs come to" in said and "unreachable" not in said and "Traceback" not in said
