#!/usr/bin/env python3
"""bench_train.py — LoRA training speed of slmtune against PyTorch + PEFT, side by side.

Same model (SmolLM2-135M-Instruct from the quickstart's GGUF, dequantized to fp32 by both), same
shapes (ROWS x SEQ_LEN random tokens per step), LoRA on all seven linear layers, AdamW; both on
the CPU with all cores. Prints tokens/s of each and the ratio. Needs the fixture virtual
environment (torch, transformers, peft, gguf) and a built tree:

    ../venv/bin/python tools/bench_train.py [--rows 4] [--seq 256] [--rank 16] [--steps 5]
"""
import argparse
import pathlib
import re
import subprocess
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
GGUF = ROOT / "third_party" / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"


def peft_tokens_per_second(rows, seq, rank, steps):
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    torch.manual_seed(1)
    model = AutoModelForCausalLM.from_pretrained(str(GGUF.parent), gguf_file=GGUF.name, torch_dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear",
                                             task_type="CAUSAL_LM"))
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    ids = torch.randint(0, model.config.vocab_size, (rows, seq))

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        opt.zero_grad()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return rows * seq * steps / (time.perf_counter() - start), torch.get_num_threads()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=4)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--build", default=str(ROOT / "build"))
    a = ap.parse_args()
    bench = pathlib.Path(a.build) / "tools" / "bench_train_step"
    out = subprocess.run([str(bench), str(GGUF), str(a.rows), str(a.seq), str(a.rank), str(a.steps)],
                         check=True, capture_output=True, text=True).stdout
    ours = float(re.search(r"tokens/s ([0-9.]+)", out).group(1))
    theirs, threads = peft_tokens_per_second(a.rows, a.seq, a.rank, a.steps)
    print(f"LoRA training step, SmolLM2-135M fp32, {a.rows} x {a.seq} tokens, r={a.rank} all-linear, AdamW")
    print(f"  PyTorch + PEFT ({threads} threads): {theirs:8.1f} tokens/s")
    print(f"  slmtune:                     {ours:8.1f} tokens/s")
    print(f"  ratio slmtune / PEFT:        {ours / theirs:8.2f}x")


if __name__ == "__main__":
    main()
