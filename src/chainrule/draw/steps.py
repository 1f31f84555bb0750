"""The interactive page's script: forward and backward propagation as steps, every number computed here.

``build_steps`` walks a recorded graph the way the engine does: forward in topological order, then
backward from ``dL/dL = 1`` in reverse. Each step says which node runs and what it computes, in
the words of the node's :class:`~chainrule.layers.LocalRule` (the one its layer states next to
its ``backward``), filled with the variables' names and numbers:

    × node: d(apple_price) = dout · tax = 1 · 1.1 = 1.1, d(tax) = dout · apple_price = 1 · 200 = 200

The number after the last ``=`` is what the layer's ``backward`` returns for the node's upstream
gradient (the output's ``.grad``), never recomputed from the formula; a variable's total is its
``.grad``. Steps also say when each label of the drawing appears (``reveal``), so the page's
script only shows and hides what Python wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from chainrule.draw.labels import DIGITS, clean_label, format_number, format_value
from chainrule.draw.scene import Item, Wire
from chainrule.graph import Node, Variable

__all__ = ["Step", "build_steps", "summarize"]

MAX_NAME = 24  # characters: a longer formula for an unnamed value is replaced by the node's number


@dataclass
class Step:
    """One state of the page: ``phase`` ("start", "forward", "backward", "end"), the item index of
    the node that runs (-1 for none), a heading, the explanation and further lines."""

    phase: str
    node: int
    title: str
    text: str
    details: list[str] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"phase": self.phase, "node": self.node, "title": self.title, "text": self.text, "details": self.details}


def summarize(value: Any, digits: int = DIGITS) -> str:
    """A number as it is, a small array in full, a larger one as shape, first entries and norm."""
    a = np.asarray(value)
    text = format_value(a, digits=digits)
    if a.size > 4 or a.ndim > 2:
        norm = float(np.linalg.norm(a.astype(np.float64).reshape(-1)))
        text += f", norm {format_number(norm, digits)}"
    return text


def _short(value: Any, digits: int) -> str:
    """A value inside a formula: a number or small array in full, a larger one as shape and two entries."""
    a = np.asarray(value)
    if a.size > 4 or a.ndim > 2:
        return format_value(a, max_items=2, digits=digits)
    return format_value(a, digits=digits)


def _operand(value: Any, digits: int) -> str:
    """A value inside a formula, a negative number in parentheses: −dout · x with dout = -1 reads −(-1) · x."""
    text = _short(value, digits)
    return f"({text})" if text.startswith("-") else text


def _names(nodes: list[Node], output: Variable, digits: int) -> tuple[dict[int, str], set[str]]:
    """id(variable) → the name the explanations use: its own, else its value (inputs) or its formula;
    and the formulas written here (which bring their own parentheses)."""
    names: dict[int, str] = {}
    made: set[str] = set()  # the formulas written here, which bring their own parentheses

    def name(v: Variable) -> str:
        got = names.get(id(v))
        if got is None:
            got = clean_label(v.name) if v.name else format_value(v.data, digits=digits)
            names[id(v)] = got
        return got

    for k, node in enumerate(nodes, start=1):
        args = [name(x) for x in node.inputs]
        out = node.output
        if out is None or out.name:
            continue
        symbol = clean_label(node.symbol)
        if len(args) == 2:
            formula = f"({args[0]} {symbol} {args[1]})"
        elif len(args) == 1 and args[0] in made:
            formula = f"{symbol}{args[0]}"
        else:
            formula = f"{symbol}({', '.join(args)})"
        if len(formula) > MAX_NAME:
            formula = f"{node.op}#{k}"
        else:
            made.add(formula)
        names[id(out)] = formula
    name(output)
    return names, made


def _uses(got: list[tuple[str, Any, int]]) -> str:
    """How a variable with several gradients is used: "feeds 2 nodes" or "is used 2 times" (x * x)."""
    return f"feeds {len(got)} nodes" if len({node for _, _, node in got}) == len(got) else f"is used {len(got)} times"


def _d(name: str, made: set[str]) -> str:
    """The gradient's name: d(tax), d(x × y) rather than d((x × y))."""
    return f"d{name}" if name in made and name.startswith("(") else f"d({name})"


