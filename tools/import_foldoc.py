#!/usr/bin/env python3
"""import_foldoc.py — FOLDOC (Debian dict-foldoc) as question/answer chat JSONL.

Fetches the Debian package with `apt-get download dict-foldoc` and unpacks it with `dpkg-deb -x`
into third_party/data/dict-foldoc/ (no dictd daemon is started; both steps are skipped when the
files are already there), reads the dictd index (headword TAB offset TAB length, numbers written
in dictd's base64 digits A-Z a-z 0-9 + /) and the dictzip body (gzip-compatible), cleans each
definition and writes one chat record per entry:

  {"messages": [{"role": "user", "content": "What is <term> in computing?"},
                {"role": "assistant", "content": "<cleaned definition>"}]}

to third_party/data/foldoc-qa.jsonl (the file recipes/quickstart.yaml trains on), atomically.
The question phrasing rotates deterministically (by a hash of the term) among a few forms.

Cleaning: the "<category, ...>" tag is dropped, {cross references} keep their text, <URLs> and
"(yyyy-mm-dd)" dates are removed, as are citation, "See also", home-page and e-mail paragraphs;
wrapped lines are joined; answers keep whole paragraphs up to about 1200 characters. Skipped:
dictd's 00-database-* entries, duplicates (aliases of one body), pure cross-reference entries
("{X}."), except that an abbreviation whose entry is one reference becomes "What does X stand
for?" -> "X stands for <expansion>.", and answers under 40 characters.

Python 3 standard library only (it runs in quickstart before any virtual environment exists).
Does not hold: tokenization or anything of the training pipeline.
Usage: tools/import_foldoc.py [--out PATH] [--data-dir DIR]
"""
import argparse
import gzip
import pathlib
import re
import zlib

from debian_data import unpack_package, write_chat_jsonl  # tools/debian_data.py

ROOT = pathlib.Path(__file__).resolve().parent.parent
B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
MAX_ANSWER = 1200
MIN_ANSWER = 40
QUESTIONS = [
    "What is {t} in computing?",
    "What does \"{t}\" mean?",
    "Explain {t}.",
    "In computing, what is {t}?",
    "Can you define {t}?",
]
DROP_PARAGRAPH = re.compile(
    r"^(\[|See also|See |Home|E-mail|Usenet|Mailing list|FAQ|Latest version|Version |ftp:|http|Posted|Compare|Opposite|"
    r"Not to be confused)", re.I)


def dictd_number(text):
    value = 0
    for ch in text:
        value = value * 64 + B64.index(ch)
    return value


def fetch(data_dir):
    """Downloads and unpacks dict-foldoc unless its files are already in data_dir."""
    index = data_dir / "usr/share/dictd/foldoc.index"
    body = data_dir / "usr/share/dictd/foldoc.dict.dz"
    if index.exists() and body.exists():
        return index, body
    unpack_package("dict-foldoc", data_dir, "import_foldoc")
    return index, body


def read_entries(index_path, body_path):
    """(headword lines, raw text) per distinct body, in index order. The index holds lower-cased
    headwords; the body's first lines hold the spelling (and aliases such as abbreviations)."""
    body = gzip.open(body_path, "rb").read()
    seen = set()
    for line in index_path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or parts[0].startswith("00-database"):
            continue
        offset, length = dictd_number(parts[1]), dictd_number(parts[2])
        if offset in seen:
            continue
        seen.add(offset)
        raw = body[offset:offset + length].decode("utf-8", errors="replace")
        header = []
        for l in raw.split("\n"):
            if not l.strip() or l.startswith("   "):
                break
            header.append(l.strip())
        yield (header or [parts[0]]), raw


