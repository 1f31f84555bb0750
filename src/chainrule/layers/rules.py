"""Local rules in the book's notation: what a node's forward and backward compute, for people to read.

Each layer class states its rule once, as a class attribute next to its ``backward``::

    class MulLayer:
        rule = LocalRule(inputs=("x", "y"), forward="{x} × {y}", grads=("{dout} · {y}", "{dout} · {x}"))

A template names the layer's arguments (``{x}``, ``{W}``), ``{out}`` (the output), ``{dout}``
(the upstream gradient) and the rule's ``terms``: quantities the layer keeps from its forward
pass (the ReLU's mask, softmax's y), written as their label and valued by the layer's
``rule_values()``. :meth:`LocalRule.fill` fills a template twice, once with names and once with
numbers, so that the interactive page (:mod:`chainrule.draw.steps`) can write "d(tax) = dout ·
apple_price = 1 · 200 = 200"; the last number is always what ``backward`` returned, never
recomputed from the text.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["LocalRule"]

_PLACEHOLDER = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class LocalRule:
    """A node's local computation in words.

    ``inputs``: the names of the layer's arguments in order (for a layer with parameters, the
    parameters follow the data, as the graph's node has them: ``("x", "W", "b")``);
    ``forward``: the output as a formula of the inputs; ``grads``: per input, the formula of its
    gradient (None for an input that gets none, such as labels); ``note``: what the rule does,
    in words ("passes dout through"); ``terms``: name → label of other quantities the formulas
    use, valued by the layer's ``rule_values()``.
    """

    inputs: tuple[str, ...]
    forward: str
    grads: tuple[str | None, ...]
    note: str = ""
    terms: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.grads) != len(self.inputs):
            raise ValueError(f"LocalRule: {len(self.grads)} gradient formulas for {len(self.inputs)} inputs")
        known = {*self.inputs, "out", "dout", *self.terms}
        for text in (self.forward, self.note, *self.terms.values(), *(g for g in self.grads if g)):
            unknown = set(_PLACEHOLDER.findall(text)) - known
            if unknown:
                names = ", ".join(sorted(unknown))
                raise ValueError(f"LocalRule: {text!r} names {names}, which the rule does not have")

    def fill(self, template: str, names: Mapping[str, str], values: Mapping[str, str]) -> tuple[str, str]:
        """``template`` written with names and with values: ``("dout · tax", "1 · 1.1")``.

        ``names`` and ``values`` map the inputs, ``out`` and ``dout`` to text; a term is written
        as its label in the first and as ``values[term]`` in the second (or as its label filled
        with values, when the layer gives it no value: ``{W}ᵀ`` becomes ``[[1, 2]]ᵀ``).
        """

        def with_(table: Mapping[str, str], term_value: bool) -> str:
            def one(m: re.Match[str]) -> str:
                key = m.group(1)
                if key in self.terms:
                    if term_value and key in table:
                        return table[key]
                    return _PLACEHOLDER.sub(lambda n: table[n.group(1)], self.terms[key])
                return table[key]

            return _PLACEHOLDER.sub(one, template)

        return with_(names, False), with_(values, True)
