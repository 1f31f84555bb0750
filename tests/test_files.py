"""_files.py: the one atomic writer (checkpoints, run files, downloads, the cache, drawings)."""

import json
import os
import stat

import pytest

from chainrule._files import atomic_file, atomic_write, write_json


def test_atomic_write_gives_files_the_usual_mode(tmp_path):
    mask = os.umask(0o022)
    try:
        path = atomic_write(tmp_path / "history.csv", b"epoch\n")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert path.read_bytes() == b"epoch\n"
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]  # no temp file left behind


def test_atomic_write_never_touches_the_process_umask(tmp_path, monkeypatch):
    # The mode comes from open(..., "xb") applying the umask itself; reading the umask would
    # mean setting it, process-wide, for a moment (a race with other threads creating files).
    def forbidden(mask):
        raise AssertionError("os.umask was called")

    monkeypatch.setattr(os, "umask", forbidden)
    path = atomic_write(tmp_path / "run.json", b"{}")
    assert path.read_bytes() == b"{}"


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temp_file(tmp_path):
    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old")
    with pytest.raises(KeyError):
        with atomic_file(path) as f:
            f.write(b"new, half written")
            assert os.path.dirname(f.name) == str(tmp_path) and os.path.exists(f.name)
            raise KeyError("interrupted")
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_nothing_is_at_the_path_until_the_block_ends(tmp_path):
    path = tmp_path / "data.gz"
    with atomic_file(path, suffix=".part") as f:
        f.write(b"payload")
        f.flush()
        assert not path.exists() and f.name.endswith(".part")
        with open(f.name, "rb") as back:  # a download reads its temp file back to verify it
            assert back.read() == b"payload"
    assert path.read_bytes() == b"payload"


def test_write_json_is_indented_with_a_newline_and_reads_back(tmp_path):
    obj = {"name": "Fashion-MNIST × 2", "n": [1, 2], "loss": float("nan")}
    text = write_json(tmp_path / "run.json", obj).read_text(encoding="utf-8")
    assert text.endswith("}\n") and "\n  " in text
    back = json.loads(text)
    assert back["name"] == obj["name"] and back["n"] == [1, 2] and back["loss"] != back["loss"]


def test_only_regular_files_of_bounded_size_are_read(tmp_path):
    from chainrule._files import read_regular_file, regular_file_size

    class Refused(Exception):
        pass

    good = tmp_path / "model.safetensors"
    good.write_bytes(b"x" * 100)
    assert regular_file_size(good, "checkpoint") == 100
    assert read_regular_file(good, "checkpoint", limit=100) == b"x" * 100
    link = tmp_path / "link.safetensors"
    link.symlink_to(good)
    assert read_regular_file(link, "checkpoint", limit=100, error=Refused) == b"x" * 100
    with pytest.raises(Refused, match=r"model.safetensors: the checkpoint file is 100 bytes, more than the 99 bytes"):
        read_regular_file(good, "checkpoint", limit=99, error=Refused)
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(Refused, match=r"pipe: expected a regular image file, got a FIFO \(named pipe\)"):
        read_regular_file(fifo, "image", limit=10, error=Refused)  # stat only: opening would block
    with pytest.raises(Refused, match="got a device"):
        read_regular_file("/dev/zero", "checkpoint", limit=10, error=Refused)
    with pytest.raises(Refused, match="got a folder"):
        regular_file_size(tmp_path, "checkpoint", error=Refused)
    with pytest.raises(Refused, match="no such checkpoint file"):
        regular_file_size(tmp_path / "missing", "checkpoint", error=Refused)
    sparse = tmp_path / "sparse.bin"
    with open(sparse, "wb") as f:
        f.truncate(64 * 1024**3)  # 64 GiB, no blocks on disk
    with pytest.raises(Refused, match=r"64.0 GiB, more than the 1.0 GiB"):
        read_regular_file(sparse, "checkpoint", limit=1024**3, error=Refused)


