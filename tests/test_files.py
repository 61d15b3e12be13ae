"""Atomic folder replacement survives a kill at any point: one complete copy always exists and is found."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from omnimask import files
from omnimask.files import COMPLETE_MARK, atomic_dir, recover_dir


def _write(path, text):
    path.mkdir(parents=True, exist_ok=True)
    (path / "weights").write_text(text)


def test_a_kill_between_the_two_renames_is_recovered_from_the_complete_new_copy(tmp_path):
    ckpt = tmp_path / "checkpoint"
    _write(tmp_path / "checkpoint.old", "step 1")            # the previous copy, moved aside
    _write(tmp_path / "checkpoint.partial", "step 2")        # the new copy, filled and marked
    (tmp_path / "checkpoint.partial" / COMPLETE_MARK).touch()
    assert (recover_dir(ckpt) / "weights").read_text() == "step 2"
    assert not (ckpt / COMPLETE_MARK).exists()


def test_an_unfinished_new_copy_falls_back_to_the_previous_one_and_a_rerun_keeps_it(tmp_path):
    ckpt = tmp_path / "checkpoint"
    _write(tmp_path / "checkpoint.old", "step 1")
    _write(tmp_path / "checkpoint.partial", "half")          # not marked: killed while writing
    assert (recover_dir(ckpt) / "weights").read_text() == "step 1"
    _write(tmp_path / "checkpoint.partial", "half")
    ckpt.rename(tmp_path / "checkpoint.old")                 # the same state again, then a rerun saves
    with pytest.raises(RuntimeError), atomic_dir(ckpt):
        assert (ckpt / "weights").read_text() == "step 1"  # recovered before anything is deleted
        raise RuntimeError("killed while writing step 2")
    assert (ckpt / "weights").read_text() == "step 1"
    with atomic_dir(ckpt) as tmp:
        (tmp / "weights").write_text("step 2")
    assert (ckpt / "weights").read_text() == "step 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_a_kill_after_the_mark_before_the_old_copy_moved_keeps_the_newer_copy(tmp_path):
    ckpt = tmp_path / "checkpoint"
    _write(ckpt, "step 1")                                  # still in place
    _write(tmp_path / "checkpoint.partial", "step 2")        # filled and marked, not yet renamed
    (tmp_path / "checkpoint.partial" / COMPLETE_MARK).touch()
    with pytest.raises(RuntimeError), atomic_dir(ckpt):     # the next save recovers it first ...
        raise RuntimeError("killed while writing step 3")   # ... and fails
    assert (ckpt / "weights").read_text() == "step 2"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


class _Killed(BaseException):
    """A kill -9 at one file-system operation (no cleanup runs)."""


def test_a_kill_at_any_operation_of_a_save_leaves_the_newest_complete_copy(tmp_path, monkeypatch):
    real = {"rmtree": shutil.rmtree, "rename": Path.rename, "unlink": Path.unlink, "touch": Path.touch}
    for kill_at in range(12):
        root = tmp_path / str(kill_at)
        ckpt = root / "checkpoint"
        _write(ckpt, "step 1")
        ops, marked = [], []

        def op(name, kill_at=kill_at, ops=ops, marked=marked):
            def run(*args, **kwargs):
                if len(ops) == kill_at:
                    raise _Killed
                ops.append(name)
                marked.extend([1] if name == "touch" else [])
                return real[name](*args, **kwargs)
            return run

        monkeypatch.setattr(files.shutil, "rmtree", op("rmtree"))
        for name in ("rename", "unlink", "touch"):
            monkeypatch.setattr(Path, name, op(name))
        try:
            with atomic_dir(ckpt) as tmp:
                (tmp / "weights").write_text("step 2")
        except _Killed:
            pass
        monkeypatch.undo()
        assert (recover_dir(ckpt) / "weights").read_text() == ("step 2" if marked else "step 1"), ops
        assert not (ckpt / COMPLETE_MARK).exists()
    assert kill_at > len(ops)  # the last round ran the save to the end


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_written_files_get_the_permissions_of_a_plain_open(tmp_path, umask):
    import os

    import torch

    old = os.umask(umask)
    try:
        weights = files.write_safetensors(tmp_path / "model.safetensors", {"w": torch.zeros(2)})
        text = files.write_text(tmp_path / "config.json", "{}")
    finally:
        os.umask(old)
    assert (weights.stat().st_mode & 0o777) == (text.stat().st_mode & 0o777) == 0o666 & ~umask
