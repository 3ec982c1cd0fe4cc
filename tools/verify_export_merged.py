#!/usr/bin/env python3
"""verify_export_merged.py — does transformers load slmtune's merged HF export to slmtune's logits?

The acceptance check of issue 6 for `--format merged`: "Merged export loaded by transformers
reproduces slmtune's merged logits to 1e-4". First, HF tokenizers reads the tokenizer.json files
slmtune wrote in test_tokenizer (TokenizerWrite) and must give the fixtures' ids. Then every
fixture model (tests/fixtures/llama/*) is
exported without an adapter and transformers' logits on the export are compared with the fixture's
own transformers logits. Then for each model (a tiny fixture and the real SmolLM2-135M-Instruct
Q4_1 GGUF by default) it:
  1. takes a PEFT adapter (a fixture adapter, --adapter DIR, or a seeded random one on all seven
     linear layers, big enough to move the logits),
  2. exports base + adapter merged (`slmtune export --format merged`, checkpoints/export_hf.h),
  3. asks `slmtune logits --merge` for slmtune's merged logits on a token sequence,
  4. loads the export with transformers (AutoModelForCausalLM, float32, eager attention) and
     compares its logits: max abs and max relative error (|d| / max(1, |ref|)), against 1e-4;
     also against PEFT applying the adapter unmerged on transformers' own load of the base,
  5. for models with a real tokenizer: AutoTokenizer on the export against slmtune's tokenizer —
     every corpus string of tests/fixtures/tokenizers (ids slmtune's test_tokenizer holds equal)
     and chat-template renderings tokenized by `slmtune logits --text` — plus the chat template,
     eos / end-of-turn ids in generation_config.json.

Exports are made as a user makes them: `slmtune export ADAPTER_DIR --format merged --model BASE
--out DIR --dtype DTYPE` (which calls write_hf_model_dir). The fixture models have no tokenizer, so
their base is a copy with the Qwen 2 fixture tokenizer beside it.

Run with the project's venv (torch, transformers, peft, gguf, safetensors):
  /work/venv/bin/python tools/verify_export_merged.py [--build build-hf] [--dtype f32]
  /work/venv/bin/python tools/verify_export_merged.py --model M --adapter DIR --dtype bf16
For F16 / BF16 exports the distance to slmtune's fp32 merged logits is the rounding of the weights
(printed for information); the check is then that transformers and `slmtune logits` loading the
same narrowed export agree to 1e-3 (tests/model's tolerance for the real model; fp32 summation-order
noise over SmolLM2's 30 layers is about 1e-4: transformers' merged and PEFT's unmerged forward of
the same weights differ by that much). Exit status 1 when a check fails.
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile

import warnings

os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF de-quantization progress bar
warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from safetensors.numpy import load_file, save_file  # noqa: E402
from transformers.utils import logging as hf_logging  # noqa: E402

hf_logging.disable_progress_bar()

ROOT = pathlib.Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
SMOLLM2 = ROOT / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"
MODULES = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
TOLERANCE = 1e-4         # the acceptance line: f32 merged export vs slmtune's merged logits
NARROW_TOLERANCE = 1e-3  # both loading one F16/BF16 export: tests/model's real-model tolerance

CONVERSATIONS = [
    [{"role": "user", "content": "What is a compiler?"}],
    [{"role": "system", "content": "You answer in one sentence."},
     {"role": "user", "content": "Define FOLDOC, and give 3 examples of 42-bit words."},
     {"role": "assistant", "content": "FOLDOC is the Free On-line Dictionary of Computing."},
     {"role": "user", "content": "Thanks! Ünïcödé ✓ 12345 \t tabs\n\nnew lines"}],
]


def run(cmd, env=None):
    result = subprocess.run([str(c) for c in cmd], env=env, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, cmd))}\n{result.stdout}\n{result.stderr}")
    return result.stdout


def dims(model):
    """(layers, hidden, intermediate, heads, kv heads, head_dim, vocab) of an HF dir or a GGUF."""
    if model.suffix == ".gguf":
        from gguf import GGUFReader
        r = GGUFReader(str(model))
        get = lambda k: int(r.fields[k].parts[r.fields[k].data[0]][0])
        d, h = get("llama.embedding_length"), get("llama.attention.head_count")
        hd = get("llama.attention.key_length") if "llama.attention.key_length" in r.fields else d // h
        return (get("llama.block_count"), d, get("llama.feed_forward_length"), h,
                get("llama.attention.head_count_kv"), hd, len(r.fields["tokenizer.ggml.tokens"].data))
    c = json.loads((model / "config.json").read_text())
    h = c["num_attention_heads"]
    return (c["num_hidden_layers"], c["hidden_size"], c["intermediate_size"], h,
            c.get("num_key_value_heads", h), c.get("head_dim", c["hidden_size"] // h), c["vocab_size"])


def random_adapter(model, out_dir, rank=8, alpha=16, seed=0, zero_b=False):
    """A PEFT adapter on all seven linear layers: A kaiming-uniform like PEFT, B ~ N(0, 0.05)
    (or B = 0, PEFT's initialization)."""
    layers, d, f, h, g, e, _ = dims(model)
    shapes = {"q_proj": (h * e, d), "k_proj": (g * e, d), "v_proj": (g * e, d), "o_proj": (d, h * e),
              "gate_proj": (f, d), "up_proj": (f, d), "down_proj": (d, f)}
    rng = np.random.default_rng(seed)
    tensors = {}
    for i in range(layers):
        for m in MODULES:
            out, inp = shapes[m]
            part = "mlp" if m in ("gate_proj", "up_proj", "down_proj") else "self_attn"
            key = f"base_model.model.model.layers.{i}.{part}.{m}"
            bound = 1.0 / np.sqrt(inp)
            tensors[key + ".lora_A.weight"] = rng.uniform(-bound, bound, (rank, inp)).astype(np.float32)
            b = np.zeros((out, rank)) if zero_b else rng.normal(0.0, 0.05, (out, rank))
            tensors[key + ".lora_B.weight"] = b.astype(np.float32)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / "adapter_model.safetensors"), metadata={"format": "pt"})
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": alpha,
              "target_modules": MODULES, "lora_dropout": 0.0, "bias": "none", "use_rslora": False,
              "use_dora": False, "modules_to_save": None, "fan_in_fan_out": False,
              "base_model_name_or_path": str(model)}
    (out_dir / "adapter_config.json").write_text(json.dumps(config, indent=2))
    return out_dir


