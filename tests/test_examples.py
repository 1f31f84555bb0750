"""examples/: the book's seed programs print the book's numbers."""

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run_example(name, *args):
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_buy_apple_prints_book_numbers():
    out = run_example("buy_apple.py")
    assert out.split("\n")[:4] == ["price: 220", "dApple: 2.2", "dApple_num: 110", "dTax: 200"]


def test_buy_apple_orange_prints_book_numbers():
    out = run_example("buy_apple_orange.py").splitlines()
    assert out == ["price: 715", "dApple: 2.2", "dApple_num: 110", "dOrange: 3.3", "dOrange_num: 165", "dTax: 650"]


@pytest.mark.slow
def test_gradient_check_example_passes():
    out = run_example("gradient_check.py", "--random")
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["W1"], ["b1"], ["W2"], ["b2"])]
    assert len(rows) == 4
    for row in rows:
        assert float(row[2]) < 1e-7 and row[-1] == "ok"
    assert "gradient check passed" in out
