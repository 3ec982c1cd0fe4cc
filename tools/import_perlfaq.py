#!/usr/bin/env python3
"""import_perlfaq.py — the Perl FAQ (Debian perl-doc, perlfaq1..9) as question/answer chat JSONL.

Fetches the Debian package with `apt-get download perl-doc` and unpacks it with `dpkg-deb -x`
into third_party/data/perl-doc/ (nothing is installed; both steps are skipped when the pod files
are already there), reads usr/share/perl/<version>/pod/perlfaq[1-9].pod and writes one chat record
per `=head2` question:

  {"messages": [{"role": "user", "content": "<the =head2 question>"},
                {"role": "assistant", "content": "<its answer as plain text>"}]}

to third_party/data/perlfaq-qa.jsonl, atomically. A heading that is not a question ("Perl Books")
becomes "What can you tell me about <heading>?".

POD to text: ordinary paragraphs are joined into one line each; verbatim (indented) paragraphs
become one fenced ``` code block per run (dedented, blank lines inside kept); =over/=item/=back
become "- " / "1. " list items (a named =item puts its name on the item's first line); =head3/4
become their own paragraph; =begin/=end, =for, =pod, =cut and =encoding are dropped. Formatting
codes, single (C<x>) or multi-bracket (C<< x >>) and nested: C<x> -> `x`; B, I, F, S keep their
text; X and Z vanish; L<text|target> -> text, L<name/"sec"> -> "sec" in name, L<name> and
L<http://...> -> name / the URL; E<lt> E<gt> E<sol> E<verbar> E<quot> E<amp>, E<0xNN>, E<NN> and
the HTML entity names -> the character. Answers are capped at about 2,000 characters at a block
(paragraph or code block) boundary; a cut answer does not end on a paragraph ending in ":" (the
lead-in to a dropped example). Skipped: questions whose answer is empty.

Python 3 standard library only, like tools/import_foldoc.py.
Does not hold: the other perl-doc pages (perlfunc, perlop, ...), or anything of the training pipeline.
Usage: tools/import_perlfaq.py [--out PATH] [--data-dir DIR]
"""
import argparse
import html.entities
import pathlib
import re
import sys

from debian_data import unpack_package, write_chat_jsonl  # tools/debian_data.py

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_ANSWER = 2000
ESCAPES = {"lt": "<", "gt": ">", "sol": "/", "verbar": "|", "quot": '"', "amp": "&", "apos": "'"}


def faq_files(data_dir):
    return sorted(data_dir.glob("usr/share/perl/*/pod/perlfaq[1-9].pod"))


def fetch(data_dir):
    """Downloads and unpacks perl-doc unless its perlfaq pod files are already in data_dir."""
    files = faq_files(data_dir)
    if len(files) == 9:
        return files
    unpack_package("perl-doc", data_dir, "import_perlfaq")
    files = faq_files(data_dir)
    if not files:
        sys.exit(f"import_perlfaq: no usr/share/perl/*/pod/perlfaq[1-9].pod under {data_dir}")
    return files


# ---- formatting codes ----------------------------------------------------------------------

def code_extent(s, i):
    """For a formatting code starting at s[i] (a capital letter followed by '<'): (letter, raw
    content, index after the code). Multi-bracket form "X<< content >>" ends at whitespace plus
    as many '>'; the single form nests only through other formatting codes."""
    letter = s[i]
    j = i + 1
    n = 0
    while j < len(s) and s[j] == "<":
        n += 1
        j += 1
    if n > 1 and j < len(s) and s[j].isspace():
        m = re.compile(r"\s+" + ">" * n).search(s, j)
        if m:
            return letter, s[j:m.start()].strip(), m.end()
        return letter, s[j:].strip(), len(s)
    j = i + 2
    start = j
    while j < len(s):
        if s[j] == ">":
            return letter, s[start:j], j + 1
        if s[j].isupper() and j + 1 < len(s) and s[j + 1] == "<":
            j = code_extent(s, j)[2]
            continue
        j += 1
    return letter, s[start:], len(s)


