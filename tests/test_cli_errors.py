"""The hostile-input sweep: every user mistake is one clean line on stderr and a non-zero exit code.

Each row is a command line (``{tmp}`` is the test's folder, ``{shipped}`` the shipped model) and a
fragment of the expected message. Every case asserts: exit code 2, the fragment, no traceback, and
nothing written under ``{tmp}`` except what the case prepared (so earlier outputs stay untouched).
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
from hostile_files import huge_png

from omnimask.cli import main

SHIPPED = Path(__file__).resolve().parents[1] / "omnimask" / "assets" / "models" / "synth_small"
GEN = "generate --target depth --out {out}"
TINY = "--set data.num_train=8 --set data.num_val=4 --set data.tokenizers=shipped"

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
    ("generate --target depth --input caption=hi --out {tmp}/afile", "File exists"),
    ("generate --target depth --input caption=hi --out {tmp}/afile/sub", "Not a directory"),
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
    ("train --recipe nope --out {out}", "unknown recipe 'nope'"),
    (f"train --recipe synth_tiny --out {{tmp}}/tampered --resume {TINY}", "is not a readable training state"),
    ("train --recipe synth_small --out {tmp}/tampered --resume",
     "recipe: 'synth_tiny' in the checkpoint, 'synth_small' now"),
    ("eval --model {tmp}/nomodel --out {out}", "no model at"),
    ("synth --out {out} --num -3", "num=-3 must be >= 0"),
    ("pretokenize {tmp}/missing --out {out}", "not a dataset written by"),
    ("shard {tmp}/missing --out {out}", "is not a folder"),
    ("export {tmp}/nomodel --out {out}", "is not a model folder"),
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
    (tmp / "afile").write_text("x")
    (tmp / "truncated").mkdir()
    shutil.copy(SHIPPED / "config.json", tmp / "truncated" / "config.json")
    (tmp / "truncated" / "model.safetensors").write_bytes((SHIPPED / "model.safetensors").read_bytes()[:5000])
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


@pytest.mark.parametrize(("line", "fragment"), CASES, ids=[c[0].split(" --")[0][:40] + f"#{i}"
                                                          for i, c in enumerate(CASES)])
def test_a_user_mistake_is_one_clean_line(prepared, line, fragment, capsys):
    before = _tree(prepared)
    out = f"out{CASES.index((line, fragment))}"
    code = main(shlex.split(line.format(tmp=prepared, out=prepared / out)))
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [x for x in err.strip().splitlines() if x.startswith("omnimask ")]
    assert lines and fragment in lines[-1], err
    assert "Traceback" not in err
    after = _tree(prepared)
    assert {k: v for k, v in after.items() if k in before} == before  # earlier files untouched
    made = sorted(set(after) - set(before))
    assert all(m.startswith((f"{out}/", "tampered/")) for m in made), made  # nothing outside the case's --out
    assert not (prepared / "pwned").exists()  # the tampered pickle never ran