def test_reading_a_small_file_allocates_what_it_holds_not_the_limit(tmp_path):
    import tracemalloc

    from chainrule._files import read_regular_file

    small = tmp_path / "small.bin"
    small.write_bytes(b"y" * 1000)
    tracemalloc.start()
    try:
        assert read_regular_file(small, "checkpoint", limit=4 * 2**30) == b"y" * 1000
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20, f"{peak} bytes allocated to read 1000"


def _raise(err):
    def fail(*args, **kwargs):
        raise err

    return fail


@pytest.mark.parametrize("step", ["create", "fsync", "replace", "write"])
def test_a_failed_write_names_the_file_not_the_hidden_temp_file(tmp_path, monkeypatch, step):
    import errno

    import chainrule._files as files

    path = tmp_path / "model.safetensors"
    path.write_bytes(b"old")
    full = OSError(errno.ENOSPC, "No space left on device")  # a full disk names no file
    if step == "create":  # what a read-only folder gives, naming the temp file
        monkeypatch.setattr(
            files, "open", _raise(PermissionError(errno.EACCES, "Permission denied", "/x/.m.tmp")), raising=False
        )
    elif step == "fsync":
        monkeypatch.setattr(files.os, "fsync", _raise(full))
    elif step == "replace":
        monkeypatch.setattr(
            files.os, "replace", _raise(OSError(errno.ENOSPC, "No space left on device", "/x/.m.tmp", str(path)))
        )
    else:
        real_open = open

        class FullFile:
            def __init__(self, f):
                self._f, self.name = f, f.name

            def write(self, data):
                raise full

            def __getattr__(self, name):
                return getattr(self._f, name)

            def __enter__(self):
                return self

            def __exit__(self, *exc):
                return self._f.__exit__(*exc)

        monkeypatch.setattr(files, "open", lambda *a, **k: FullFile(real_open(*a, **k)), raising=False)
    with pytest.raises(OSError) as info:
        atomic_write(path, b"new")
    message = str(info.value)
    assert message.startswith(f"{path}: cannot write the file: "), message
    assert ".tmp" not in message and "Errno" not in message
    assert info.value.errno == (errno.EACCES if step == "create" else errno.ENOSPC)
    assert isinstance(info.value, PermissionError) == (step == "create")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes into read-only folders")
def test_a_read_only_folder_is_an_error_naming_the_file(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=f"^{folder / 'run.json'}: cannot write the file: Permission denied$"):
            write_json(folder / "run.json", {})
    finally:
        folder.chmod(0o755)


def test_other_errors_inside_the_block_pass_through_unchanged(tmp_path):
    with pytest.raises(TimeoutError, match="^slow mirror$"):  # a download's own error, not a disk's
        with atomic_file(tmp_path / "data.gz", suffix=".part"):
            raise TimeoutError("slow mirror")


def test_stale_temp_files_of_a_killed_writer_are_removed_by_the_next_write(tmp_path):
    import time

    old = time.time() - 2 * 3600
    names = {
        "stale": ".model.safetensors.0123456789ab.tmp",  # a writer killed two hours ago
        "fresh": ".model.safetensors.ba9876543210.tmp",  # another writer, now
        "other": ".history.csv.0123456789ab.tmp",  # another file's
        "part": ".model.safetensors.0123456789ab.part",  # another kind (a download's)
        "user": "model.safetensors.tmp",  # not a name chainrule makes
    }
    for key, name in names.items():
        (tmp_path / name).write_bytes(b"x")
        if key != "fresh":
            os.utime(tmp_path / name, (old, old))
    atomic_write(tmp_path / "model.safetensors", b"new")
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted([*(n for k, n in names.items() if k != "stale"), "model.safetensors"])
    with atomic_file(tmp_path / "model.safetensors", stale_after=0) as f:  # stale_after is the caller's
        f.write(b"newest")
    assert not (tmp_path / names["fresh"]).exists() and (tmp_path / names["part"]).exists()
