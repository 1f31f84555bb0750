"""Graphviz: the scene as DOT source, and the ``dot`` program as an alternative engine for SVG and PNG."""

from __future__ import annotations

import html
import shutil
import subprocess

from chainrule.draw.labels import DIGITS, check_digits
from chainrule.draw.scene import build_scene
from chainrule.draw.style import GRAD_COLOR
from chainrule.graph import Variable

__all__ = ["run_graphviz", "to_dot"]


def _dot_html(text: str) -> str:
    return html.escape(text, quote=True)


def to_dot(output: Variable, *, values: bool = True, grads: bool = True, digits: int = DIGITS) -> str:
    """Graphviz source for the graph (``dot -Tsvg``): circles for operations, edge labels with the
    value on top and the gradient below in red, numbers to ``digits`` significant digits."""
    items, wires, end = build_scene(output, values, grads, check_digits(digits, "to_dot"))
    ids = {id(item): f"n{i}" for i, item in enumerate(items)}
    lines = [
        "digraph chainrule {",
        '  rankdir=LR; ordering=in; bgcolor="white";',
        '  node [fontname="Helvetica"]; edge [fontname="Helvetica", arrowsize=0.7];',
    ]
    for item in items:
        label = _dot_html(item.label) or " "
        if item.kind == "op":
            shape = "circle" if len(item.label) <= 4 else "box, style=rounded"
            lines.append(f"  {ids[id(item)]} [shape={shape}, label=<{label}>];")
        else:
            lines.append(f"  {ids[id(item)]} [shape=plaintext, label=<{label}>];")
    for i, w in enumerate(wires):
        parts = [_dot_html(w.value_label)] if w.value_label else []
        if w.grad_label:
            parts.append(f'<FONT COLOR="{GRAD_COLOR}">{_dot_html(w.grad_label)}</FONT>')
        label = f"label=<{'<BR/>'.join(parts)}>" if parts else ""
        src = ids[id(w.source)]
        if len(w.targets) == 1:
            lines.append(f"  {src} -> {ids[id(w.targets[0])]}" + (f" [{label}]" if label else "") + ";")
        else:  # a variable used more than once: one labelled stem, then a branch point
            lines.append(f"  b{i} [shape=point, width=0.06];")
            lines.append(f"  {src} -> b{i} [{', '.join(filter(None, [label, 'arrowhead=none']))}];")
            lines.extend(f"  b{i} -> {ids[id(t)]};" for t in w.targets)
    lines.append("}")
    return "\n".join(lines) + "\n"


def run_graphviz(dot_text: str, fmt: str) -> bytes:
    """The output of Graphviz's ``dot -T{fmt}`` for ``dot_text``.

    Raises ``FileNotFoundError`` when ``dot`` is not on PATH and ``ChildProcessError`` when it fails.
    """
    exe = shutil.which("dot")
    if exe is None:
        raise FileNotFoundError(
            "draw_graph: engine='graphviz' needs the Graphviz 'dot' program on PATH "
            "(install Graphviz, or use the built-in engine, which needs nothing)"
        )
    proc = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=60, check=False)
    if proc.returncode != 0:
        raise ChildProcessError(f"draw_graph: Graphviz failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout
