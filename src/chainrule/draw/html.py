"""The interactive page: the drawing as inline SVG, and a player that steps through forward and backward.

One self-contained HTML file (inline SVG, CSS and JavaScript; nothing fetched): the graph is the
built-in layout's SVG, every label tagged with the step at which it appears; the steps' texts
(:mod:`chainrule.draw.steps`, every number computed in Python) are embedded as JSON. The script
only shows and hides: → / space / "Next" step forward, ← / "Back" step back, Home / End jump.

Several players share a Jupyter notebook without touching one another: each fragment has its own
id (the arrowhead's too), its script is one anonymous function that looks up its own root, and it
listens to keys only on that root (the player has focus, or a button inside it).
"""

from __future__ import annotations

import html
import json
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chainrule._files import atomic_write
from chainrule.draw.primitives import Prim
from chainrule.draw.steps import Step
from chainrule.draw.svg import render_svg

__all__ = ["HTMLDrawing", "render_html"]

#: The id of the player in a saved page (one player a page); notebooks get a fresh one each time.
PAGE_ID = "chainrule-player"

_CSS = """
.chainrule-player { font-family: DejaVu Sans, Helvetica, Arial, sans-serif; font-size: 16px; line-height: 1.45;
  color: #222; max-width: 100%; border: 1px solid #ccc; border-radius: 6px; padding: 12px; background: #fff; }
.chainrule-player:focus, .chainrule-player:focus-within { outline: 3px solid #1f77b4; outline-offset: 2px; }
.chainrule-player .cr-controls { display: flex; flex-wrap: wrap; gap: 8px; align-items: center; margin-bottom: 8px; }
.chainrule-player button { font: inherit; font-size: 16px; padding: 4px 12px; border: 1px solid #888;
  border-radius: 4px; background: #f4f4f4; color: #222; cursor: pointer; }
.chainrule-player button:disabled { color: #888; cursor: default; }
.chainrule-player button:focus-visible { outline: 3px solid #1f77b4; }
.chainrule-player .cr-count { margin-left: 8px; color: #444; }
.chainrule-player .cr-figure { overflow: auto; max-height: 70vh; }
.chainrule-player .cr-figure svg { display: block; }
.chainrule-player .cr-hidden { visibility: hidden; }
.chainrule-player .cr-new { font-weight: bold; }
.chainrule-player .cr-current { stroke: #ff7f0e; stroke-width: 3.5px; fill: #fff3e0; }
.chainrule-player text.cr-current { stroke: none; fill: #222; font-weight: bold; }
.chainrule-player .cr-active { stroke: #ff7f0e; stroke-width: 2.5px; }
.chainrule-player .cr-explain { margin-top: 8px; min-height: 4.5em; }
.chainrule-player .cr-title { font-weight: bold; margin: 0; }
.chainrule-player .cr-text { margin: 2px 0; overflow-wrap: anywhere; }
.chainrule-player .cr-details { margin: 2px 0; padding-left: 1.2em; overflow-wrap: anywhere; }
.chainrule-player .cr-help { color: #555; font-size: 14px; margin: 6px 0 0; }
"""

# One anonymous function per player, looking up its own root by id (passed as data, see _fragment):
# no global names, keys only while focus is inside the player.
_JS = """
(function () {
  "use strict";
  var root = document.getElementById(%s);
  if (!root || root.getAttribute("data-ready") === "1") { return; }
  root.setAttribute("data-ready", "1");
  var data = JSON.parse(root.querySelector("script.cr-data").textContent);
  var steps = data.steps;
  var last = steps.length - 1;
  var timed = Array.prototype.slice.call(root.querySelectorAll("[data-at]"));
  var nodes = Array.prototype.slice.call(root.querySelectorAll("[data-node]"));
  var edges = Array.prototype.slice.call(root.querySelectorAll("[data-into]"));
  var title = root.querySelector(".cr-title");
  var text = root.querySelector(".cr-text");
  var details = root.querySelector(".cr-details");
  var count = root.querySelector(".cr-count");
  var buttons = {};
  Array.prototype.forEach.call(root.querySelectorAll("button[data-go]"), function (b) {
    buttons[b.getAttribute("data-go")] = b;
  });
  var step = 0;
  function mark(el, name, on) {
    if (on) { el.classList.add(name); } else { el.classList.remove(name); }
  }
  function render() {
    var s = steps[step];
    timed.forEach(function (el) {
      var at = Number(el.getAttribute("data-at"));
      mark(el, "cr-hidden", at > step);
      mark(el, "cr-new", at === step);
    });
    var node = String(s.node);
    nodes.forEach(function (el) { mark(el, "cr-current", el.getAttribute("data-node") === node); });
    edges.forEach(function (el) { mark(el, "cr-active", el.getAttribute("data-into") === node); });
    title.textContent = s.title;
    text.textContent = s.text;
    while (details.firstChild) { details.removeChild(details.firstChild); }
    s.details.forEach(function (line) {
      var li = document.createElement("li");
      li.textContent = line;
      details.appendChild(li);
    });
    count.textContent = "step " + step + " of " + last;
    buttons.first.disabled = buttons.back.disabled = step === 0;
    buttons.next.disabled = buttons.end.disabled = step === last;
    root.setAttribute("data-step", String(step));
  }
  function go(k) {
    step = Math.max(0, Math.min(last, k));
    render();
  }
  var moves = {
    first: function () { return 0; },
    back: function () { return step - 1; },
    next: function () { return step + 1; },
    end: function () { return last; }
  };
  Object.keys(moves).forEach(function (name) {
    buttons[name].addEventListener("click", function () { go(moves[name]()); });
  });
  root.addEventListener("keydown", function (e) {
    if (e.altKey || e.ctrlKey || e.metaKey) { return; }
    var onButton = e.target && e.target.tagName === "BUTTON";
    if ((e.key === " " || e.key === "Enter") && onButton) { return; }  // the button clicks itself
    if (e.key === "ArrowRight" || e.key === " ") { go(step + 1); }
    else if (e.key === "ArrowLeft") { go(step - 1); }
    else if (e.key === "Home") { go(0); }
    else if (e.key === "End") { go(last); }
    else { return; }
    e.preventDefault();
  });
  render();
})();
"""