def clean_inline(text):
    text = re.sub(r"<(?:https?|ftp|mailto|news|telnet|gopher|URL):[^>]*>", "", text)
    text = re.sub(r"<[a-z][a-z ,/-]*>\s*", "", text)  # <category, ...> tags
    text = re.sub(r"\{([^{}]*)\}", r"\1", text)
    text = re.sub(r"\(\d{4}-\d{2}-\d{2}\)", "", text)
    text = re.sub(r"\(\s*\)", "", text)
    text = re.sub(r"\s+([,.;:])", r"\1", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def definition(raw):
    """Cleaned paragraphs of an entry's body (headword lines removed)."""
    lines = raw.split("\n")
    start = next((i for i, l in enumerate(lines) if l.startswith("   ") and l.strip()), len(lines))
    paragraphs, current = [], []
    for line in lines[start:] + [""]:
        if line.strip():
            current.append(line.strip())
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if paragraphs:
        paragraphs[0] = re.sub(r"^<[^>]*>\s*", "", paragraphs[0])
    out = []
    for p in paragraphs:
        if DROP_PARAGRAPH.match(p) or re.fullmatch(r"\(\d{4}-\d{2}-\d{2}\)", p) or re.search(r"(https?|ftp)://|@", p):
            continue
        p = clean_inline(p)
        if p:
            out.append(p)
    return out


def answer_of(paragraphs):
    text = ""
    for p in paragraphs:
        if text and len(text) + len(p) > MAX_ANSWER:
            break
        text = (text + "\n\n" + p) if text else p
    if len(text) > MAX_ANSWER * 1.5:  # one very long paragraph: cut at a sentence end
        cut = text.rfind(". ", 0, MAX_ANSWER)
        text = text[:cut + 1] if cut > MIN_ANSWER else text[:MAX_ANSWER]
    return text


def question(term):
    h = zlib.crc32(term.encode("utf-8"))
    return QUESTIONS[h % len(QUESTIONS)].format(t=term)


def chat(q, a):
    return {"messages": [{"role": "user", "content": q}, {"role": "assistant", "content": a}]}


def is_abbreviation(word):
    return " " not in word and 2 <= len(word) <= 10 and sum(c.isupper() for c in word) >= 2


def examples(entries, stats):
    for header, raw in entries:
        stats["entries"] += 1
        term = header[0]
        lines = raw.split("\n")
        body = " ".join(l.strip() for l in lines[len(header):] if l.strip())
        body = re.sub(r"^<[^>]*>\s*", "", body)
        ref = re.fullmatch(r"\{([^{}]+)\}\.?", body)
        if ref:  # a pure cross reference
            if is_abbreviation(term):
                stats["abbreviations"] += 1
                yield chat(f"What does {term} stand for?", f"{term} stands for {ref.group(1)}.")
            else:
                stats["skipped_references"] += 1
            continue
        text = answer_of(definition(raw))
        if len(text) < MIN_ANSWER:
            stats["skipped_short"] += 1
            continue
        yield chat(question(term), text)
        for alias in header[1:]:  # "File Transfer Protocol" / "FTP": what the letters stand for
            if is_abbreviation(alias) and " " in term:
                first = re.sub(r"^\(" + re.escape(alias) + r"\)\s*", "", text.split("\n\n")[0])
                stats["abbreviations"] += 1
                yield chat(f"What does {alias} stand for?", f"{alias} stands for {term}. {first}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=pathlib.Path, default=ROOT / "third_party/data/dict-foldoc")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "third_party/data/foldoc-qa.jsonl")
    args = parser.parse_args()
    index, body = fetch(args.data_dir)
    stats = {"entries": 0, "examples": 0, "abbreviations": 0, "skipped_references": 0, "skipped_short": 0}
    write_chat_jsonl(args.out, examples(read_entries(index, body), stats), stats)
    print(f"import_foldoc: {stats['entries']} entries -> {stats['examples']} examples "
          f"({stats['abbreviations']} abbreviations; skipped {stats['skipped_references']} cross references, "
          f"{stats['skipped_short']} short) -> {args.out}")


if __name__ == "__main__":
    main()
