"""examples/notebook.ipynb, executed by Jupyter (nbconvert --execute): what a notebook user sees."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("nbconvert", reason="Jupyter (nbconvert, ipykernel) is in the test extras")
pytest.importorskip("ipykernel", reason="Jupyter (nbconvert, ipykernel) is in the test extras")

NOTEBOOK = Path(__file__).resolve().parents[1] / "examples" / "notebook.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    out = tmp_path_factory.mktemp("nb") / "executed.ipynb"
    env = dict(os.environ, MPLCONFIGDIR=str(out.parent / "mpl"), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "nbconvert", "--to", "notebook", "--execute", "--output", str(out), str(NOTEBOOK)]
    proc = subprocess.run(
        [*cmd, "--ExecutePreprocessor.timeout=300"], capture_output=True, text=True, env=env, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text(encoding="utf-8"))


def code_cells(nb):
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def output_of(nb, fragment):
    """The outputs of the code cell whose source contains ``fragment``."""
    (cell,) = [c for c in code_cells(nb) if fragment in "".join(c["source"])]
    return cell["outputs"]


def text(value):
    return "".join(value) if isinstance(value, list) else value


def test_the_committed_notebook_has_no_outputs():
    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    assert all(c["outputs"] == [] and c["execution_count"] is None for c in code_cells(nb))


def test_every_cell_ran_without_error(executed):
    for cell in code_cells(executed):
        assert not [o for o in cell["outputs"] if o["output_type"] == "error"], cell["source"]


def test_rich_displays(executed):
    (drawing,) = output_of(executed, "draw_graph(price)")
    assert text(drawing["data"]["image/svg+xml"]).startswith("<svg")
    assert text(drawing["data"]["text/plain"]).startswith("<SVGDrawing ")  # not the SVG text
    (network,) = output_of(executed, "net = MultiLayerNet")
    assert "<td>BatchNorm1</td>" in text(network["data"]["text/html"])
    assert text(network["data"]["text/plain"]).startswith("MultiLayerNet(input_size=2, hidden_sizes=[32, 32]")
    (summary,) = output_of(executed, "net.summary()")
    assert summary["name"] == "stdout" and "trainable parameters:" in text(summary["text"])
    (report,) = output_of(executed, "gradient_check(net")
    html = text(report["data"]["text/html"])
    assert "<th>max rel err</th>" in html and "ok (zero gradient)" in html and "gradient check passed" in html
    (cell,) = [c for c in code_cells(executed) if "".join(c["source"]) == "history"]
    (history,) = cell["outputs"]
    assert "<caption>5 epochs; best test acc" in text(history["data"]["text/html"])


def test_training_shows_a_finished_bar_and_one_line_per_epoch(executed):
    outputs = output_of(executed, "trainer.fit(verbose=1)")
    lines = "".join(text(o["text"]) for o in outputs if o["output_type"] == "stream" and o["name"] == "stdout")
    assert [line.split()[1] for line in lines.splitlines()] == ["1/5", "2/5", "3/5", "4/5", "5/5"]
    state = executed["metadata"].get("widgets", {}).get("application/vnd.jupyter.widget-state+json", {})
    bars = [m["state"] for m in state.get("state", {}).values() if m["model_name"] == "FloatProgressModel"]
    if bars:  # ipywidgets: tqdm.auto's widget, left at 100%
        assert [(b["value"], b["max"], b["bar_style"]) for b in bars] == [(40.0, 40.0, "success")]
    else:  # no ipywidgets: tqdm's text bar on stderr, last frame 100%
        err = "".join(text(o["text"]) for o in outputs if o["output_type"] == "stream" and o["name"] == "stderr")
        assert "100%" in err.rsplit("\r", 1)[-1] and "40/40" in err


def test_two_players_display_inline_each_with_its_own_ids(executed):
    import re

    (apple,) = output_of(executed, 'draw_graph(price, format="html")')
    (fan_out,) = output_of(executed, 'draw_graph(z, format="html")')
    pages = [text(o["data"]["text/html"]) for o in (apple, fan_out)]
    for page in pages:
        assert (
            'class="chainrule-player"' in page
            and "<script" in page
            and "http" not in page.replace("http://www.w3.org/2000/svg", "")
        )  # self-contained: nothing fetched
    ids = [set(re.findall(r'id="(chainrule-player-[0-9a-f]+)"', page)) for page in pages]
    assert all(len(i) == 1 for i in ids) and ids[0] != ids[1]  # scoped: two players, two ids
    assert "d(tax) = dout · apple_price = 1 · 200 = 200" in pages[0]
    assert "d(apple_price) = dout · tax = 1 · 1.1 = 1.1" in pages[0]