def fixture_adapter(case, out_dir):
    """tests/fixtures/lora/<case>: adapter_config.json + final.safetensors as a PEFT directory."""
    src = FIXTURES / "lora" / case
    out_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "adapter_config.json", out_dir / "adapter_config.json")
    save_file(load_file(str(src / "final.safetensors")), str(out_dir / "adapter_model.safetensors"),
              metadata={"format": "pt"})
    return out_dir


def base_with_tokenizer(args, model):
    """The fixture models have no tokenizer: a copy of the fixture with the Qwen 2 fixture tokenizer
    beside it (an HF directory as a user would have one). Other models as they are."""
    if model.suffix == ".gguf" or (model / "tokenizer.json").exists():
        return model
    base = args.work / f"base-{model.name}"
    shutil.rmtree(base, ignore_errors=True)
    shutil.copytree(model, base, ignore=shutil.ignore_patterns("reference.safetensors"))
    for name in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(FIXTURES / "tokenizers" / "qwen2" / name, base / name)
    return base


def export(args, model, adapter, out_dir, dtype):
    """`slmtune export ADAPTER --format merged --model BASE`; without an adapter, one with B = 0
    (merging adds exact zeros: the export is the base model)."""
    if adapter is None:
        adapter = random_adapter(model, args.work / f"adapter-zero-{model.name}", zero_b=True)
    run([args.build / "slmtune", "export", adapter, "--format", "merged", "--model", model, "--out", out_dir,
         "--dtype", dtype, "--force"])
    return sorted(p.name for p in out_dir.iterdir())