def _json_for_script(data: Any) -> str:
    """JSON that cannot end its <script> element or open a comment: <, > and & as \\u escapes."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _tag_attrs(reveal: dict[str, int]) -> Any:
    """The attributes the script reads: data-at (when a label appears), data-node, data-into."""

    def attrs(p: Prim) -> str:
        tag = p.tag
        if not tag:
            return ""
        if tag[0] in "vg":
            kind = "cr-value" if tag[0] == "v" else "cr-grad"
            at = reveal.get(tag)
            return f' class="{kind}" data-at="{at if at is not None else 10**9}"'
        if tag[0] == "n":
            return f' data-node="{tag[1:]}"'
        if tag[0] == "e" and "-" in tag:
            return f' data-into="{tag.split("-", 1)[1]}"'
        return ""

    return attrs


@dataclass(frozen=True)
class _Page:
    """What a player is made of; ``fragment(uid)`` writes it with its own ids."""

    prims: list[Prim]
    title: str
    steps: list[Step]
    reveal: dict[str, int]

    def fragment(self, uid: str) -> str:
        svg = render_svg(self.prims, self.title, attrs=_tag_attrs(self.reveal), marker_id=f"{uid}-arrow")
        data = _json_for_script({"steps": [s.as_json() for s in self.steps]})
        label = html.escape(f"Interactive {self.title}: step through forward and backward propagation", quote=True)
        help_id = f"{uid}-help"
        return (
            f'<div class="chainrule-player" id="{uid}" tabindex="0" role="group" aria-label="{label}" '
            f'aria-describedby="{help_id}" data-step="0">\n'
            f"<style>{_CSS}</style>\n"
            '<div class="cr-controls">'
            '<button type="button" data-go="first" aria-label="Back to the start (Home)">|◀ Start</button>'
            '<button type="button" data-go="back" aria-label="Previous step (Left arrow)">◀ Back</button>'
            '<button type="button" data-go="next" aria-label="Next step (Right arrow or space)">Next ▶</button>'
            '<button type="button" data-go="end" aria-label="Jump to the end (End)">End ▶|</button>'
            f'<span class="cr-count">step 0 of {len(self.steps) - 1}</span></div>\n'
            f'<div class="cr-figure">\n{svg}</div>\n'
            '<div class="cr-explain" aria-live="polite" aria-atomic="true">'
            f'<p class="cr-title">{html.escape(self.steps[0].title)}</p>'
            f'<p class="cr-text">{html.escape(self.steps[0].text)}</p><ul class="cr-details"></ul></div>\n'
            f'<p class="cr-help" id="{help_id}">Keys: → or space next, ← back, Home start, End end '
            "(click the player or tab to it first).</p>\n"
            f'<script type="application/json" class="cr-data">{data}</script>\n'
            f"<script>{_JS % json.dumps(uid)}</script>\n"
            "</div>\n"
        )

    def document(self) -> str:
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(self.title)}</title>\n"
            "<style>body { margin: 16px; background: #fafafa; }</style>\n"
            f"</head>\n<body>\n{self.fragment(PAGE_ID)}</body>\n</html>\n"
        )


class HTMLDrawing(str):
    """A self-contained HTML page (``str``) that plays a graph's forward and backward propagation.

    ``str(drawing)`` is the page, ``drawing.save(path)`` writes it; in Jupyter it displays inline
    (``_repr_html_``), each display with ids of its own so that two players do not interfere.
    """

    _page: _Page

    def __new__(cls, page: _Page) -> HTMLDrawing:
        self = super().__new__(cls, page.document())
        self._page = page
        return self

    @property
    def steps(self) -> list[Step]:
        """The steps the page plays (start, one per node forward, then backward, end)."""
        return list(self._page.steps)

    def _repr_html_(self) -> str:
        return self._page.fragment(f"chainrule-player-{uuid.uuid4().hex[:12]}")

    def __repr__(self) -> str:
        return (
            f"<HTMLDrawing {len(self._page.steps)} steps, {len(self.encode()):,} bytes of HTML; .save(path) writes it>"
        )

    def _repr_pretty_(self, p: Any, cycle: bool) -> None:  # IPython in a terminal
        p.text(repr(self))

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the page to ``path`` atomically (UTF-8); returns the path."""
        return atomic_write(path, self.encode())


def render_html(prims: list[Prim], title: str, steps: list[Step], reveal: dict[str, int]) -> HTMLDrawing:
    """The page of a laid-out drawing (primitives tagged by ``to_primitives``) and its steps."""
    return HTMLDrawing(_Page(prims, title, steps, reveal))
