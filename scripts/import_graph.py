"""The package's import graph: its depth, its circles and its arrows that point back up.

    python scripts/import_graph.py            prints the layers, the depth, circles and up-arrows
    python scripts/import_graph.py --check    the same, and exits 1 if there is a circle or an
                                              arrow up (CI runs it through tests/unit/test_layers.py)

Every import counts, at module level or inside a function (a lazy import is still a dependency),
absolute or relative; only imports under `if TYPE_CHECKING:` are left out (they never run). The
layers are DESIGN.md's, from the inside out: a module may import its own layer and the ones
inside it, never one further out.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = "hpo"
ROOT = Path(__file__).resolve().parents[1] / "services" / PACKAGE

# Inside out. A module belongs to the first layer with a prefix that names it or a package above it.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "core: pure search, seeded randomness, process lifetime",
        ("hpo.rng", "hpo.proc", "hpo.search", "hpo.modelsearch", "hpo.study"),
    ),
    ("contracts: what users write and what crosses a boundary", ("hpo.contracts",)),
    (
        "storage and connections: S3, snapshots, checkpoints, the record, Temporal",
        ("hpo.storage", "hpo.connections"),
    ),
    ("telemetry: hpo's own metrics", ("hpo.telemetry",)),
    (
        "the trial seam, the tasks and the framework adapters behind it",
        ("hpo.trial", "hpo.tasks", "hpo.integrations"),
    ),
    ("the pure sweep engine and its money", ("hpo.engine",)),
    ("activities: all non-determinism", ("hpo.activities",)),
    ("workflows: thin orchestration", ("hpo.workflows",)),
    ("results: status, leaderboard, report, export, warm start", ("hpo.results",)),
    ("processes: workers and the embedded stack", ("hpo.workers",)),
    ("the front door: CLI, Python API, following a sweep", ("hpo.cli", "hpo.api", "hpo")),
]


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py")) if "__pycache__" not in p.parts}


def _type_checking_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _type_checking_only(node):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        stack.extend(ast.iter_child_nodes(node))


def edges(known: dict[str, Path]) -> list[Edge]:
    found: list[Edge] = []
    for name, path in known.items():
        is_package = path.name == "__init__.py"
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = name.split(".") if is_package else name.split(".")[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, *([base] if base else [])])
                # `from pkg import mod` depends on the module; `from mod import name` on mod.
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
            for target in targets:
                while target and target not in known:  # `import hpo.search.space` -> that module
                    target = target.rpartition(".")[0]
                if target and target != name and target.split(".")[0] == PACKAGE:
                    found.append(Edge(name, target, node.lineno))
    return sorted(set(found), key=lambda e: (e.source, e.target, e.line))


def layer_of(module: str) -> int:
    for index, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes if p != PACKAGE):
            return index
    return len(LAYERS) - 1  # anything else at the top: the package's own front door


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def longest_chain(graph: dict[str, set[str]], blocked: set[str]) -> list[str]:
    """The longest import chain (modules in a circle are left out: a circle has no depth)."""
    best: dict[str, list[str]] = {}

    def chain(node: str, seen: frozenset[str]) -> list[str]:
        if node in best:
            return best[node]
        longest: list[str] = []
        for child in graph[node]:
            if child in blocked or child in seen:
                continue
            candidate = chain(child, seen | {child})
            if len(candidate) > len(longest):
                longest = candidate
        best[node] = [node, *longest]
        return best[node]

    sys.setrecursionlimit(10_000)
    return max((chain(n, frozenset({n})) for n in sorted(graph) if n not in blocked), key=len, default=[])


def package_of(module: str) -> str:
    """hpo.X for a module in package X or the module X itself (hpo for the package's own __init__)."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Imports between the package's parts (hpo.search, hpo.cli, hpo.trial...), not within one."""
    parts: dict[str, set[str]] = {package_of(m): set() for m in graph}
    for source, targets in graph.items():
        parts[package_of(source)].update(
            package_of(t) for t in targets if package_of(t) != package_of(source)
        )
    return parts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 on a circle or an arrow up")
    args = parser.parse_args()
    known = modules()
    graph: dict[str, set[str]] = {name: set() for name in known}
    all_edges = edges(known)
    for edge in all_edges:
        graph[edge.source].add(edge.target)
    loops = circles(graph)
    up = [e for e in all_edges if layer_of(e.target) > layer_of(e.source)]
    print("layers, inside out:")
    for index, (title, _) in enumerate(LAYERS):
        members = sorted(m for m in known if layer_of(m) == index)
        print(f"  {index + 1}. {title}: {len(members)} modules")
    chain = longest_chain(graph, {m for loop in loops for m in loop})
    print(f"longest import chain ({len(chain)} modules): {' -> '.join(chain)}")
    parts = package_graph(graph)
    part_loops = circles(parts)
    part_chain = longest_chain(parts, {m for loop in part_loops for m in loop})
    print(f"longest chain between parts ({len(part_chain)}): {' -> '.join(part_chain)}")
    for loop in part_loops:
        print(f"parts that import each other (no module circle): {' <-> '.join(loop)}")
    for loop in loops:
        print(f"circle: {' <-> '.join(loop)}")
    for edge in up:
        print(
            f"arrow up: {edge.source} (layer {layer_of(edge.source) + 1}) imports {edge.target} "
            f"(layer {layer_of(edge.target) + 1}), {known[edge.source].relative_to(ROOT.parent)}:{edge.line}"
        )
    print(
        f"modules={len(known)} parts={len(parts)} imports={len(all_edges)} depth={len(chain)} "
        f"parts_depth={len(part_chain)} circles={len(loops)} arrows_up={len(up)}"
    )
    return 1 if args.check and (loops or up) else 0


if __name__ == "__main__":
    sys.exit(main())