def slmtune_logits(args, model, adapter, tokens=None, text=None, merge=True):
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "logits.safetensors"
        cmd = [args.build / "slmtune", "logits", "--model", model, "--out", out]
        cmd += ["--tokens", ",".join(map(str, tokens))] if tokens is not None else ["--text", text]
        if adapter:
            cmd += ["--adapter", adapter] + (["--merge"] if merge else [])
        run(cmd)
        t = load_file(str(out))
        return t["logits"], t["tokens"].astype(np.int64)


def errors(got, want):
    """Max abs and max relative error, relative = |d| / max(1, |want|) (as tests/model does)."""
    d = np.abs(got.astype(np.float64) - want.astype(np.float64))
    return d.max(), (d / np.maximum(1.0, np.abs(want.astype(np.float64)))).max()


def transformers_logits(model, tokens):
    with torch.no_grad():
        return model(torch.tensor([tokens])).logits[0].float().numpy()


def load_hf(path, **kw):
    from transformers import AutoModelForCausalLM
    return AutoModelForCausalLM.from_pretrained(str(path), dtype=torch.float32, attn_implementation="eager", **kw).eval()


def check_tokenizer(args, model, out_dir, report):
    """AutoTokenizer on the export against slmtune's tokenizer; returns the number of mismatches."""
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(out_dir))
    corpus = json.loads((FIXTURES / "tokenizers" / "corpus.json").read_text())["strings"]
    expected = json.loads((FIXTURES / "tokenizers" / "smollm2" / "expected.json").read_text())
    bad = 0
    for i, s in enumerate(corpus):  # slmtune's ids = HF's ids of SmolLM2's own tokenizer (test_tokenizer)
        ids = tok(s, add_special_tokens=False)["input_ids"]
        want_text = expected["decoded"].get(str(i), s)
        if ids != expected["ids"][i] or tok.decode(ids) != want_text:
            bad += 1
            if bad <= 3:
                report(f"  corpus[{i}] {s!r}: transformers {ids} != slmtune {expected['ids'][i]}")
    report(f"tokenizer: {len(corpus) - bad}/{len(corpus)} corpus strings encode and decode the same in "
           f"transformers (AutoTokenizer on the export) and slmtune")
    strings = [tok.apply_chat_template(c, tokenize=False, add_generation_prompt=True) for c in CONVERSATIONS]
    strings += ["The year 2024 had 366 days.", "def f(x):\n    return x**2  # 3.14159", "naïve café"]
    same = 0
    for s in strings:
        _, ours = slmtune_logits(args, model, None, text=s)
        theirs = tok(s)["input_ids"]
        if list(ours) == theirs:
            same += 1
        else:
            bad += 1
            report(f"  {s!r}: transformers {theirs} != slmtune {list(ours)}")
    chat = tok.apply_chat_template(CONVERSATIONS[1], tokenize=True, add_generation_prompt=True)
    chat = chat["input_ids"] if isinstance(chat, dict) or hasattr(chat, "keys") else chat
    if list(chat) != tok(strings[1])["input_ids"]:
        bad += 1
        report("  apply_chat_template(tokenize=True) differs from tokenizing the rendered text")
    report(f"tokenizer: {same}/{len(strings)} strings incl. {len(CONVERSATIONS)} chat-template renderings tokenize "
           f"the same with slmtune (`slmtune logits --text`) and transformers")
    gen = json.loads((out_dir / "generation_config.json").read_text())
    eos = gen["eos_token_id"] if isinstance(gen["eos_token_id"], list) else [gen["eos_token_id"]]
    eot = tok.convert_tokens_to_ids("<|im_end|>")
    report(f"tokenizer: eos_token {tok.eos_token!r} (id {tok.eos_token_id}), bos_token {tok.bos_token!r}, "
           f"generation_config eos_token_id {gen['eos_token_id']} (<|im_end|> = {eot}: "
           f"{'included' if eot in eos else 'MISSING'}); chat template {'present' if tok.chat_template else 'MISSING'}")
    bad += (eot not in eos) + (not tok.chat_template)
    return bad, chat