def split_top(raw, sep):
    """Index of the first `sep` in raw outside nested formatting codes, or -1."""
    j = 0
    while j < len(raw):
        if raw[j].isupper() and j + 1 < len(raw) and raw[j + 1] == "<":
            j = code_extent(raw, j)[2]
            continue
        if raw[j] == sep:
            return j
        j += 1
    return -1


def escape(name):
    name = name.strip()
    if name in ESCAPES:
        return ESCAPES[name]
    try:
        if name.lower().startswith("0x"):
            return chr(int(name, 16))
        if name.isdigit():
            return chr(int(name))
    except (ValueError, OverflowError):
        return ""
    return html.entities.html5.get(name + ";", html.entities.html5.get(name, ""))


def link(raw):
    bar = split_top(raw, "|")
    if bar >= 0:
        return inline(raw[:bar])
    if re.match(r"(https?|ftp|mailto|news|irc|file):", raw):
        return raw  # a URL is its own text
    slash = split_top(raw, "/")
    if slash >= 0:
        name, section = raw[:slash].strip(), inline(raw[slash + 1:]).strip().strip('"')
        return f'"{section}" in {inline(name)}' if name else f'"{section}"'
    return inline(raw)


def inline(s):
    out = []
    i = 0
    while i < len(s):
        if s[i].isupper() and i + 1 < len(s) and s[i + 1] == "<":
            letter, raw, i = code_extent(s, i)
            if letter == "C":
                out.append("`" + inline(raw) + "`")
            elif letter in "BIFS":
                out.append(inline(raw))
            elif letter == "L":
                out.append(link(raw))
            elif letter == "E":
                out.append(escape(raw))
            elif letter in "XZ":
                pass
            else:
                out.append(inline(raw))
            continue
        out.append(s[i])
        i += 1
    return "".join(out)


# ---- paragraphs and sections ---------------------------------------------------------------

def paragraphs(text):
    """POD paragraphs (lists of lines), split at lines that are empty or whitespace only."""
    current = []
    for line in text.expandtabs(8).split("\n"):
        if line.strip():
            current.append(line.rstrip())
        elif current:
            yield current
            current = []
    if current:
        yield current


def sections(text):
    """(question, [paragraph]) per =head2, in file order; =head1 ends a question."""
    question, body = None, []
    for para in paragraphs(text):
        cmd = re.match(r"=(head[12])\s*(.*)", para[0])
        if cmd:
            if question is not None:
                yield question, body
            question, body = None, []
            if cmd.group(1) == "head2":
                question = inline(" ".join([cmd.group(2)] + para[1:]).strip())
            continue
        if question is not None:
            body.append(para)
    if question is not None:
        yield question, body