def _unwrapped(text: str) -> str:
    """``text`` without doubled parentheses: exp((x × -1)) → exp(x × -1), ((-0.25)) → (-0.25)."""
    chars = list(text)
    opened: list[int] = []
    match: dict[int, int] = {}
    for i, ch in enumerate(chars):
        if ch == "(":
            opened.append(i)
        elif ch == ")" and opened:
            match[opened.pop()] = i
    drop = {i for i, j in match.items() if i + 1 in match and match[i + 1] == j - 1}
    drop |= {match[i] for i in drop}
    return "".join(ch for i, ch in enumerate(chars) if i not in drop)


def _joined(*parts: str) -> str:
    """``a = b = c`` without doubled parentheses and without a part that repeats the one before it
    (``dout = 1 = 1``; ``(-0.25)`` repeats ``-0.25``)."""
    kept: list[str] = []
    for p in map(_unwrapped, parts):
        if kept and (p in (kept[-1], f"({kept[-1]})") or kept[-1] == f"({p})"):
            kept[-1] = min(p, kept[-1], key=len)
        else:
            kept.append(p)
    return " = ".join(kept)


def build_steps(
    output: Variable, items: list[Item], wires: list[Wire], digits: int = DIGITS
) -> tuple[list[Step], dict[str, int]]:
    """The steps of ``output``'s graph and ``reveal``: tag of a label (``"v3"``, ``"g3"``, as
    :func:`~chainrule.draw.primitives.to_primitives` tags them) → the step at which it appears.

    ``items`` and ``wires`` come from :func:`~chainrule.draw.scene.build_scene`. Backward steps
    are there only where ``backward()`` has run (the output has a ``.grad``).
    """
    op_items = [(i, it.node) for i, it in enumerate(items) if it.kind == "op"]
    nodes = [node for _, node in op_items]
    names, made = _names(nodes, output, digits)
    wire_of = {id(w.var): wi for wi, w in enumerate(wires)}
    reveal: dict[str, int] = {}
    steps: list[Step] = []
    out_name = names[id(output)]

    # Start: the inputs and their values.
    leaves = [w for w in wires if w.source.kind == "leaf"]
    shown = [f"{names[id(w.var)]} = {summarize(w.var.data, digits)}" for w in leaves if w.var.name]
    steps.append(
        Step(
            "start",
            -1,
            "Start",
            f"The graph of {out_name}: {len(nodes)} node{'s' if len(nodes) != 1 else ''}. "
            + (f"Inputs: {'; '.join(shown)}. " if shown else "")
            + "Next (→ or space) runs the nodes forward, one at a time.",
        )
    )
    for w in leaves:
        reveal[f"v{wire_of[id(w.var)]}"] = 0

    # Forward, in topological order.
    for k, (idx, node) in enumerate(op_items, start=1):
        out = node.output
        assert out is not None  # every node of a drawn graph feeds the output, which holds it
        text = _forward_text(node, out, names, digits)
        steps.append(Step("forward", idx, f"Forward {k} of {len(nodes)}", text))
        reveal[f"v{wire_of[id(out)]}"] = len(steps) - 1

    if output.grad is None or not nodes:
        steps.append(
            Step(
                "end",
                -1,
                "Forward done",
                f"{out_name} = {summarize(output.data, digits)}. backward() has not run, so there are no gradients.",
            )
        )
        return steps, reveal

    # Backward, from dL/dL = 1, in reverse order.
    seed = summarize(output.grad, digits)
    steps.append(
        Step(
            "backward",
            len(items) - 1,
            "Backward starts",
            f"Backward starts at the output with dL/dL = {seed}{'' if out_name == 'L' else f' (L = {out_name})'}; "
            "each node multiplies the gradient from its right (dout) by its local derivative.",
        )
    )
    reveal[f"g{wire_of[id(output)]}"] = len(steps) - 1
    uses: dict[int, int] = {}
    for node in nodes:
        for x in node.inputs:
            uses[id(x)] = uses.get(id(x), 0) + 1
    received: dict[int, list[tuple[str, Any, int]]] = {}
    for k, (idx, node) in enumerate(reversed(op_items), start=1):
        out = node.output
        assert out is not None and out.grad is not None
        step = Step("backward", idx, f"Backward {k} of {len(nodes)}", "")
        contributions = [None if g is None else np.array(g, copy=True) for g in node.backward(out.grad)]
        step.text, note = _backward_text(node, out, contributions, names, made, digits)
        if note:
            step.details.append(note)
        steps.append(step)
        at = len(steps) - 1
        symbol = clean_label(node.symbol)
        for x, g in zip(node.inputs, contributions, strict=True):
            if g is None or x.is_constant:
                continue
            got = received.setdefault(id(x), [])
            got.append((symbol, g, id(node)))
            if len(got) == uses[id(x)] or x.grad is None:
                reveal[f"g{wire_of[id(x)]}"] = at
                if len(got) > 1:
                    parts = " + ".join(f"{_short(v, digits)} (from {s})" for s, v, _ in got)
                    step.details.append(
                        f"{names[id(x)]} {_uses(got)}, so its gradients add up: "
                        f"{_d(names[id(x)], made)} = {parts} = {summarize(x.grad, digits)}"
                    )
    finals = [
        f"{_d(names[id(w.var)], made)} = {summarize(w.var.grad, digits)}"
        for w in leaves
        if not w.var.is_constant and w.var.grad is not None
    ]
    steps.append(Step("end", -1, "Done", "Backward done. The gradients of the inputs: " + "; ".join(finals) + "."))
    return steps, reveal


