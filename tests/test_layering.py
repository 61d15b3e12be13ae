"""The package's layering policy (DESIGN.md, "Style"), checked on the source with ``ast`` — no imports run.

* Imports flow one way. Each *unit* (the first name below ``omnimask``: ``omnimask.data.shards`` is
  ``data``; ``from omnimask import viz`` is ``viz``; a name of ``omnimask/__init__.py`` is ``__init__``)
  sits on a floor of :data:`FLOORS`; a module may import only units on lower floors, never a unit on
  its own floor (except the pairs of :data:`SAME_FLOOR_ALLOWED`) or above. Function-level and
  ``TYPE_CHECKING`` imports count. The unit graph has no cycle.
* No module is over :data:`MAX_LINES` lines.
* The device string ``"cuda"`` (or ``"cuda:N"``) appears as a literal only in ``training/distributed.py``.

Every violation is printed as ``file:line unit -> unit``.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "omnimask"
#: DESIGN's import order, lowest floor first.
FLOORS: list[list[str]] = [
    # files: checkpoint-folder names and atomic writes; images: reading photos; progress: bars and log lines
    ["config", "modalities", "batch", "viz", "files", "images", "progress", "precision", "devices"],
    ["nn", "metrics"],
    ["tokenizers", "model"],
    ["masking", "data", "compat"],
    ["loading"],
    ["training", "generation"],
    ["recipes"],
    ["evaluation"],
    ["demo", "serve"],
    ["commands", "cli", "__main__", "__init__"],
]
FLOOR = {unit: i for i, units in enumerate(FLOORS) for unit in units}
#: Imports within one floor that are part of the design: (importer, imported) -> why.
SAME_FLOOR_ALLOWED: dict[tuple[str, str], str] = {
    ("__main__", "cli"): "python -m omnimask runs the CLI",
    ("cli", "commands"): "the CLI assembles the subcommand modules",
    ("cli", "__init__"): "omnimask --version reads the package version",
    ("config", "files"): "config.json is written with the one atomic-write helper (files imports nothing)",
    ("devices", "config"): "a missing device is a ConfigError, like every other bad setting",
}
MAX_LINES = 600
CUDA_HOME = PACKAGE / "training" / "distributed.py"
CUDA_LITERAL = re.compile(r"cuda(:\d+)?")


def unit_of(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return "__init__" if parts == ("__init__",) else parts[0]


def imported_units(tree: ast.AST, path: Path, root: Path) -> Iterator[tuple[int, str]]:
    """(line, unit) of every import of the package in ``tree``, at any depth."""
    package = path.relative_to(root.parent).with_suffix("").parts[:-1]  # what ``from .`` means here
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = list(package[: len(package) - node.level + 1]) if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names = [f"{module}.{a.name}" for a in node.names] if module == root.name else [module]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] != root.name or len(parts) == 1:
                continue
            sub = parts[1]
            is_unit = (root / f"{sub}.py").is_file() or (root / sub).is_dir()
            yield node.lineno, sub if is_unit else "__init__"


def modules(root: Path) -> list[Path]:
    return sorted(root.rglob("*.py"))


def import_edges(root: Path) -> list[tuple[str, int, str, str]]:
    """(file, line, importer unit, imported unit) for every import between two units."""
    edges = []
    for path in modules(root):
        unit = unit_of(path, root)
        for line, target in imported_units(ast.parse(path.read_text()), path, root):
            if target != unit:
                edges.append((str(path.relative_to(root.parent)), line, unit, target))
    return edges


def layer_violations(root: Path) -> list[str]:
    out = []
    for file, line, unit, target in import_edges(root):
        a, b = FLOOR.get(unit), FLOOR.get(target)
        if a is None or b is None:
            out.append(f"{file}:{line} {unit} -> {target} (a unit without a floor: add it to FLOORS)")
        elif b > a or (b == a and (unit, target) not in SAME_FLOOR_ALLOWED):
            out.append(f"{file}:{line} {unit} -> {target}")
    return out


def unit_cycles(root: Path) -> list[str]:
    """Each strongly connected group of two or more units (every one reaches every other), sorted."""
    graph: dict[str, set[str]] = {}
    for _, _, unit, target in import_edges(root):
        graph.setdefault(unit, set()).add(target)
        graph.setdefault(target, set())
    reach = {u: _reachable(graph, u) for u in graph}
    groups = {frozenset(v for v in graph if v in reach[u] and u in reach[v]) | {u} for u in graph}
    return sorted("import cycle among units: " + ", ".join(sorted(g)) for g in groups if len(g) > 1)


def _reachable(graph: dict[str, set[str]], start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def long_modules(root: Path) -> list[str]:
    return [f"{p.relative_to(root.parent)}:{n} lines (over {MAX_LINES})"
            for p in modules(root) if (n := len(p.read_text().splitlines())) > MAX_LINES]  # fmt: skip


def cuda_literals(root: Path, allowed: Path) -> list[str]:
    out = []
    for path in modules(root):
        if path == allowed:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and CUDA_LITERAL.fullmatch(node.value):
                out.append(f"{path.relative_to(root.parent)}:{node.lineno} {node.value!r} literal")
    return out


def report(violations: list[str]) -> str:
    print("\n".join(violations))
    return f"{len(violations)} violation(s):\n" + "\n".join(violations)


def test_imports_only_go_down_the_floors():
    violations = layer_violations(PACKAGE)
    assert not violations, report(violations)


def test_no_cycle_between_units():
    cycles = unit_cycles(PACKAGE)
    assert not cycles, report(cycles)


def test_no_module_over_600_lines():
    too_long = long_modules(PACKAGE)
    assert not too_long, report(too_long)


def test_no_cuda_literal_outside_distributed():
    assert CUDA_HOME.is_file()
    found = cuda_literals(PACKAGE, CUDA_HOME)
    assert not found, report(found)


@pytest.fixture()
def planted(tmp_path: Path) -> Path:
    """A miniature package with one violation of each rule."""
    root = tmp_path / "omnimask"
    (root / "data").mkdir(parents=True)
    (root / "__init__.py").write_text("__version__ = '0'\n")
    (root / "modalities.py").write_text("def f():\n    from omnimask.data import x\n")  # function-level, upward
    (root / "data" / "__init__.py").write_text("from ..modalities import f\nfrom . import shards\n")
    (root / "data" / "shards.py").write_text("DEVICE = 'cuda:0'  # cuda in a comment is fine\n" + "x = 1\n" * 600)
    (root / "cli.py").write_text("from omnimask import __version__, data\n")
    return root


def test_the_checks_find_planted_violations(planted: Path):
    assert layer_violations(planted) == ["omnimask/modalities.py:2 modalities -> data"]
    assert unit_cycles(planted) == ["import cycle among units: data, modalities"]
    assert long_modules(planted) == ["omnimask/data/shards.py:601 lines (over 600)"]
    assert cuda_literals(planted, planted / "none.py") == ["omnimask/data/shards.py:1 'cuda:0' literal"]
