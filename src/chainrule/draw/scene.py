"""The graph as items (leaves, operations, the output's end) and wires (one per variable, with its labels)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from chainrule.draw.labels import DIGITS, clean_label, format_value
from chainrule.draw.style import FONT
from chainrule.graph import Variable, topological_order

__all__ = ["Item", "Wire", "build_scene"]


@dataclass(eq=False)
class Item:
    """One thing drawn: a leaf's name, an operation's symbol or the output's end; layout fills in the rest."""

    kind: str  # "leaf" | "op" | "end"
    label: str
    var: Variable | None = None  # a leaf's variable, or the output for "end"
    node: Any = None
    producers: list[Item] = field(default_factory=list)  # the item making each input, in order
    children: list[Item] = field(default_factory=list)  # tree children (layout only)
    col: int = 0
    row: int = 0
    x: float = 0.0
    y: float = 0.0
    left: float = 0.0  # extent left of (x, y)
    right: float = 0.0  # extent right of (x, y)
    half_h: float = 0.0
    shape: str = "none"  # "circle" | "box" | "none"
    font: float = FONT


@dataclass(eq=False)
class Wire:
    """One variable: from the item that makes it to every item that uses it, with its edge labels."""

    var: Variable
    source: Item
    targets: list[Item] = field(default_factory=list)
    value_label: str = ""
    grad_label: str = ""
    # id of a target → the y of the level run its arrow takes, between two rows, to come in from
    # the side that operand order asks for (layout only; other arrows go straight where they can).
    corridors: dict[int, float] = field(default_factory=dict)
    # id of a target → the angles (exclusive) between which its arrow must come in to keep operand
    # order, for a straight arrow that routing may still send around something (layout only).
    entry_angles: dict[int, tuple[float, float]] = field(default_factory=dict)


def build_scene(
    output: Variable, values: bool, grads: bool, digits: int = DIGITS
) -> tuple[list[Item], list[Wire], Item]:
    """The items (in topological order, the end last), the wires and the end item of ``output``'s graph.

    ``values`` / ``grads`` decide which edge labels the wires carry; numbers show ``digits``
    significant digits.
    """
    nodes = topological_order(output)
    op_items: dict[int, Item] = {}
    leaf_items: dict[int, Item] = {}
    wires: dict[int, Wire] = {}
    items: list[Item] = []

    def producer(var: Variable) -> Item:
        if var.creator is not None and id(var.creator) in op_items:
            return op_items[id(var.creator)]
        item = leaf_items.get(id(var))
        if item is None:
            label = clean_label(var.name) if var.name is not None else format_value(var.data, digits=digits)
            item = Item("leaf", label, var=var)
            leaf_items[id(var)] = item
            items.append(item)
        return item

    def wire(var: Variable) -> Wire:
        w = wires.get(id(var))
        if w is None:
            w = wires[id(var)] = Wire(var, producer(var))
        return w

    for node in nodes:
        item = Item("op", clean_label(node.symbol), node=node)
        item.producers = [producer(x) for x in node.inputs]
        op_items[id(node)] = item
        items.append(item)
        for x in node.inputs:
            wire(x).targets.append(item)
    end = Item("end", clean_label(output.name or ""), var=output)
    end.producers = [producer(output)]
    wire(output).targets.append(end)
    items.append(end)

    for w in wires.values():
        var, src = w.var, w.source
        is_leaf = src.kind == "leaf"
        if values and not (is_leaf and var.name is None):  # an unnamed leaf already shows its value
            text = format_value(var.data, digits=digits)
            named = var.name and not is_leaf and w.targets[-1] is not end
            w.value_label = f"{clean_label(var.name)} = {text}" if named else text
        elif not values and var.name and not is_leaf and w.targets[-1] is not end:
            w.value_label = clean_label(var.name)
        if grads and var.grad is not None:
            w.grad_label = format_value(var.grad, digits=digits)
    return items, list(wires.values()), end
