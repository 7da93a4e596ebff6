"""The package's layers hold: no import circle, no arrow back up (scripts/import_graph.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "import_graph.py"


def test_no_circles_and_no_arrows_up():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, timeout=120
    )
    summary = done.stdout.strip().splitlines()[-1]
    assert done.returncode == 0, done.stdout
    assert "circles=0 arrows_up=0" in summary, summary


def test_the_check_fails_on_a_circle_and_an_arrow_up(tmp_path):
    # The guard is only worth having if it fails: a package whose core imports its front door.
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import import_graph
    finally:
        sys.path.pop(0)
    root = tmp_path / "hpo"
    (root / "search").mkdir(parents=True)
    (root / "cli").mkdir()
    (root / "__init__.py").write_text("")
    (root / "search" / "__init__.py").write_text("")
    (root / "cli" / "__init__.py").write_text("")
    (root / "search" / "space.py").write_text("def f():\n    from ..cli import main\n")
    (root / "cli" / "main.py").write_text("from hpo.search import space\n")
    import_graph.ROOT = root
    known = import_graph.modules()
    graph = {name: set() for name in known}
    edges = import_graph.edges(known)
    for edge in edges:
        graph[edge.source].add(edge.target)
    assert [e for e in edges if import_graph.layer_of(e.target) > import_graph.layer_of(e.source)]
    assert import_graph.circles(graph) == [["hpo.cli.main", "hpo.search.space"]]
