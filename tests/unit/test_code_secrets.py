"""Packing task.code leaves files that look like credentials behind, and says so in one line."""

from __future__ import annotations

import io
import tarfile

from hpo.storage.code_archives import pack

SECRETS = [
    ".env",
    ".env.production",
    ".aws/credentials",
    ".ssh/id_ed25519",
    ".kube/config",
    ".docker/config.json",
    ".netrc",
    ".pgpass",
    "id_rsa",
    "id_rsa.pub",
    "deploy/server.pem",
    "deploy/tls.key",
    "gcp-credentials.json",
    "configs/my-service-account.json",
]


def _names(archive: bytes) -> list[str]:
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        return sorted(tar.getnames())


def test_secret_looking_files_are_left_out_and_named_once(tmp_path):
    code = tmp_path / "code"
    for name in [*SECRETS, "train.py", "configs/model.json", "environment.py"]:
        (code / name).parent.mkdir(parents=True, exist_ok=True)
        (code / name).write_text("x")
    lines: list[str] = []
    archive = pack(code, warn=lines.append)
    assert _names(archive) == ["configs/model.json", "environment.py", "train.py"]
    (line,) = lines
    assert "\n" not in line and "left out 14 file(s) that look like secrets" in line
    for shown in (".aws/", ".ssh/", ".kube/", ".docker/", ".env", ".netrc"):
        assert shown in line
    assert "and 6 more" in line and "add a line !NAME" in line


def test_a_negated_hpoignore_line_ships_one_anyway(tmp_path, capsys):
    code = tmp_path / "code"
    code.mkdir()
    (code / "train.py").write_text("x")
    (code / ".env.example").write_text("LR=0.1\n")
    (code / ".env").write_text("TOKEN=1\n")
    (code / ".hpoignore").write_text("!.env.example\n")
    assert _names(pack(code)) == [".env.example", ".hpoignore", "train.py"]
    err = capsys.readouterr().err  # the default warning goes to stderr, one line
    assert err.count("\n") == 1 and "left out 1 file(s) that look like secrets" in err and ": .env (" in err
