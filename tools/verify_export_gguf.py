#!/usr/bin/env python3
"""verify_export_gguf.py — do slmtune's GGUF exports load in llama.cpp and give slmtune's logits?

Exports the default model (SmolLM2-135M-Instruct Q4_1 GGUF) merged with a trained PEFT adapter
as F16 and Q8_0 GGUF, and the adapter alone as a llama.cpp LoRA GGUF (F16); loads each in
llama.cpp (PyPI llama-cpp-python; the LoRA over the Q4_1 base GGUF), evaluates one token
sequence, and compares llama.cpp's logits with slmtune's (`slmtune logits`):

  merged F16 / Q8_0   vs slmtune's fp32 merge (dequantized base + s B A), and vs slmtune's own
                      load of the same exported file (which isolates llama.cpp's arithmetic)
  F16 base + LoRA     the base model alone exported as F16 GGUF plus the LoRA GGUF, vs
                      slmtune's base + the unmerged adapter: the LoRA export's check, with only
                      F16 rounding and llama.cpp's F16 arithmetic in between
  Q4_1 base + LoRA    the LoRA GGUF over the original Q4_1 file, vs slmtune's dequantized base +
                      the unmerged adapter; and the adapter's effect alone, (base + LoRA) - base
                      in llama.cpp vs the same in slmtune
  base alone          vs slmtune's base: llama.cpp's own error on this Q4_1 file, for scale
  tokenizers          GGUF tokenizer metadata built from the fixture tokenizer.json files
                      (SmolLM2, Llama 3, Qwen 2): llama.cpp's tokenize of the 1,101-string corpus
                      against HF tokenizers' ids (tests/fixtures/tokenizers)
The LoRA checks run twice: for the adapter as trained and for the same weights read as rsLoRA
(use_rslora: true, scale alpha / sqrt(r)), which the export must carry as alpha * sqrt(r).

Numbers printed per pair: max |a - b|, that divided by max |reference| (max relative), and the
share of positions whose top-1 token agrees. Needs llama-cpp-python, numpy and safetensors in
the Python running this (the project venv), and a built slmtune.

    /work/venv/bin/python tools/verify_export_gguf.py [--adapter RUN/adapter] [--build build]

Without --adapter it trains one (recipes/quickstart.yaml, train.max_steps=2) first. Every model
and adapter file is written by `slmtune export` (the base alone: the adapter with B = 0, merged);
the tokenizer GGUFs by test_export_gguf's disabled ExportGgufTool test.
"""
import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np
from safetensors.numpy import load_file

ROOT = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_MODEL = ROOT / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_TEXT = ("<|im_start|>system\nYou are a helpful AI assistant.<|im_end|>\n<|im_start|>user\n"
                "What is a compiler, and how does it differ from an interpreter?<|im_end|>\n"
                "<|im_start|>assistant\nA compiler is a program that translates")


