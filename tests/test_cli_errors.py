"""The hostile-input sweep: every user mistake is one clean line on stderr and a non-zero exit code.

Each row of :data:`CASES` is a command line (``{tmp}`` is the test's folder, ``{out}`` the case's
``--out``) and a fragment of the expected message. Every case asserts: exit code 2, the fragment in
the one line on stderr, no traceback, and nothing written — neither under ``{tmp}`` (so earlier outputs
stay untouched) nor the case's ``--out``. The other tests here cover the rest of the boundary:
``--debug`` / ``OMNIMASK_DEBUG=1`` show the traceback, a genuine bug is one ``internal error`` line and
exit 1, and an exception inside the synth writer leaves only whole files, so a rerun equals a straight
run.

Interrupted runs are part of the sweep too, tested beside the code they exercise: a pretokenize killed
mid-split resumes to the same store (``tests/data/test_pretokenize.py::
test_an_interrupted_run_resumes_to_the_same_store``), a sharding killed mid-tar reruns to the same bytes
with no partial file (``tests/data/test_shards.py::
test_an_interrupted_sharding_rerun_completes_with_the_same_bytes_and_no_partial_file``), a synth that
lost a file or left a temporary one renders only that scene again
(``tests/data/test_synthworld_writer.py::test_synth_resumes_without_rewriting``), and a training killed
after a checkpoint or stopped by Ctrl-C resumes exactly (``tests/training/test_loop.py``).
"""

from __future__ import annotations

import errno
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hostile_files import corrupt_safetensors, huge_png

from omnimask.cli import main

SHIPPED = Path(__file__).resolve().parents[1] / "omnimask" / "assets" / "models" / "synth_small"
GEN = "generate --target depth --out {out}"
TINY = "--set data.num_train=8 --set data.num_val=4 --set data.tokenizers=shipped"
#: A folder nobody can create, root included (sysfs refuses mkdir with EPERM; EROFS where /sys is mounted read-only).
UNWRITABLE = "/sys/omnimask_sweep"

