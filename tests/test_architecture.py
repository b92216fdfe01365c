"""The package graph is one-way: core <- oscar <- uis, core <- auth, and gateway assembles them.

Read from the source with ``ast``, imports inside functions and under
``TYPE_CHECKING`` included, so a back-edge fails here before it tangles the tree.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = {"core", "oscar", "auth", "uis", "gateway", "oscar_local", "devstack"}
# What each package may import of ours (besides itself).
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "oscar": {"core"},
    "auth": {"core"},
    "uis": {"core", "oscar"},
    "gateway": {"core", "oscar", "auth", "uis"},
    # The local cluster is a separate program: it shares nothing with the gateway.
    "oscar_local": set(),
    # Launchers of the local stack start the programs; they read the settings' names only.
    "devstack": {"core"},
}
MAX_LINES = 300


def imports_of(path: Path) -> set[str]:
    """Top-level packages of ours that ``path`` imports, anywhere in the module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        found.update(n.split(".")[0] for n in names if n.split(".")[0] in OURS)
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_package_imports_only_what_lies_below_it(package: str) -> None:
    back_edges = {
        f"{path.relative_to(ROOT)} imports {target}"
        for path in modules(package)
        for target in imports_of(path) - ALLOWED[package] - {package}
    }
    assert not back_edges, sorted(back_edges)


def _module_names() -> set[str]:
    names = set()
    for package in OURS:
        for path in modules(package):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def test_every_import_of_ours_names_a_module_of_this_tree() -> None:
    # A stale path (a module that moved) could still import from an older installed copy.
    known = _module_names()
    stale = set()
    for package in [*OURS, "tests", "bench"]:
        for path in modules(package):
            for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
                if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    top = node.module.split(".")[0]
                    if top in OURS and node.module not in known:
                        stale.add(f"{path.relative_to(ROOT)}: {node.module}")
    assert not stale, sorted(stale)


def test_the_checker_sees_function_level_imports(tmp_path: Path) -> None:
    sneaky = tmp_path / "m.py"
    sneaky.write_text("def f():\n    from gateway.app import create_app\n    import auth.oidc\n")
    assert imports_of(sneaky) == {"gateway", "auth"}


@pytest.mark.parametrize(
    "package", ["core", "oscar", "auth", "uis", "gateway", "oscar_local", "devstack", "bench"]
)
def test_no_module_is_over_300_lines(package: str) -> None:
    long = {
        f"{path.relative_to(ROOT)}: {n}"
        for path in modules(package)
        if (n := len(path.read_text().splitlines())) > MAX_LINES
    }
    assert not long, sorted(long)
