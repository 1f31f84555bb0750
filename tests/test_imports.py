"""The package's layout: imports point one way, at module top, and nothing imports the package root.

Each module of ``src/chainrule`` is read with ``ast`` (nothing is imported). The order, from
the front end down to the helpers, is :data:`ORDER`; a module may import chainrule modules of
lower levels only, or modules of its own subpackage (``chainrule.layers.affine`` may import
``chainrule.layers.base``) as long as no import cycle forms.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "chainrule"

#: Levels from the front end down; a module may import only from levels below its own.
ORDER: tuple[tuple[str, ...], ...] = (
    ("cli",),
    ("runs", "book"),
    ("train",),
    ("checkpoint", "draw", "expr"),
    ("graph", "models", "optim", "datasets", "images"),
    ("layers", "gradcheck"),
    ("functions", "windows"),
    ("_rng", "tensorfile", "threads"),
    ("_checks", "_kernels", "_files", "_version", "progress"),
)
LEVEL = {name: i for i, names in enumerate(ORDER) for name in names}
#: Optional or heavy dependencies that may be imported inside a function, where they are used,
#: so that ``import chainrule`` needs NumPy only (safetensors: checkpoints; PIL: predict;
#: platformdirs: the user cache folder; fcntl: run folder locks, POSIX only).
LAZY = {"matplotlib", "torch", "PIL", "tqdm", "safetensors", "platformdirs", "fcntl", "threadpoolctl"}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def imports_of(path: Path) -> list[tuple[str, ast.AST, bool]]:
    """(imported module, node, at module top) for every import in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    top = {id(node) for node in tree.body}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node, id(node) in top) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:  # `from package import name`: the submodule when name is one
                sub = f"{node.module}.{alias.name}"
                found.append((sub if sub in MODULES else node.module, node, id(node) in top))
        elif isinstance(node, ast.ImportFrom) and node.level:
            raise AssertionError(f"{path}: relative import (use absolute imports)")
    return found


def top_name(module: str) -> str:
    """The level key of a chainrule module: chainrule.layers.affine → layers."""
    return module.split(".")[1]


def test_every_module_has_a_level():
    missing = {top_name(m) for m in MODULES if m.count(".") >= 1} - set(LEVEL) - {"__main__"}
    assert not missing, f"add these to ORDER: {sorted(missing)}"


def violations(module: str, path: Path) -> list[str]:
    """What is wrong with the imports of ``module`` (read from ``path``): one line per broken rule."""
    own = top_name(module)
    problems = []
    for target, node, at_top in imports_of(path):
        where = f"{module}:{node.lineno}"
        root = target.split(".")[0]
        if root != "chainrule":
            if not at_top and root not in LAZY:
                problems.append(f"{where}: import {target} inside a function")
            continue
        if not at_top:
            problems.append(f"{where}: chainrule imports belong at module top ({target})")
        if target == "chainrule" or target not in MODULES:
            problems.append(f"{where}: imports the package root")
            continue
        other = top_name(target)
        if other != own and LEVEL[other] <= LEVEL[own]:  # inside one subpackage: see test_no_import_cycles
            problems.append(
                f"{where} imports {target}: {own} (level {LEVEL[own]}) may import only lower levels, "
                f"but {other} is level {LEVEL[other]}"
            )
    return problems


@pytest.mark.parametrize("module", [m for m in MODULES if m not in ("chainrule", "chainrule.__main__")])
def test_imports_point_down_and_sit_at_module_top(module):
    assert violations(module, MODULES[module]) == []


def test_no_import_cycles():
    graph = {
        m: sorted({t for t, _, _ in imports_of(p) if t in MODULES and t != "chainrule"})
        for m, p in MODULES.items()
        if m != "chainrule"
    }
    state: dict[str, int] = {}
    for start in graph:  # iterative depth-first search; state 1 = on the stack, 2 = done
        stack = [(start, iter(graph[start]))]
        if state.get(start):
            continue
        state[start] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state.get(child) == 1:
                cycle = [n for n, _ in stack][[n for n, _ in stack].index(child) :] + [child]
                raise AssertionError("import cycle: " + " → ".join(cycle))
            elif not state.get(child):
                state[child] = 1
                stack.append((child, iter(graph.get(child, ()))))


def test_subcommands_share_only_the_options_module():
    subcommands = [m for m in MODULES if m.startswith("chainrule.cli.") and m != "chainrule.cli.options"]
    assert subcommands
    for module in subcommands:
        cli_imports = {t for t, _, _ in imports_of(MODULES[module]) if t.startswith("chainrule.cli")}
        assert cli_imports <= {"chainrule.cli.options"}, f"{module} imports {sorted(cli_imports)}"


def test_the_checker_catches_what_it_forbids(tmp_path):
    # The rules above must be able to fail: a layer module that breaks each of them.
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import chainrule\n"
        "from chainrule.runs import load_run\n"
        "from chainrule.layers.base import ParameterLayer\n"
        "from chainrule._checks import is_int\n"
        "\n"
        "def f():\n"
        "    import json\n"
        "    import matplotlib\n"
        "    from chainrule.functions import softmax\n"
    )
    found = violations("chainrule.layers.bad", bad)
    assert found == [
        "chainrule.layers.bad:1: imports the package root",
        "chainrule.layers.bad:2 imports chainrule.runs: layers (level 5) may import only lower levels, "
        "but runs is level 1",
        "chainrule.layers.bad:7: import json inside a function",
        "chainrule.layers.bad:9: chainrule imports belong at module top (chainrule.functions)",
    ]
    bad.write_text("from chainrule import graph, Variable\n")
    assert [t for t, _, _ in imports_of(bad)] == ["chainrule.graph", "chainrule"]  # a submodule, the root