CASES = [
    (f"{GEN} --input rgb={{tmp}}/text.png", "not a readable image"),
    (f"{GEN} --input rgb={{tmp}}/empty.jpg", "empty file (0 bytes)"),
    (f"{GEN} --input rgb={{tmp}}/huge.png", "over the 100 MP limit"),
    (f"{GEN} --input rgb={{tmp}}/missing.png", "no image at"),
    ("generate --target tok_rgb --out {out} --input det=garbage", "a box is a mapping"),
    ("generate --target tok_rgb --out {out} --input metadata=garbage", "unknown metadata keys"),
    ("generate --target tok_rgb --out {out} --input color_palette=garbage", "every colour must be (r, g, b)"),
    (f"{GEN} --input caption='{'a red cube ' * 10_000}'", "exceed"),  # 110 kB of caption
    (f"{GEN} --input caption=hi --model {{tmp}}/nomodel", "no model at"),
    (f"{GEN} --input caption=hi --model {{tmp}}/truncated", "model.safetensors"),
    (f"{GEN} --input caption=hi --plan {{tmp}}/missing.yaml", "no plan file"),
    (f"{GEN} --input caption=hi --plan {{tmp}}/bad.yaml", "is not valid YAML"),
    ("generate --target depth --input caption=hi --out {tmp}/afile", "already exists: "),  # checked before
    ("generate --target depth --input caption=hi --out {tmp}/afile/sub", "part of the path is a file"),  # generating
    (f"generate --target depth --input caption=hi --out {UNWRITABLE}", "choose a folder you can write"),
    (f"synth --out {UNWRITABLE} --num 2", "choose a folder you can write"),
    (f"{GEN} --input caption=hi --model {{tmp}}/corrupt", "is not a readable safetensors file"),
    (f"{GEN} --input caption=hi --model {{tmp}}/badjson", "badjson/config.json is not valid JSON"),
    (f"{GEN} --input caption=hi --plan {{tmp}}/list.yaml", "plan schedule.0: expected a mapping"),
    (f"{GEN} --input caption=hi --plan {{tmp}}/steps3.yaml", "plan steps: expected a list of steps"),
    (f"{GEN} --input caption=", "--input caption= is empty"),
    ("generate --target tok_rgb --out {out} --input metadata={{bad}}", "--input metadata={bad}: not valid JSON"),
    (f"{GEN} --input caption=hi --device cuda", "--device cuda: this machine has no such device"),
    (f"{GEN} --input caption=hi --device banana", "is not a torch device"),
    ("generate --target nonsense --input caption=hi --out {out}", "unknown modality 'nonsense'"),
    ("train --recipe synth_tiny --out {out} --set optim.lr=nan", "optim.lr = nan"),
    ("train --recipe synth_tiny --out {out} --set optim.lr=inf", "optim.lr = inf"),
    ("train --recipe synth_tiny --out {out} --set optim.eps=-1", "optim.eps"),
    ("train --recipe synth_tiny --out {out} --set optim.betas=[0.9,1.5]", "optim.betas"),
    ("train --recipe synth_tiny --out {out} --set optim.clip_grad=0", "optim.clip_grad"),
    ("train --recipe synth_tiny --out {out} --set seed=-1", "seed must be >= 0"),
    ("train --recipe synth_tiny --out {out} --set data.num_workers=-2", "data.num_workers must be >= 0"),
    ("train --recipe synth_tiny --out {out} --set data.resolution=70", "data.resolution=70 does not match"),
    ("train --recipe synth_tiny --out {out} --resume", "no checkpoint to continue"),
    ("train --recipe synth_tiny --out {out} --device cuda", "no such device"),
    ("train --recipe synth_tiny --out {out} --set masking.num_input_tokens=100000",
     "masking.num_input_tokens=100000 is more than the modalities hold as inputs"),
    ("train --recipe synth_tiny --out {out} --set masking.num_target_tokens_max=5000",
     "masking.num_target_tokens_max=5000 is more than the modalities hold as targets"),
    ("train --recipe synth_tiny --out {out} --set eval_every=-1", "eval_every must be >= 0"),
    ("train --recipe synth_tiny --out {out} --set save_every=-1", "save_every must be >= 0"),
    ("train --recipe nope --out {out}", "unknown recipe 'nope'"),
    (f"train --recipe synth_tiny --out {{tmp}}/tampered --resume {TINY}", "is not a readable training state"),
    ("train --recipe synth_small --out {tmp}/tampered --resume",
     "recipe: 'synth_tiny' in the checkpoint, 'synth_small' now"),
    ("eval --model {tmp}/nomodel --out {out}", "no model at"),
    ("eval --out {out} --num -1", "--num -1: must be >= 1"),
    ("eval --out {out} --data synth:seed=1,num=0", "num must be >= 1"),
    ("synth --out {out} --num -3", "num=-3 must be >= 0"),
    ("pretokenize {tmp}/missing --out {out}", "not a dataset written by"),
    ("pretokenize {tmp}/ds70 --out {out}", "not the 70px"),
    ("shard {tmp}/missing --out {out}", "is not a folder"),
    ("export {tmp}/nomodel --out {out}", "is not a model folder"),
    (f"convert {shlex.quote(str(SHIPPED))} --out {{out}}", "is already an omnimask model, nothing to convert"),
    ("label {tmp}/missing --out {out}", "is not a folder of images"),
    ("finetune --task object_count --from {tmp}/nomodel --out {out}", "does not exist"),
    ("finetune --task counting --out {out}", "unknown task 'counting'"),
    ("serve --set max_jobs=lots", "max_jobs takes an integer"),
]


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """The inputs of the sweep, made once: bad files, a truncated model, a tampered training state."""
    import shutil

    tmp = tmp_path_factory.mktemp("sweep")
    (tmp / "text.png").write_text("not an image")
    (tmp / "empty.jpg").write_bytes(b"")
    (tmp / "huge.png").write_bytes(huge_png())
    (tmp / "bad.yaml").write_text("steps: [\n")
    (tmp / "list.yaml").write_text("- 1\n- 2\n")
    (tmp / "steps3.yaml").write_text("steps: 3\nfoo: bar\n")
    (tmp / "afile").write_text("x")
    (tmp / "truncated").mkdir()
    shutil.copy(SHIPPED / "config.json", tmp / "truncated" / "config.json")
    (tmp / "truncated" / "model.safetensors").write_bytes((SHIPPED / "model.safetensors").read_bytes()[:5000])
    (tmp / "corrupt").mkdir()
    shutil.copy(SHIPPED / "config.json", tmp / "corrupt" / "config.json")
    (tmp / "corrupt" / "model.safetensors").write_bytes(corrupt_safetensors())
    (tmp / "badjson").mkdir()
    (tmp / "badjson" / "config.json").write_text("{not json")
    (tmp / "badjson" / "model.safetensors").write_bytes(corrupt_safetensors())  # never read: the config comes first
    from omnimask.data.synthworld import SynthWorldConfig, write_dataset

    write_dataset(tmp / "ds70", 2, cfg=SynthWorldConfig(resolution=70), progress=False)
    (tmp / "tampered" / "checkpoint").mkdir(parents=True)

    class Evil:
        def __reduce__(self):
            return (Path(tmp / "pwned").write_text, ("the pickle ran",))

    import pickle

    (tmp / "tampered" / "checkpoint" / "train_state.pt").write_bytes(pickle.dumps({"optimizer": Evil()}))
    from omnimask.config import apply_overrides, save_config
    from omnimask.model import FourM
    from omnimask.recipes import get_recipe

    cfg = apply_overrides(get_recipe("synth_tiny"), [f"out_dir={tmp / 'tampered'}", *TINY.split()[1::2]])
    save_config(cfg, tmp / "tampered" / "checkpoint" / "train_config.json")
    FourM(cfg.model).save_pretrained(tmp / "tampered" / "checkpoint")
    return tmp


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _can_create(path: str) -> bool:
    """Whether this process can make the folder ``path`` (then removed again)."""
    try:
        os.mkdir(path)
    except OSError:
        return False
    os.rmdir(path)
    return True