def run(cmd, env=None):
    print("$ " + " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, env=env)


def slmtune_logits(slmtune, out, model, tokens, adapter=None, merge=False):
    cmd = [slmtune, "logits", "--model", model, "--tokens", ",".join(map(str, tokens)), "--out", out]
    if adapter:
        cmd += ["--adapter", adapter]
    if merge:
        cmd += ["--merge"]
    run(cmd)
    return load_file(str(out))["logits"].astype(np.float64)


def llama_cpp_logits(model, tokens, lora=None):
    import llama_cpp
    kwargs = dict(model_path=str(model), logits_all=True, n_ctx=max(64, len(tokens)), n_batch=max(64, len(tokens)),
                  n_threads=2, verbose=False)
    if lora:
        kwargs["lora_path"] = str(lora)
    llm = llama_cpp.Llama(**kwargs)
    llm.eval(tokens)
    logits = np.array(llm.scores[:len(tokens)], dtype=np.float64)
    del llm
    return logits


def compare(name, got, ref):
    assert got.shape == ref.shape, (name, got.shape, ref.shape)
    assert np.all(np.isfinite(got)), name
    diff = np.abs(got - ref)
    max_abs = float(diff.max())
    max_rel = max_abs / float(np.abs(ref).max())
    top1 = float(np.mean(got.argmax(-1) == ref.argmax(-1)))
    print(f"  {name:<64} max abs {max_abs:9.5f}  max rel {max_rel:9.2e}  top-1 {top1 * 100:6.1f}%"
          f" ({int(round(top1 * len(ref)))}/{len(ref)})")
    return max_abs, max_rel, top1


def train_adapter(slmtune, work):
    run([slmtune, "train", ROOT / "recipes" / "quickstart.yaml", "train.max_steps=2", f"output.dir={work}",
         "output.name=verify_gguf", "eval.max_batches=1"])
    return work / "verify_gguf" / "adapter"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--build", type=pathlib.Path, default=ROOT / "build", help="build directory (slmtune, tests/)")
    ap.add_argument("--model", type=pathlib.Path, default=DEFAULT_MODEL)
    ap.add_argument("--adapter", type=pathlib.Path, help="a PEFT adapter directory (default: train one)")
    ap.add_argument("--out", type=pathlib.Path, help="directory for the exports and logits (default: a temp dir)")
    ap.add_argument("--text", default=DEFAULT_TEXT)
    args = ap.parse_args()
    slmtune = args.build / "slmtune"
    tester = args.build / "tests" / "test_export_gguf"
    for p in (slmtune, tester, args.model):
        if not p.exists():
            sys.exit(f"verify_export_gguf.py: {p} not found (build slmtune and test_export_gguf; tools/fetch_models.sh)")
    work = args.out or pathlib.Path(tempfile.mkdtemp(prefix="slmtune_verify_gguf."))
    work.mkdir(parents=True, exist_ok=True)
    adapter = args.adapter or train_adapter(slmtune, work)

    files = export(slmtune, args.model, adapter, work)
    rs_adapter, rs_work = variant(adapter, work / "rslora", rslora=True)
    files["rsLoRA"] = export_one(slmtune, args.model, rs_adapter, rs_work, "gguf-lora", "f16")
    zero_adapter, zero_work = variant(adapter, work / "zero", zero_b=True)
    files["base F16"] = export_one(slmtune, args.model, zero_adapter, zero_work, "gguf", "f16")
    run([tester, "--gtest_also_run_disabled_tests", "--gtest_filter=ExportGgufTool.*"],
        env=dict(os.environ, SLM_VERIFY_OUT=str(work)))

    import llama_cpp
    tokens = [int(t) for t in llama_cpp.Llama(model_path=str(args.model), vocab_only=True, verbose=False)
              .tokenize(args.text.encode(), add_bos=False, special=True)]
    base = slmtune_logits(slmtune, work / "base.safetensors", args.model, tokens)
    merged = slmtune_logits(slmtune, work / "merged.safetensors", args.model, tokens, adapter, merge=True)
    unmerged = {a: slmtune_logits(slmtune, a.parent / "unmerged.safetensors", args.model, tokens, a)
                for a in (adapter, rs_adapter)}
    own = {t: slmtune_logits(slmtune, work / f"own.{t}.safetensors", files[t], tokens) for t in ("F16", "Q8_0")}

    print(f"\nmodel {args.model.name}, adapter {adapter}, {len(tokens)} tokens, vocabulary {base.shape[1]}")
    print(f"llama-cpp-python {llama_cpp.__version__}; reference: slmtune logits (fp32)")
    print("the adapter's own effect (slmtune):")
    compare("base vs merged adapter", base, merged)
    compare("unmerged adapter vs merged adapter", unmerged[adapter], merged)
    print("llama.cpp vs slmtune:")
    results = {}
    for t in ("F16", "Q8_0"):
        got = llama_cpp_logits(files[t], tokens)
        results[t] = compare(f"merged {t} GGUF (llama.cpp) vs slmtune fp32 merge", got, merged)
        compare(f"merged {t} GGUF (llama.cpp) vs slmtune on the same file", got, own[t])
        compare(f"merged {t} GGUF read by slmtune vs slmtune fp32 merge", own[t], merged)
    cpp_base = llama_cpp_logits(args.model, tokens)
    for a, label in ((adapter, "LoRA"), (rs_adapter, "rsLoRA")):
        got = llama_cpp_logits(files["base F16"], tokens, lora=files[label])
        results[f"F16 base + {label}"] = compare(f"F16 base GGUF + {label} F16 GGUF (llama.cpp) vs slmtune unmerged",
                                                 got, unmerged[a])
        got = llama_cpp_logits(args.model, tokens, lora=files[label])
        compare(f"Q4_1 base + {label} F16 GGUF (llama.cpp) vs slmtune unmerged", got, unmerged[a])
        compare(f"  its effect: llama.cpp (+{label} - base) vs slmtune's", got - cpp_base, unmerged[a] - base)
    compare("llama.cpp base alone vs slmtune base (Q4_1, for scale)", cpp_base, base)
    # The exact paths must agree on every top-1 token and to F16 rounding; Q8_0 and the Q4_1 base
    # are reported, their error being the quantization's (and llama.cpp's quantized arithmetic).
    failed = [k for k, (_, max_rel, top1) in results.items() if "Q8_0" not in k and (top1 < 1.0 or max_rel > 1e-2)]
    if failed:
        sys.exit(f"verify_export_gguf.py: llama.cpp disagrees with slmtune beyond F16 rounding for {', '.join(failed)}")
    check_tokenizers(work)
    print("verify_export_gguf.py: every export loads in llama.cpp; F16 paths agree on every top-1 token")


def check_tokenizers(work):
    import llama_cpp
    root = ROOT / "tests" / "fixtures" / "tokenizers"
    strings = json.loads((root / "corpus.json").read_text())["strings"]
    print("tokenizers exported from tokenizer.json, in llama.cpp, vs HF tokenizers' ids:")
    for name in ("smollm2", "llama3", "qwen2"):
        expected = json.loads((root / name / "expected.json").read_text())
        llm = llama_cpp.Llama(model_path=str(work / f"tokenizer.{name}.gguf"), vocab_only=True, verbose=False)
        same = sum(llm.tokenize(s.encode(), add_bos=False, special=True) == expected["ids"][i] for i, s in enumerate(strings) if s)
        # Where transformers' own GGUF path differs from tokenizer.json (Qwen 2's NFC normalizer,
        # which GGUF cannot carry), expected.json's spec_ids hold its ids.
        nfc = expected.get("spec_ids", {})
        same_gguf = sum(llm.tokenize(strings[int(i)].encode(), add_bos=False, special=True) == ids for i, ids in nfc.items())
        with_bos = sum(llm.tokenize(strings[i].encode(), add_bos=True, special=True) == ids
                       for i, ids in zip(expected["special"]["index"], expected["special"]["ids"]) if str(i) not in nfc)
        n_bos = sum(1 for i in expected["special"]["index"] if str(i) not in nfc)
        print(f"  {name:<8} pre {llm.metadata.get('tokenizer.ggml.pre'):<10} {same}/{len(strings) - 1} strings equal"
              f"{f' (the other {len(nfc)} need NFC; equal to the GGUF path: {same_gguf}/{len(nfc)})' if nfc else ''};"
              f" with BOS as the post-processor adds it: {with_bos}/{n_bos}")
        if same + same_gguf != len(strings) - 1 or with_bos != n_bos:
            sys.exit(f"verify_export_gguf.py: llama.cpp tokenizes the exported {name} tokenizer differently")


def export_one(slmtune, model, adapter, out, fmt, dtype):
    """`slmtune export` of one format; returns the .gguf file it wrote."""
    target = out / f"{fmt}-{dtype}"
    run([slmtune, "export", adapter, "--model", model, "--format", fmt, "--dtype", dtype, "--out", target, "--force"])
    written = sorted(target.glob("*.gguf"))
    assert len(written) == 1, written
    return written[0]


def export(slmtune, model, adapter, work):
    return {"F16": export_one(slmtune, model, adapter, work, "gguf", "f16"),
            "Q8_0": export_one(slmtune, model, adapter, work, "gguf", "q8_0"),
            "LoRA": export_one(slmtune, model, adapter, work, "gguf-lora", "f16")}


def variant(adapter, out, rslora=False, zero_b=False):
    """A copy of the adapter in <out>/adapter: read as rsLoRA (use_rslora: true, same weights), or
    with every lora_B zero (merged, that is the base model alone)."""
    from safetensors.numpy import save_file
    (out / "adapter").mkdir(parents=True, exist_ok=True)
    config = json.loads((adapter / "adapter_config.json").read_text())
    config["use_rslora"] = config.get("use_rslora", False) or rslora
    (out / "adapter" / "adapter_config.json").write_text(json.dumps(config, indent=2))
    tensors = load_file(str(adapter / "adapter_model.safetensors"))
    if zero_b:
        tensors = {k: (np.zeros_like(v) if ".lora_B." in k else v) for k, v in tensors.items()}
    save_file(tensors, str(out / "adapter" / "adapter_model.safetensors"))
    return out / "adapter", out


if __name__ == "__main__":
    main()
