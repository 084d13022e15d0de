"""Arrows point down: every cf_agent module imports only from its own layer or lower ones.

The layers are declared once, here, lowest first (docs/architecture.md draws the same picture).
Imports are read from the source with `ast`, including imports inside functions and under
`TYPE_CHECKING`, so a lazy import cannot hide an arrow pointing up. Every module must belong
to a layer: a new package is placed here on purpose, not by accident.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "cf_agent"

# Lowest first. A module belongs to the layer of the longest name that is it or its package;
# "cf_agent" itself (the lazy facade of the package root) matches only exactly.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    (
        "base",
        (
            "cf_agent.errors",
            "cf_agent.fileio",
            "cf_agent.lazy",
            "cf_agent.locks",
            "cf_agent.version",
        ),
    ),
    ("audit", ("cf_agent.audit",)),
    ("data", ("cf_agent.data",)),
    ("classifier", ("cf_agent.models.classifier",)),
    ("tools", ("cf_agent.tools",)),
    ("proposers", ("cf_agent.proposers",)),
    ("prompts", ("cf_agent.prompts",)),
    ("backends", ("cf_agent.models",)),
    ("agent", ("cf_agent.agent", "cf_agent.fingerprint")),
    (
        "services",
        (
            "cf_agent.services",
            "cf_agent.study_dir",
            "cf_agent.review",
            "cf_agent.eval",
            "cf_agent.augment",
            "cf_agent.finetune",
            "cf_agent.scale",
        ),
    ),
    ("api", ("cf_agent.api",)),
    ("interface", ("cf_agent", "cf_agent.__main__", "cf_agent.cli", "cf_agent.tui")),
]

# (importer, imported) pairs allowed to point up, each with its reason. Stale entries fail.
KNOWN_EXCEPTIONS: dict[tuple[str, str], str] = {}


def module_name(path: Path, root: Path) -> str:
    parts = [root.name, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(root: Path) -> dict[str, set[str]]:
    """Every module under `root` (a package folder) -> the package's modules it imports."""
    files = {module_name(path, root): path for path in sorted(root.rglob("*.py"))}
    known = set(files)
    found: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                for alias in node.names:
                    submodule = f"{source}.{alias.name}"
                    targets.add(submodule if submodule in known else source)
        found[name] = {t for t in targets if t == root.name or t.startswith(root.name + ".")}
    return found


def layer_of(module: str, layers: list[tuple[str, tuple[str, ...]]] = LAYERS) -> int | None:
    best: tuple[int, int] | None = None  # (length of the matching name, layer index)
    for index, (_, members) in enumerate(layers):
        for member in members:
            inside = module.startswith(member + ".") and "." in member
            if (module == member or inside) and (best is None or len(member) > best[0]):
                best = (len(member), index)
    return None if best is None else best[1]


def violations(
    found: dict[str, set[str]], layers: list[tuple[str, tuple[str, ...]]] = LAYERS
) -> list[str]:
    """One line per import that points from a lower layer up to a higher one."""
    lines = []
    for importer, targets in sorted(found.items()):
        low = layer_of(importer, layers)
        for target in sorted(targets):
            high = layer_of(target, layers)
            if low is None or high is None or high <= low:
                continue
            if (importer, target) in KNOWN_EXCEPTIONS:
                continue
            lines.append(f"{importer} ({layers[low][0]}) imports {target} ({layers[high][0]})")
    return lines


def test_every_module_belongs_to_a_layer() -> None:
    found = imports_of(ROOT)
    assert len(found) > 100
    assert [name for name in found if layer_of(name) is None] == []


def test_imports_point_down_only() -> None:
    assert violations(imports_of(ROOT)) == []


def test_known_exceptions_are_still_needed() -> None:
    found = imports_of(ROOT)
    stale = [pair for pair in KNOWN_EXCEPTIONS if pair[1] not in found.get(pair[0], set())]
    assert stale == []


def test_the_proposer_interface_depends_on_nothing_above_data_and_tools() -> None:
    found = imports_of(ROOT)
    allowed = {"cf_agent.errors", "cf_agent.fileio", "cf_agent.data", "cf_agent.tools"}
    reached = found["cf_agent.proposers"]
    assert reached and all(any(t == a or t.startswith(a + ".") for a in allowed) for t in reached)


@pytest.mark.parametrize(
    ("importer", "source", "upward"),
    [
        ("data/spec.py", "from cf_agent.agent.runner import run_agent\n", True),
        ("data/spec.py", "def f():\n    from ..agent import runner\n", True),
        ("prompts/render.py", "import cf_agent.models.llm.base\n", True),
        ("proposers.py", "from cf_agent.models.llm import base\n", True),
        ("prompts/render.py", "from cf_agent.proposers import ChatMessage\n", False),
        ("cli/__init__.py", "from cf_agent.api import CFAgent\n", False),
        ("agent/runner.py", "from .journal import Journal\n", False),
    ],
)
def test_an_upward_import_is_reported(
    tmp_path: Path, importer: str, source: str, upward: bool
) -> None:
    """A synthetic package with one planted import: the check reports it iff it points up."""
    root = tmp_path / "cf_agent"
    for name in ("agent/runner.py", "agent/journal.py", "models/llm/base.py", "api.py"):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).touch()
    (root / "prompts").mkdir(exist_ok=True)
    (root / "prompts/render.py").touch()
    (root / importer).parent.mkdir(parents=True, exist_ok=True)
    (root / importer).write_text(source, encoding="utf-8")
    found = violations(imports_of(root))
    assert bool(found) is upward, found
