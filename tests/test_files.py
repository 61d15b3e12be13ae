"""Atomic folder replacement survives a kill at any point: one complete copy always exists and is found."""

from __future__ import annotations

import pytest

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