def blocks(paras):
    """The answer's text blocks: ("text", str) or ("code", str)."""
    out = []
    lists = []  # per =over: the item counter
    pending = None  # an =item's marker waiting for its first paragraph
    skip_until = None
    code = []

    def flush_code():
        if code:
            while code and not code[-1].strip():
                code.pop()
            indent = min(len(l) - len(l.lstrip()) for l in code if l.strip())
            out.append(("code", "\n".join(l[indent:] for l in code)))
            code.clear()

    def add_text(text):
        nonlocal pending
        text = re.sub(r"\s+", " ", text).strip()
        if pending is not None:
            text = (pending + ("\n  " + text if pending.endswith(":") else " " + text)).strip()
            pending = None
        if text:
            out.append(("text", text))

    for para in paras:
        first = para[0]
        if skip_until is not None:
            if re.match(r"=end\s+" + re.escape(skip_until), first):
                skip_until = None
            continue
        if first.startswith("="):
            flush_code()
            m = re.match(r"=(\w+)\s*(.*)", first)
            cmd, arg = (m.group(1), " ".join([m.group(2)] + para[1:]).strip()) if m else ("", "")
            if cmd == "begin":
                skip_until = arg.split()[0] if arg else ""
            elif cmd == "over":
                lists.append(0)
            elif cmd == "back":
                if lists:
                    lists.pop()
                if pending is not None:
                    out.append(("text", pending.rstrip(":")))
                    pending = None
            elif cmd == "item":
                if pending is not None:
                    out.append(("text", pending.rstrip(":")))
                    pending = None
                if lists:
                    lists[-1] += 1
                bullet = re.match(r"\*\s*(.*)", arg, re.S)
                number = re.match(r"(\d+)\.?\s*(.*)", arg, re.S)
                if bullet:
                    rest = inline(bullet.group(1)).strip()
                    if rest:
                        out.append(("text", "- " + rest))
                    else:
                        pending = "-"
                elif number:
                    rest = inline(number.group(2)).strip()
                    if rest:
                        out.append(("text", f"{number.group(1)}. {rest}"))
                    else:
                        pending = f"{number.group(1)}."
                else:
                    pending = "- " + inline(arg).strip() + ":"
            elif cmd in ("head3", "head4"):
                add_text(inline(arg))
            # =for, =pod, =cut, =encoding and unknown commands: dropped
            continue
        if first[0] in " \t":
            if pending is not None:
                out.append(("text", pending.rstrip(":")))
                pending = None
            if code:
                code.append("")
            code.extend(para)
            continue
        flush_code()
        add_text(inline(" ".join(l.strip() for l in para)))
    flush_code()
    if pending is not None:
        out.append(("text", pending.rstrip(":")))
    return out


def render(block):
    kind, text = block
    return f"```\n{text}\n```" if kind == "code" else text


def answer_of(bs):
    kept, size = [], 0
    for b in bs:
        r = render(b)
        if kept and size + len(r) + 2 > MAX_ANSWER:
            break
        kept.append(b)
        size += len(r) + 2
    cut = len(kept) < len(bs)
    while cut and len(kept) > 1 and kept[-1][0] == "text" and kept[-1][1].rstrip().endswith(":"):
        kept.pop()
    text = "\n\n".join(render(b) for b in kept)
    if len(text) > MAX_ANSWER * 1.5:  # one very long block
        if kept[0][0] == "code":
            lines = kept[0][1][:MAX_ANSWER].split("\n")[:-1]
            text = "```\n" + "\n".join(lines) + "\n```"
        else:
            end = text.rfind(". ", 0, MAX_ANSWER)
            text = text[:end + 1] if end > 0 else text[:MAX_ANSWER]
    return text


def question_of(heading):
    heading = re.sub(r"\s+", " ", heading).strip()
    if heading.endswith("?") or len(heading.split()) > 4:
        return heading
    return f"What can you tell me about {heading}?"


def examples(files, stats):
    for path in files:
        for heading, paras in sections(path.read_text(encoding="utf-8", errors="replace")):
            stats["questions"] += 1
            text = answer_of(blocks(paras))
            if not text.strip():
                stats["skipped_empty"] += 1
                continue
            if len(text) < sum(len(render(b)) for b in blocks(paras)):
                stats["capped"] += 1
            yield {"messages": [{"role": "user", "content": question_of(heading)},
                                {"role": "assistant", "content": text}]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=pathlib.Path, default=ROOT / "third_party/data/perl-doc")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "third_party/data/perlfaq-qa.jsonl")
    args = parser.parse_args()
    files = fetch(args.data_dir)
    stats = {"questions": 0, "examples": 0, "chars": 0, "capped": 0, "skipped_empty": 0}
    write_chat_jsonl(args.out, examples(files, stats), stats)
    print(f"import_perlfaq: {len(files)} files, {stats['questions']} questions -> {stats['examples']} examples, "
          f"{stats['chars']} characters ({stats['capped']} answers capped; skipped {stats['skipped_empty']} empty) "
          f"-> {args.out}")


if __name__ == "__main__":
    main()
