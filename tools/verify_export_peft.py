#!/usr/bin/env python3
"""verify_export_peft.py — does PEFT load slmtune's PEFT export to slmtune's logits?

The acceptance check of issue 6 for `--format peft`: "PEFT export loaded by peft reproduces
slmtune's logits to 1e-4". For each case it
  1. trains a short run with `slmtune train` (LoRA, rsLoRA, DoRA; all seven linear layers),
  2. exports it with `slmtune export RUN --format peft --out DIR`,
  3. asks `slmtune logits --adapter DIR` for slmtune's logits (the training forward, unmerged),
  4. loads the base with transformers (float32, eager attention) and the export with
     peft.PeftModel.from_pretrained, and compares logits on the same tokens: max abs and max
     relative error (|d| / max(1, |ref|)) against 1e-4.
Cases run on the tiny_chat fixture (an HF directory); with --smollm2 also on the real
SmolLM2-135M-Instruct Q4_1 GGUF, which transformers dequantizes itself (gguf_file=...).
Also checks that `slmtune export` refuses a non-empty --out without --force.

  /work/venv/bin/python tools/verify_export_peft.py [--build build] [--smollm2]
Exit status 1 when a check fails.
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import warnings

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("TQDM_DISABLE", "1")
warnings.filterwarnings("ignore")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import load_file  # noqa: E402

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOLERANCE = 1e-4

CASES = {  # name: extra lora keys
    "lora": {},
    "rslora": {"use_rslora": "true"},
    "dora": {"use_dora": "true"},
}


def recipe(model, name, lora_extra, steps):
    lora = "\n".join(f"  {k}: {v}" for k, v in lora_extra.items())
    return f"""model:
  path: {model}
lora:
  rank: 8
  alpha: 16
  target_modules: [q_proj, k_proj, v_proj, o_proj, gate_proj, up_proj, down_proj]
{lora}
data:
  train: chats.jsonl
  seq_len: 64
train:
  max_steps: {steps}
  micro_batch_size: 2
  learning_rate: 5e-3
  warmup_steps: 0
output:
  dir: runs
  name: {name}
"""


def run(cmd, cwd):
    out = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout + out.stderr


def load_base(model):
    from transformers import AutoModelForCausalLM
    model = pathlib.Path(model)
    if model.suffix == ".gguf":
        return AutoModelForCausalLM.from_pretrained(model.parent, gguf_file=model.name, dtype=torch.float32,
                                                    attn_implementation="eager").eval()
    return AutoModelForCausalLM.from_pretrained(model, dtype=torch.float32, attn_implementation="eager").eval()


def check_case(slmtune, work, model, name, extra, steps, tokens):
    from peft import PeftModel
    name = f"{pathlib.Path(model).stem.split('-')[0].split('.')[0]}_{name}"
    (work / f"{name}.yaml").write_text(recipe(model, name, extra, steps))
    run([slmtune, "train", f"{name}.yaml"], work)
    export = work / f"export_{name}"
    run([slmtune, "export", f"runs/{name}", "--format", "peft", "--out", export, "--force"], work)
    ours_file = work / f"logits_{name}.safetensors"
    run([slmtune, "logits", "--model", model, "--adapter", export, "--tokens", ",".join(map(str, tokens)),
         "--out", ours_file], work)
    ours = load_file(str(ours_file))["logits"]
    peft_model = PeftModel.from_pretrained(load_base(model), str(export)).eval()
    with torch.no_grad():
        ref = peft_model(input_ids=torch.tensor([tokens])).logits[0].numpy()
    with torch.no_grad(), peft_model.disable_adapter():
        base_ref = peft_model(input_ids=torch.tensor([tokens])).logits[0].numpy()
    diff = np.abs(ours - ref)
    rel = (diff / np.maximum(1.0, np.abs(ref))).max()
    moved = np.abs(ref - base_ref).max()
    ok = rel <= TOLERANCE and moved > 100 * max(rel, 1e-7)
    print(f"  {name:18s} max abs {diff.max():.3e}  max rel {rel:.3e}  "
          f"(the adapter moves the logits by {moved:.3e})  {'ok' if ok else 'FAIL'}")
    return ok


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=str(ROOT / "build"))
    ap.add_argument("--smollm2", action="store_true", help="also the real SmolLM2-135M GGUF (slow)")
    args = ap.parse_args()
    slmtune = pathlib.Path(args.build).resolve() / "slmtune"
    models = [(ROOT / "tests" / "fixtures" / "tiny_chat", 30, [3000, 17, 600, 1234, 2999, 5, 77, 3009, 42, 8])]
    if args.smollm2:
        models.append((ROOT / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf", 4,
                       [1, 9690, 198, 2683, 314, 253, 15345, 47, 2, 198]))
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        with open(work / "chats.jsonl", "w") as f:
            for i in range(40):
                f.write('{"messages": [{"role": "user", "content": "What is term %d?"}, {"role": "assistant", '
                        '"content": "Term %d names thing %d of computing."}]}\n' % (i, i, i))
        print(f"PEFT export vs slmtune (tolerance {TOLERANCE:g} relative):")
        for model, steps, tokens in models:
            for name, extra in CASES.items():
                ok &= check_case(slmtune, work, model, name, extra, steps, tokens)
        out = subprocess.run([slmtune, "export", "runs/tiny_chat_lora", "--format", "peft", "--out",
                              work / "export_tiny_chat_lora"],
                             cwd=work, capture_output=True, text=True)
        refused = out.returncode != 0 and "not empty" in out.stderr
        print(f"  a non-empty --out without --force is refused: {'ok' if refused else 'FAIL'}")
        ok &= refused
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