@pytest.mark.parametrize(("line", "fragment"), CASES, ids=[c[0].split(" --")[0][:40] + f"#{i}"
                                                          for i, c in enumerate(CASES)])
def test_a_user_mistake_is_one_clean_line(prepared, line, fragment, capsys):
    if UNWRITABLE in line and _can_create(UNWRITABLE):
        pytest.skip(f"{UNWRITABLE} can be written here")
    before = _tree(prepared)
    out = f"out{CASES.index((line, fragment))}"
    code = main(shlex.split(line.format(tmp=prepared, out=prepared / out)))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [x for x in err.splitlines() if x.startswith("omnimask ")]
    assert len(lines) == 1 and fragment in lines[0] and err.rstrip().endswith(lines[0]), err
    assert "Traceback" not in err
    after = _tree(prepared)
    assert {k: v for k, v in after.items() if k in before} == before  # earlier files untouched
    made = sorted(set(after) - set(before))
    assert all(m.startswith("tampered/") for m in made), made  # nothing written, not even the case's --out
    assert not (prepared / out).exists()
    assert not (prepared / "pwned").exists()  # the tampered pickle never ran


def _omnimask(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``python -m omnimask ARGS`` in a fresh process (the traceback is printed by the interpreter)."""
    return subprocess.run([sys.executable, "-m", "omnimask", *args], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "OMNIMASK_DEBUG": "", **env})


def test_debug_shows_a_traceback(tmp_path):
    mistake = ["synth", "--out", str(tmp_path / "ds"), "--num", "-3"]
    plain = _omnimask(*mistake)
    assert plain.returncode == 2 and "Traceback" not in plain.stderr
    assert plain.stderr.strip() == "omnimask synth: error: num=-3 must be >= 0 and workers=1 >= 1"
    for shown in (_omnimask("--debug", *mistake), _omnimask(*mistake, OMNIMASK_DEBUG="1")):
        assert shown.returncode == 1, shown.stderr  # the interpreter's exit code for an uncaught exception
        assert "Traceback (most recent call last)" in shown.stderr
        assert "omnimask.config.ConfigError: num=-3 must be >= 0" in shown.stderr


def test_a_bug_is_one_internal_error_line_and_exit_1(tmp_path, monkeypatch, capsys):
    from omnimask.commands import synth

    def buggy(args):
        return 1 // 0

    monkeypatch.setattr(synth, "run", buggy)
    assert main(["synth", "--out", str(tmp_path / "ds")]) == 1
    err = capsys.readouterr().err
    assert err == ("omnimask synth: internal error (ZeroDivisionError: integer division or modulo by zero); rerun "
                   "with --debug for the traceback and report it\n")
    monkeypatch.setenv("OMNIMASK_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        main(["synth", "--out", str(tmp_path / "ds")])


def test_generate_refuses_an_unwritable_out_before_generating(tmp_path, monkeypatch, capsys):
    from omnimask.generation.pipeline import Pipeline

    def never(*args, **kwargs):
        raise AssertionError("generated before checking --out")

    monkeypatch.setattr(Pipeline, "generate", never)
    (tmp_path / "afile").write_text("x")
    assert main(["generate", "--target", "depth", "--input", "caption=hi", "--out", str(tmp_path / "afile")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_a_synth_broken_inside_its_writer_leaves_whole_files_and_a_rerun_equals_a_straight_run(tmp_path, monkeypatch,
                                                                                              capsys):
    from omnimask.data.synthworld import writer
    from omnimask.files import atomic_path

    args = ["synth", "--num", "6", "--resolution", "32", "--seed", "4", "--quiet"]
    assert main([*args, "--out", str(tmp_path / "straight")]) == 0
    real, calls = writer.write_bytes, []

    def disk_full_in_the_fourth_scene(path, data):
        calls.append(path)
        if len(calls) == 3 * len(writer.MODALITY_FILES) + 3:  # the fourth scene's third file, half written
            with atomic_path(path) as tmp:
                tmp.write_bytes(data[: len(data) // 2])
                raise OSError(errno.ENOSPC, "No space left on device")
        return real(path, data)

    monkeypatch.setattr(writer, "write_bytes", disk_full_in_the_fourth_scene)
    out = tmp_path / "again"
    assert main([*args, "--out", str(out)]) == 2
    assert capsys.readouterr().err.strip() == "omnimask synth: error: OSError: [Errno 28] No space left on device"
    straight = _tree(tmp_path / "straight")
    broken = _tree(out)
    assert not [p for p in broken if p.endswith(".tmp")]  # no half-written file
    assert all(broken[p] == straight[p] for p in broken if p != "manifest.json")  # what is there is whole
    assert len(broken) == 1 + 3 * len(writer.MODALITY_FILES) + 2  # the manifest, three scenes, two files
    assert not json.loads(broken["manifest.json"])["complete"]
    monkeypatch.setattr(writer, "write_bytes", real)
    assert main([*args, "--out", str(out)]) == 0
    again = _tree(out)
    assert again.keys() == straight.keys()
    assert all(again[p] == straight[p] for p in straight if p != "config.json")  # config.json names its --out
