"""``chainrule data`` and the command line's words for a missing data set, run in-process.

In-process (``chainrule.cli.main``) rather than as subprocesses, so that the mirrors, the system
folders and the digests can be pointed at the local HTTP server and tmp_path with the helpers
of test_datasets.py (no network).
"""

from __future__ import annotations

import shutil
import sys

import pytest

from chainrule import datasets
from chainrule.cli import main
from chainrule.datasets import sources
from test_datasets import (
    IDX_FILES,
    TEST_T,
    TEST_X,
    TRAIN_X,
    Env,
    MirrorServer,
    dead_url,
    digests_of,
    isolate,
    make_set,
    serve_official_set,
    serving,
)


@pytest.fixture(autouse=True)
def env(tmp_path, monkeypatch) -> Env:
    """Every place the lookup reads or writes, and every mirror, redirected (as in test_datasets.py)."""
    return isolate(tmp_path, monkeypatch)


@pytest.fixture
def mirror(tmp_path):
    with serving(tmp_path / "served") as server:
        yield server


def run(capsys, *argv):
    """(exit status, stdout, stderr) of ``chainrule ARGV``."""
    status = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    return status, out, err


@pytest.fixture
def fashion_found(env: Env, monkeypatch: pytest.MonkeyPatch):
    """An official-looking Fashion-MNIST in its system folder (as Debian's package installs it)."""
    folder = env.tmp / "system" / "fashion"
    make_set(folder, seed=5)
    monkeypatch.setitem(datasets.DIGESTS, "fashion-mnist", digests_of(folder))
    return folder


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> str:
    url = dead_url()
    monkeypatch.setitem(sources.MIRRORS, "mnist", (url,))
    return url


# --------------------------------------------------------------------------------------------
# A data set that is nowhere, in the command line's words
# --------------------------------------------------------------------------------------------


def test_train_offline_says_what_failed_then_the_ways_out(env, capsys, offline, fashion_found, tmp_path):
    status, out, err = run(capsys, "train", "--out", tmp_path / "run")
    lines = err.splitlines()
    assert status == 2 and out == ""
    assert lines[0] == "chainrule train: error: MNIST is not on this machine and could not be downloaded"
    assert lines[1] == "Ways out:"
    ways = lines[2 : lines.index("Looked in:")]
    assert [way.split()[0] for way in ways] == ["--data-dir", "export", "chainrule", "--dataset", "--dataset"]
    assert ways[0].startswith("  --data-dir DIR  ") and ", ".join(IDX_FILES) in ways[0]
    assert ways[1].startswith("  export CHAINRULE_DATA=DIR  ") and "DIR/mnist/" in ways[1]
    assert ways[2].startswith("  chainrule data download mnist  ")
    assert ways[3].split() == ["--dataset", "fashion-mnist", "found", "in", str(fashion_found)]
    assert ways[4].split()[:2] == ["--dataset", "spiral"]
    assert f"  cache: {env.cache / 'mnist'} (" in err and f"  system: {env.system} (no such folder)" in err
    assert f"Tried, for {TRAIN_X}.gz:\n  {offline}{TRAIN_X}.gz: cannot connect" in err
    for python in ("data_dir=", "load_spiral", "download=False"):  # the library's words stay in Python
        assert python not in err
    assert not (tmp_path / "run").exists()


def test_ways_out_fit_the_command(env, capsys, monkeypatch, offline, fashion_found, tmp_path):
    # A convolutional network needs images: the spiral is no way out.
    status, _, err = run(capsys, "train", "--model", "convnet", "--out", tmp_path / "run")
    assert status == 2 and "--dataset fashion-mnist" in err and "--dataset spiral" not in err
    # Nothing else found: only the spiral is offered.
    shutil.rmtree(fashion_found)
    _, _, err = run(capsys, "train", "--out", tmp_path / "run")
    assert "--dataset fashion-mnist" not in err and "--dataset spiral" in err
    # Fashion-MNIST missing: apt-get is a way out, and MNIST is offered when it is found.
    monkeypatch.setitem(sources.MIRRORS, "fashion-mnist", (offline,))
    make_set(env.system)
    monkeypatch.setitem(datasets.DIGESTS, "mnist", digests_of(env.system))
    _, _, err = run(capsys, "train", "--dataset", "fashion-mnist", "--out", tmp_path / "run")
    assert err.startswith("chainrule train: error: Fashion-MNIST is not on this machine and could not be downloaded\n")
    assert "sudo apt-get install dataset-fashion-mnist" in err
    assert [line.split() for line in err.splitlines() if "--dataset mnist" in line] == [
        ["--dataset", "mnist", "found", "in", str(env.system)]
    ]