def verify(args, name, model, adapter, tokens, dtype, report, tokenizer=False):
    """Exports and compares; returns (False when a check fails, the tokens scored)."""
    out_dir = args.work / f"{name}-{dtype}"
    shutil.rmtree(out_dir, ignore_errors=True)
    files = export(args, model, adapter, out_dir, dtype)
    shown = lambda p: p.relative_to(ROOT) if p.is_relative_to(ROOT) else p  # noqa: E731
    report(f"== {name}: base {shown(model)}, adapter {shown(adapter) if adapter else 'none'}, export dtype {dtype}")
    report(f"export: {', '.join(files)}")
    ok = True
    if tokenizer:
        bad, chat = check_tokenizer(args, model, out_dir, report)
        ok = bad == 0
        tokens = list(chat)  # score the rendered conversation
    merged, _ = slmtune_logits(args, model, adapter, tokens=tokens, merge=True)
    hf = load_hf(out_dir)
    exported = transformers_logits(hf, tokens)
    abs_err, rel_err = errors(exported, merged)
    good = rel_err <= TOLERANCE if dtype == "f32" else True
    ok = ok and good
    report(f"logits [{len(tokens)}, {merged.shape[1]}]: transformers(export) vs slmtune merged: max abs {abs_err:.3e}, "
           f"max rel {rel_err:.3e}, max abs / max |logit| {abs_err / np.abs(merged).max():.3e} "
           f"(|logit| up to {np.abs(merged).max():.1f})"
           + (f" -> {'PASS' if good else 'FAIL'} at {TOLERANCE:g}" if dtype == "f32" else " (rounded weights: informational)"))
    if dtype != "f32":  # the narrowed export itself: slmtune and transformers must load it alike
        own, _ = slmtune_logits(args, out_dir, None, tokens=tokens)
        a, r = errors(exported, own)
        good = r <= NARROW_TOLERANCE
        ok = ok and good
        report(f"logits: transformers(export) vs slmtune loading the same {dtype} export: max abs {a:.3e}, max rel {r:.3e}"
               f" -> {'PASS' if good else 'FAIL'} at {NARROW_TOLERANCE:g}")
    if adapter is not None and dtype == "f32":
        from peft import PeftModel
        base = load_hf(model.parent, gguf_file=model.name) if model.suffix == ".gguf" else load_hf(model)
        peft = PeftModel.from_pretrained(base, str(adapter)).eval()
        reference = transformers_logits(peft, tokens)
        a, r = errors(exported, reference)
        a2, r2 = errors(merged, reference)
        report(f"logits: transformers(export) vs PEFT unmerged on transformers' base: max abs {a:.3e}, max rel {r:.3e}; "
               f"slmtune merged vs PEFT: max abs {a2:.3e}, max rel {r2:.3e}")
        with peft.disable_adapter():
            plain = transformers_logits(peft, tokens)
        a3, _ = errors(plain, reference)
        report(f"logits: the adapter moves transformers' logits by up to {a3:.3e} (so the check is not vacuous)")
    return ok, tokens


def check_fixture_exports(args, report):
    """Every fixture model (no adapter) exported in f32: transformers' logits on the export equal
    the fixture's reference logits, which transformers computed from the original files."""
    ok = True
    for fixture in sorted(p for p in (FIXTURES / "llama").iterdir() if p.is_dir()):
        out_dir = args.work / f"fixture-{fixture.name}-plain"
        shutil.rmtree(out_dir, ignore_errors=True)
        export(args, base_with_tokenizer(args, fixture), None, out_dir, "f32")
        model = load_hf(out_dir)
        ref = load_file(str(fixture / "reference.safetensors"))
        worst, b = 0.0, 0
        while f"input_ids_{b}" in ref:
            got = transformers_logits(model, [int(t) for t in ref[f"input_ids_{b}"].reshape(-1)])
            worst = max(worst, errors(got, ref[f"logits_{b}"].reshape(got.shape))[0])
            b += 1
        ok &= worst <= TOLERANCE
        report(f"fixture {fixture.name} ({model.config.rope_parameters['rope_type']} rope, "
               f"{'tied' if model.config.tie_word_embeddings else 'untied'}): export loaded by transformers vs the "
               f"fixture's transformers logits: max abs {worst:.3e} over {b} sequences")
    return ok


