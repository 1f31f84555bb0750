"""The distributions: what a package index and a user of the sdist get (built with ``python -m build``)."""

import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

try:  # tomllib is 3.11+; the metadata checks below need only the text on 3.10
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10
    tomllib = None


def test_one_version_one_license_typed_package():
    assignments = [
        path.relative_to(ROOT).as_posix()
        for path in (ROOT / "src").rglob("*.py")
        if re.search(r"^__version__\s*=", path.read_text(encoding="utf-8"), re.M)
    ]
    assert assignments == ["src/chainrule/_version.py"]
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'version = { attr = "chainrule._version.__version__" }' in text
    if tomllib is not None:
        project = tomllib.loads(text)["project"]
        assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"]
        assert "version" in project["dynamic"] and not any(c.startswith("License ::") for c in project["classifiers"])
    assert (ROOT / "LICENSE").read_text(encoding="utf-8").startswith("MIT License")
    assert (ROOT / "src" / "chainrule" / "py.typed").exists()


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    pytest.importorskip("build", reason="the 'build' package is in the test extras")
    out = tmp_path_factory.mktemp("dist")
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--wheel", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (sdist,) = out.glob("chainrule-*.tar.gz")
    (wheel,) = out.glob("chainrule-*.whl")
    return sdist, wheel, proc.stdout + proc.stderr


def test_the_build_has_no_deprecation_warnings(dists):
    _, _, log = dists
    for warning in ("SetuptoolsDeprecationWarning", "License classifiers are deprecated", "TOML table"):
        assert warning not in log, log


def test_the_sdist_holds_what_its_tests_need(dists):
    sdist, _, _ = dists
    with tarfile.open(sdist) as tar:
        names = {name.split("/", 1)[1] for name in tar.getnames() if "/" in name}
    tests = {n for n in names if n.startswith("tests/test_") and n.endswith(".py")}
    assert tests == {p.relative_to(ROOT).as_posix() for p in (ROOT / "tests").glob("test_*.py")}
    # test_examples.py runs examples/, the benchmark tests import benchmarks/, the checkpoint
    # tests read tests/data/, and the README's pictures are in docs/.
    for folder in ("examples", "benchmarks", "tests/data", "docs"):
        expected = {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*") if p.is_file()}
        expected = {n for n in expected if "__pycache__" not in n}
        assert expected and expected <= names, sorted(expected - names)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for image in re.findall(r"!\[[^\]]*\]\(([^)\s]+)\)", readme):
        assert image.startswith("https://") or image in names, image
    assert {"LICENSE", "README.md", "pyproject.toml", "src/chainrule/py.typed"} <= names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_the_wheel_is_typed_and_licensed(dists):
    _, wheel, _ = dists
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        (metadata,) = [n for n in names if n.endswith(".dist-info/METADATA")]
        meta = zf.read(metadata).decode("utf-8")
    assert "chainrule/py.typed" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert "License-Expression: MIT" in meta and "License-File: LICENSE" in meta
    assert not any(n.startswith(("tests/", "benchmarks/", "examples/")) for n in names)
    with zipfile.ZipFile(wheel) as zf:
        (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
        assert "chainrule = chainrule.cli:main" in zf.read(entry_points).decode("utf-8")