def test_eval_offline_asks_for_the_test_files_only(env, capsys, offline, fashion_found, tmp_path):
    status, _, _ = run(capsys, "train", "--dataset", "spiral", "--epochs", "1", "--out", tmp_path / "run")
    assert status == 0
    status, out, err = run(capsys, "eval", tmp_path / "run", "--dataset", "mnist")
    lines = err.splitlines()
    assert status == 2 and out == ""
    assert lines[0] == "chainrule eval: error: MNIST's test files are not on this machine and could not be downloaded"
    assert f"the two files {TEST_X}, {TEST_T}" in lines[2] and TRAIN_X not in err
    assert "--dataset" not in err  # the model's own data set is what eval needs
    assert f"Tried, for {TEST_X}.gz:" in err


def test_resume_offline_offers_no_other_data_set(env, capsys, monkeypatch, offline, fashion_found, tmp_path):
    make_set(env.tmp / "mine")
    monkeypatch.setenv("CHAINRULE_DATA", str(env.tmp / "mine"))
    args = ["--epochs", "1", "--batch-size", "2", "--no-progress"]
    assert run(capsys, "train", *args, "--out", tmp_path / "run")[0] == 0
    monkeypatch.delenv("CHAINRULE_DATA")
    status, _, err = run(capsys, "train", "--resume", tmp_path / "run", "--epochs", "2", "--no-progress")
    assert status == 2 and err.startswith("chainrule train: error: MNIST is not on this machine and could not")
    assert "--data-dir DIR" in err and "--dataset" not in err  # a resumed run keeps its data set


# --------------------------------------------------------------------------------------------
# chainrule data
# --------------------------------------------------------------------------------------------


def test_data_download_list_path_and_verify(env, capsys, mirror: MirrorServer, monkeypatch, fashion_found):
    serve_official_set(mirror, monkeypatch)
    mirror.routes["good"] = "serve"
    monkeypatch.setitem(sources.MIRRORS, "mnist", (mirror.url("good"),))
    folder = env.cache / "mnist"

    status, out, err = run(capsys, "data", "list")
    rows = out.splitlines()
    assert status == 0 and err == ""
    assert rows[0].split() == ["DATA", "SET", "FOLDER", "FILES"]
    assert rows[1].split()[:3] == ["mnist", "-", "not"] and rows[1].endswith("chainrule data download mnist")
    assert rows[2].split()[:2] == ["fashion-mnist", str(fashion_found)]
    assert rows[2].endswith("system folder, verified against the official digests")
    assert rows[3].split()[:2] == ["spiral", "-"] and rows[-1] == f"downloads go to {env.cache}"
    status, _, err = run(capsys, "data", "path", "mnist")
    assert status == 2 and err.startswith("chainrule data: error: MNIST is not on this machine\nWays out:\n")
    assert "chainrule data download mnist" in err and "--data-dir" not in err

    status, out, err = run(capsys, "data", "download", "mnist")
    assert status == 0 and err == ""  # no bar off a terminal
    lines = out.splitlines()
    assert [line.split()[:2] for line in lines[:4]] == [["downloaded", base + ".gz"] for base in IDX_FILES]
    assert all(line.endswith(" KiB, verified)") for line in lines[:4])  # small synthetic files
    assert lines[-1] == f"mnist is in {folder}"
    # The files, and the record of what chainrule downloaded (only those may it ever delete).
    assert sorted(p.name for p in folder.iterdir()) == sorted(
        [".chainrule-downloads.json"] + [b + ".gz" for b in IDX_FILES]
    )
    status, out, _ = run(capsys, "data", "download", "mnist")
    assert status == 0 and out.splitlines()[0] == "nothing to download: the 4 files were there and verified"
    assert len(mirror.requests) == 4

    status, out, _ = run(capsys, "data", "path", "mnist")
    assert (status, out) == (0, f"{folder}\n")
    status, out, _ = run(capsys, "data", "list")
    row = out.splitlines()[1]
    assert row.split()[:2] == ["mnist", str(folder)] and row.endswith(
        "  user cache, verified against the official digests"
    )
    status, out, _ = run(capsys, "data", "verify")
    lines = out.splitlines()
    assert status == 0 and lines[0] == f"mnist: {folder} (user cache)"
    assert lines[1].split() == [TRAIN_X + ".gz", "ok", "(MD5", "of", "the", "gzip", "file)"]
    assert lines[-2] == "spiral: built in, nothing to verify" and lines[-1] == "all 8 files match the official digests"

    # Files chainrule would use that are not the official ones: exit status 1.
    mine = env.tmp / "mine"
    make_set(mine, label_offset=1)
    monkeypatch.setenv("CHAINRULE_DATA", str(mine))
    status, out, _ = run(capsys, "data", "verify", "mnist")
    lines = out.splitlines()
    assert status == 1 and lines[0] == f"mnist: {mine} ($CHAINRULE_DATA)"
    assert sum("MISMATCH" in line for line in lines) == 2  # the label files; the images are the served ones
    assert lines[-1] == "verification FAILED: 2 of 4 files do not match the official digests"
    status, out, _ = run(capsys, "data", "list")
    assert out.splitlines()[1].endswith("$CHAINRULE_DATA, checked for structure only")
    status, out, _ = run(capsys, "data", "verify", "mnist", "--data-dir", folder)
    assert status == 0 and out.splitlines()[0] == f"mnist: {folder} (--data-dir)"