def _tables(node: Node, out: Variable, dout: Any, names: dict[int, str], digits: int) -> tuple[dict, dict]:
    """The names and the numbers a rule's templates are filled with."""
    rule = node.rule
    assert rule is not None
    name_table = {"out": names[id(out)], "dout": "dout"}
    value_table = {"out": _operand(out.data, digits)}
    if dout is not None:
        value_table["dout"] = _operand(dout, digits)
    for key, x in zip(rule.inputs, node.inputs, strict=True):
        name_table[key] = names[id(x)]
        value_table[key] = _operand(x.data, digits)
    term_values = getattr(node.layer, "rule_values", None)
    if rule.terms and term_values is not None:
        for key, v in term_values().items():
            value_table[key] = _operand(v, digits)
    return name_table, value_table


def _usable(node: Node) -> bool:
    return node.rule is not None and len(node.rule.inputs) == len(node.inputs)


def _forward_text(node: Node, out: Variable, names: dict[int, str], digits: int) -> str:
    symbol = clean_label(node.symbol)
    result = summarize(out.data, digits)
    if not _usable(node):
        return f"{symbol} node: {names[id(out)]} = {result}"
    rule = node.rule
    assert rule is not None
    name_table, value_table = _tables(node, out, None, names, digits)
    value_table.pop("out")
    by_names, by_values = rule.fill(rule.forward, name_table, value_table)
    head = f"{names[id(out)]} = " if out.name else ""  # an unnamed value's name is the formula itself
    return f"{symbol} node: {head}{_joined(by_names, by_values, result)}"


def _backward_text(
    node: Node, out: Variable, contributions: list[Any], names: dict[int, str], made: set[str], digits: int
) -> tuple[str, str]:
    """The rule with its numbers, and the rule's note in words ("passes dout through")."""
    symbol = clean_label(node.symbol)
    lines: list[str] = []
    usable = _usable(node)
    rule = node.rule
    if usable:
        assert rule is not None
        name_table, value_table = _tables(node, out, out.grad, names, digits)
    for i, (x, g) in enumerate(zip(node.inputs, contributions, strict=True)):
        if g is None or x.is_constant:
            continue
        head = _d(names[id(x)], made)
        template = rule.grads[i] if usable and rule is not None else None
        if template is None:
            lines.append(f"{head} = {summarize(g, digits)}")
            continue
        by_names, by_values = rule.fill(template, name_table, value_table)
        lines.append(f"{head} = {_joined(by_names, by_values, summarize(g, digits))}")
    text = f"{symbol} node: " + (", ".join(lines) if lines else "no gradient to pass on (its inputs are constants)")
    note = ""
    if usable and rule is not None and rule.note:
        note = f"The {symbol} node {rule.fill(rule.note, name_table, value_table)[0]}."
    return text, note