def check_written_tokenizers(args, report):
    """HF tokenizers on the tokenizer.json files test_tokenizer's TokenizerWrite tests wrote
    (every fixture tokenizer and the GGUF-spec SmolLM2 one), against the fixtures' HF ids."""
    from tokenizers import Tokenizer
    written = args.build / "test_tokenizer_write_tmp"
    if not written.exists():
        report(f"{written} is missing (run test_tokenizer first); skipped the written tokenizers")
        return True
    corpus = json.loads((FIXTURES / "tokenizers" / "corpus.json").read_text())["strings"]
    ok = True
    for name, source in [("edge", "edge"), ("llama3", "llama3"), ("qwen2", "qwen2"), ("smollm2", "smollm2"),
                         ("smollm2_spec", "smollm2")]:
        tok = Tokenizer.from_file(str(written / name / "tokenizer.json"))
        expected = json.loads((FIXTURES / "tokenizers" / source / "expected.json").read_text())
        bad = sum(tok.encode(s, add_special_tokens=False).ids != expected["ids"][i] for i, s in enumerate(corpus))
        special = expected["special"]
        bad += sum(tok.encode(corpus[i]).ids != ids for i, ids in zip(special["index"], special["ids"]))
        ok &= bad == 0
        report(f"tokenizer.json written by slmtune from {name}: HF tokenizers gives the fixture's ids for "
               f"{len(corpus) + len(special['index']) - bad}/{len(corpus) + len(special['index'])} encodings "
               f"(corpus, and with special tokens)")
    return ok


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", type=pathlib.Path, default=ROOT / "build", help="build dir with slmtune")
    p.add_argument("--work", type=pathlib.Path, default=None, help="where the exports go (default: BUILD/verify_export_merged)")
    p.add_argument("--model", type=pathlib.Path, help="one model instead of the default pair")
    p.add_argument("--adapter", type=pathlib.Path, help="PEFT adapter for --model (default: a seeded random one)")
    p.add_argument("--dtype", choices=["f32", "f16", "bf16", "all"], default="all")
    args = p.parse_args()
    args.build = args.build.resolve()
    args.work = (args.work or args.build / "verify_export_merged").resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    lines = []

    def report(line):
        print(line, flush=True)
        lines.append(line)

    dtypes = ["f32", "bf16", "f16"] if args.dtype == "all" else [args.dtype]
    ok = True
    if args.model:
        model = base_with_tokenizer(args, args.model.resolve())
        adapter = args.adapter.resolve() if args.adapter else random_adapter(model, args.work / "adapter-random")
        real = model == SMOLLM2.resolve()  # its tokenizer is the fixtures' SmolLM2 tokenizer
        tokens = None if real else [int(t) for t in np.random.default_rng(1).integers(0, dims(model)[6], 32)]
        for dtype in dtypes:
            good, tokens = verify(args, model.stem, model, adapter, tokens, dtype, report, tokenizer=tokens is None)
            ok &= good
    else:
        ok &= check_written_tokenizers(args, report)
        ok &= check_fixture_exports(args, report)
        fixture = base_with_tokenizer(args, FIXTURES / "llama" / "mha_tied")
        adapter = fixture_adapter("train_default", args.work / "adapter-train_default")
        tokens = [int(t) for t in np.random.default_rng(1).integers(0, dims(fixture)[6], 24)]
        for dtype in dtypes:
            good, _ = verify(args, "fixture-mha_tied", fixture, adapter, tokens, dtype, report)
            ok &= good
        if SMOLLM2.exists():
            adapter = random_adapter(SMOLLM2, args.work / "adapter-smollm2-random")
            tokens = None  # the first run checks the tokenizer and scores a rendered conversation
            for dtype in dtypes:
                good, tokens = verify(args, "SmolLM2-135M-Instruct", SMOLLM2, adapter, tokens, dtype, report,
                                      tokenizer=tokens is None)
                ok &= good
        else:
            report(f"{SMOLLM2} is missing (tools/fetch_models.sh); skipped the real model")
    report("RESULT: " + ("PASS" if ok else "FAIL"))
    (args.work / "report.txt").write_text("\n".join(lines) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
