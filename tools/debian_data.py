"""debian_data.py — what the domain-data importers share: unpacking a Debian package into a
folder of third_party/ (apt-get download + dpkg-deb -x, no daemon, nothing installed system-wide)
and writing chat JSONL atomically. Python 3 standard library only.
Does not hold: any package's own parsing (tools/import_*.py).
"""
import json
import os
import pathlib
import subprocess
import sys
import tempfile


def unpack_package(package, data_dir, tool):
    """Downloads `package` with apt-get and unpacks it into data_dir (the caller checks first
    whether the files it needs are already there). `tool` names the importer in messages."""
    data_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["apt-get", "download", package], cwd=tmp, check=True)
        debs = sorted(pathlib.Path(tmp).glob(f"{package}_*.deb"))
        if not debs:
            sys.exit(f"{tool}: apt-get download {package} produced no .deb; run apt-get update first")
        subprocess.run(["dpkg-deb", "-x", str(debs[-1]), str(data_dir)], check=True)


def write_chat_jsonl(path, examples, stats):
    """Writes each example as one JSON line to `path` through a temporary file and a rename;
    counts stats["examples"] and stats["chars"] (message text)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    stats.setdefault("examples", 0)
    stats.setdefault("chars", 0)
    with open(tmp, "w", encoding="utf-8") as f:
        for ex in examples:
            f.write(json.dumps(ex, ensure_ascii=False) + "\n")
            stats["examples"] += 1
            stats["chars"] += sum(len(m["content"]) for m in ex["messages"])
    os.replace(tmp, path)