def test_data_download_replaces_a_damaged_file_and_shows_a_bar_on_a_terminal(
    env, capsys, mirror: MirrorServer, monkeypatch
):
    serve_official_set(mirror, monkeypatch)
    mirror.routes["good"] = "serve"
    monkeypatch.setitem(sources.MIRRORS, "mnist", (mirror.url("good"),))
    folder = env.cache / "mnist"
    assert run(capsys, "data", "download", "mnist", "--no-progress")[0] == 0
    (folder / (TEST_T + ".gz")).write_bytes(b"damaged")
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    status, out, err = run(capsys, "data", "download", "mnist")
    assert status == 0
    lines = out.splitlines()
    assert lines[0] == f"removed {folder / (TEST_T + '.gz')} (not the official file)"
    assert lines[1].startswith(f"downloaded {TEST_T}.gz (") and lines[2] == f"mnist is in {folder}"
    assert f"{TEST_T}.gz" in err  # the bar, on stderr
    assert [p for p, _ in mirror.requests][4:] == [f"/good/{TEST_T}.gz"]
    (folder / (TEST_T + ".gz")).unlink()
    _, _, err = run(capsys, "data", "download", "mnist", "--no-progress")
    assert err == ""


def test_data_download_failure(env, capsys, monkeypatch, offline, fashion_found):
    status, out, err = run(capsys, "data", "download", "mnist")
    lines = err.splitlines()
    assert status == 2 and out == ""
    assert lines[0] == f"chainrule data: error: could not download MNIST: no mirror delivered {TRAIN_X}.gz"
    assert "Looked in:" not in err and f"  {offline}{TRAIN_X}.gz: cannot connect" in err
    assert f"into {env.cache / 'mnist'}" in err
    monkeypatch.setitem(sources.MIRRORS, "fashion-mnist", (offline,))
    status, _, err = run(capsys, "data", "download", "fashion-mnist")
    assert (
        status == 2
        and err.splitlines()[-1] == f"Note: fashion-mnist is on this machine all the same, in {fashion_found}"
    )


@pytest.mark.parametrize(
    "argv, message",
    [
        (["data"], "the following arguments are required: ACTION"),
        (["data", "path", "spiral"], "spiral is built in (generated); it has no folder"),
        (["data", "download", "spiral"], "invalid choice: 'spiral'"),
        (["data", "verify", "--data-dir", "."], "--data-dir needs the NAME"),
        (["data", "verify", "spiral", "--data-dir", "."], "--data-dir applies to mnist, fashion-mnist"),
    ],
)
def test_data_usage_errors(env, capsys, argv, message):
    try:
        status = main(argv)
    except SystemExit as exc:  # argparse's own errors
        status = exc.code
    err = capsys.readouterr().err
    assert status == 2 and len(err.strip().splitlines()) == 1 and message in err


def test_data_download_keeps_a_damaged_file_it_did_not_write(env, capsys, mirror: MirrorServer, monkeypatch):
    serve_official_set(mirror, monkeypatch)
    mirror.routes["good"] = "serve"
    monkeypatch.setitem(sources.MIRRORS, "mnist", (mirror.url("good"),))
    folder = env.cache / "mnist"
    shutil.copytree(mirror.root, folder)  # copied in by hand
    bad = folder / (TEST_T + ".gz")
    bad.write_bytes(b"mine")
    status, out, err = run(capsys, "data", "download", "mnist")
    assert status == 2 and out == "" and len(err.splitlines()) == 1
    assert err.startswith("chainrule data: error: MNIST: ") and f"move {bad} away" in err
    assert bad.read_bytes() == b"mine" and mirror.requests == []
