#!/usr/bin/env python3
"""make_fixtures.py — writes the reference fixtures under tests/fixtures/ (run by hand, not in CI).

Needs a virtual environment outside the repository with torch, transformers, peft, gguf,
safetensors and tokenizers from PyPI, e.g.:

    python3 -m venv ../venv && ../venv/bin/pip install torch transformers peft gguf safetensors tokenizers
    ../venv/bin/python tools/make_fixtures.py            # every group
    ../venv/bin/python tools/make_fixtures.py gguf       # one group

Each group lives in tools/fixtures/<group>.py and exposes `generate(fixtures_dir, third_party_dir)`.
Everything is seeded, so a rerun with the same library versions writes the same files.
"""
import importlib
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))


def main(argv):
    groups = sorted(p.stem for p in (ROOT / "tools" / "fixtures").glob("*.py") if p.stem != "__init__")
    chosen = argv[1:] or groups
    for name in chosen:
        if name not in groups:
            sys.exit(f"make_fixtures.py: unknown group '{name}'; groups: {', '.join(groups)}")
        print(f"== {name}")
        importlib.import_module(f"fixtures.{name}").generate(ROOT / "tests" / "fixtures", ROOT / "third_party")


if __name__ == "__main__":
    main(sys.argv)
