#!/usr/bin/env python3
"""import_manpages.py — C library man pages (Debian manpages-dev, sections 2 and 3) as chat JSONL.

Fetches the Debian package with `apt-get download manpages-dev` and unpacks it with `dpkg-deb -x`
into third_party/data/manpages-dev/ (nothing is installed; both steps are skipped when the pages
are already there), reads usr/share/man/man2/*.2.gz and man3/*.3.gz (gzipped troff, man macros)
and writes one chat record per page:

  {"messages": [{"role": "user", "content": "What does <name> do in C?"},
                {"role": "assistant", "content": "<NAME line>\\n\\n```c\\n<SYNOPSIS>\\n```\\n\\n<DESCRIPTION ...>"}]}

to third_party/data/manpages-qa.jsonl, atomically. The question phrasing rotates deterministically
(by a CRC-32 of the page name) among a few forms. The answer is the NAME line ("printf, fprintf,
... — formatted output conversion."), the LIBRARY line when it is not the standard C library, the
SYNOPSIS as a ```c code block (plus its notes such as "Note: glibc provides no wrapper ...", but not
the "Feature Test Macro Requirements" part; a synopsis longer than about 800 characters is cut at a
group boundary with a "..." line), then DESCRIPTION blocks up to about 1,500 characters in all (at
least its first paragraph; a cut never ends on a subsection title, a paragraph ending in ":" or a
code block whose explanation was cut).

troff to text: .TH, .SH, .SS, .PP/.LP/.P, .sp, .br, .TP/.TQ (tag on its own "- tag" line, body on
the next), .IP (bullets -> "- ", numbers kept), .B .I .SM (words) and .BR .IR .RB .BI .IB .RI
(alternating fonts, joined without spaces), .nf/.fi and .EX/.EE (kept line by line, as code in
DESCRIPTION), .UR/.UE (text then the URL in parentheses); tables (.TS/.TE) end the DESCRIPTION
excerpt; other requests (.in .RS .RE .ad .nh .hy .PD .ft .if ...) and comments are dropped; lines
ending in "\\" are continued. Escapes: \\fB \\fI \\fR \\fP \\f(XX \\f[X] dropped, \\- -> -, \\e and \\\\ -> \\,
\\(xx / \\[name] glyphs (aq dq lq rq oq cq em en bu ha ti ga sc co ..., \\[uXXXX]), \\*(lq \\*(rq, \\& \\: \\%
\\| \\^ dropped, \\~ \\0 and "\\ " -> space, \\c joins lines, \\" starts a comment, \\sN dropped.
Skipped: pages that are symbolic links to another page (aliases: the target's NAME line lists
them), ".so" redirect pages, and pages without a NAME section.

Python 3 standard library only, like tools/import_foldoc.py.
Does not hold: sections 1, 4-8, the rest of a page (RETURN VALUE, ERRORS, ...), or anything of the
training pipeline.
Usage: tools/import_manpages.py [--out PATH] [--data-dir DIR]
"""
import argparse
import gzip
import pathlib
import re
import sys
import zlib

from debian_data import unpack_package, write_chat_jsonl  # tools/debian_data.py

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_ANSWER = 1500
MAX_SYNOPSIS = 800
QUESTIONS = [
    "What does {n} do in C?",
    "What is {n}({s}) used for in C?",
    "Explain {n} in C.",
    "How is {n} used in C programs?",
    "In C on Linux, what does {n} do?",
]
TYPE_QUESTIONS = [  # pages of sections 3type and 3const
    "What is {n} in C?",
    "What is {n}({s}) in C?",
    "Explain {n} in C.",
]
GLYPHS = {
    "aq": "'", "dq": '"', "lq": '"', "rq": '"', "oq": "'", "cq": "'", "em": "—", "en": "–",
    "bu": "•", "ha": "^", "ti": "~", "ga": "`", "sc": "§", "co": "©", "rg": "®", "tm": "™",
    "mu": "×", "di": "÷", "pl": "+", "mi": "-", "eq": "=", "hy": "-", "rs": "\\", "sl": "/",
    "ba": "|", "bv": "|", "br": "|", "lt": "<", "gt": ">", "la": "⟨", "ra": "⟩", "->": "→",
    "<-": "←", "<=": "≤", ">=": "≥", "!=": "≠", "+-": "±", "de": "°", "if": "∞", "ua": "↑",
    "da": "↓", "Fo": "«", "Fc": "»", "fm": "′", "dg": "†", "ps": "¶", "ct": "¢", "Do": "$",
    "at": "@", "sh": "#", "lB": "[", "rB": "]", "lC": "{", "rC": "}", "r!": "¡", "r?": "¿",
}
STRINGS = {"lq": '"', "rq": '"', "R": "®", "Tm": "™"}
IGNORED = {"TH", "in", "RS", "RE", "ad", "na", "nh", "hy", "PD", "ft", "if", "ie", "el", "UC", "ll",
           "ne", "ta", "ds", "de", "ti", "ce", "so", "T", "MT", "ME", "\\}", "HP", "ss", "cs", "bp"}


def fetch(data_dir):
    """Downloads and unpacks manpages-dev unless its man2 and man3 pages are already in data_dir."""
    man = data_dir / "usr/share/man"
    if (man / "man2").is_dir() and (man / "man3").is_dir():
        return man
    unpack_package("manpages-dev", data_dir, "import_manpages")
    if not (man / "man3").is_dir():
        sys.exit(f"import_manpages: no usr/share/man/man3 under {data_dir}")
    return man


# ---- escapes and arguments -----------------------------------------------------------------

def glyph(name):
    if name in GLYPHS:
        return GLYPHS[name]
    m = re.fullmatch(r"u([0-9A-Fa-f]{4,6})(?:_[0-9A-Fa-f_]+)?", name)
    if m:
        return chr(int(m.group(1), 16))
    m = re.fullmatch(r"char(\d+)", name)
    return chr(int(m.group(1))) if m else ""


def bracketed(s, i):
    """Name of an escape's argument at s[i]: [long], (xy or one character; and the index after."""
    if i >= len(s):
        return "", i
    if s[i] == "[":
        j = s.find("]", i)
        j = len(s) if j < 0 else j
        return s[i + 1:j], j + 1
    if s[i] == "(":
        return s[i + 1:i + 3], i + 3
    return s[i], i + 1


def inline(s):
    """troff escapes of one line -> plain text."""
    out = []
    i = 0
    while i < len(s):
        c = s[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        if i + 1 >= len(s):
            break
        d = s[i + 1]
        i += 2
        if d in "fFnkgm":  # font, number register, ...: dropped
            _, i = bracketed(s, i)
        elif d in "[(":
            name, i = bracketed(s, i - 1)
            out.append(glyph(name))
        elif d == "*":
            name, i = bracketed(s, i)
            out.append(STRINGS.get(name, ""))
        elif d == "s":
            m = re.match(r"[-+]?\d+|\[[^\]]*\]|\(\d\d", s[i:])
            i += m.end() if m else 0
        elif d in "wvhlLoDbxXSNZR":  # \w'...' and friends: dropped with their quoted argument
            if i < len(s) and s[i] in "'[":
                end = s.find("]" if s[i] == "[" else "'", i + 1)
                i = len(s) if end < 0 else end + 1
        elif d == '"':
            break
        elif d in "e\\":
            out.append("\\")
        elif d in "-":
            out.append("-")
        elif d in "~0 ":
            out.append(" ")
        elif d == "t":
            out.append("\t")
        elif d in "&:%|^cdu)!{}zpr":
            pass
        else:  # \' \` \. and anything else: the character itself
            out.append(d)
    return "".join(out)


def arguments(text):
    """A request's arguments: blank separated, "double quoted" ("" inside is a quote)."""
    args = []
    i = 0
    while i < len(text):
        if text[i] in " \t":
            i += 1
            continue
        if text[i] == '"':
            j = i + 1
            buf = []
            while j < len(text):
                if text[j] == '"':
                    if j + 1 < len(text) and text[j + 1] == '"':
                        buf.append('"')
                        j += 2
                        continue
                    break
                if text[j] == "\\" and j + 1 < len(text):
                    buf.append(text[j:j + 2])
                    j += 2
                    continue
                buf.append(text[j])
                j += 1
            args.append("".join(buf))
            i = j + 1
        else:
            j = i
            while j < len(text) and text[j] not in " \t":
                j += 2 if text[j] == "\\" else 1
            args.append(text[i:j])
            i = j
    return args


def logical_lines(text):
    """Source lines with comments dropped and "\\"-continued lines joined."""
    out, pending = [], ""
    for line in text.split("\n"):
        if re.match(r"^[.']\s*\\\"", line):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            pending += line[:-1]
            continue
        out.append(pending + line)
        pending = ""
    if pending:
        out.append(pending)
    return out


# ---- the page model ------------------------------------------------------------------------

class Page:
    """Sections of a man page as lists of blocks: ("text"|"code"|"head"|"table", str)."""

    def __init__(self):
        self.sections = {}
        self.section = ""
        self.nofill = False
        self.words = ""  # the paragraph being filled
        self.join = False  # the previous line ended in \c
        self.prefix = ""  # "- " or "- tag\n  " of the current list item
        self.code = []
        self.tag_next = None  # "TP" / "TQ": the next output line (or .nf lines) is a tag
        self.tag_lines = []
        self.url = None
        self.in_table = False

    def blocks(self):
        return self.sections.setdefault(self.section, [])

    def flush(self):
        text = re.sub(r"[ \t]+", " ", self.words).strip()
        if text or self.prefix.strip():
            self.blocks().append(("text", (self.prefix + text).rstrip()))
        self.words, self.prefix, self.join = "", "", False

    def flush_code(self):
        while self.code and not self.code[-1].strip():
            self.code.pop()
        while self.code and not self.code[0].strip():
            self.code.pop(0)
        if self.code:
            self.blocks().append(("code", "\n".join(self.code)))
        self.code = []

    def emit(self, text, raw=""):
        """One line of output text (from a text line or a font request)."""
        if self.tag_next:
            self.tag_lines.append(text.strip())
            if not self.nofill:
                self.end_tag()
            return
        if self.nofill:
            self.code.append(text.rstrip())
            return
        if self.words and not self.join:
            self.words += " "
        self.words += text
        self.join = raw.rstrip().endswith("\\c")

    def end_tag(self):
        text = "\n  ".join(l for l in self.tag_lines if l)
        if self.tag_next == "TQ" and self.prefix:
            self.prefix = self.prefix.rstrip() + ", " + text + "\n  "
        elif text:
            self.prefix = "- " + text + "\n  "
        self.tag_next, self.tag_lines = None, []

    def request(self, name, args, raw):
        if self.in_table:
            if name == "TE":
                self.in_table = False
            return
        if name == "SH":
            self.flush()
            self.flush_code()
            self.section = inline(" ".join(args)).strip().upper()
            self.nofill = False
        elif name == "SS":
            self.flush()
            self.flush_code()
            self.blocks().append(("head", inline(" ".join(args)).strip()))
        elif name in ("PP", "LP", "P", "sp"):
            if self.nofill:
                self.code.append("")
            else:
                self.flush()
        elif name == "br":
            if not self.nofill and self.words:
                self.words += "\n"
                self.join = True
        elif name in ("TP", "TQ"):
            if name == "TP":
                self.flush()
            self.tag_next = name
        elif name == "IP":
            self.flush()
            tag = inline(args[0]).strip() if args else ""
            if tag in ("•", "*", "-", "o"):
                self.prefix = "- "
            elif re.fullmatch(r"\(?\w{1,3}[.)]", tag):
                self.prefix = tag + " "
            elif tag:
                self.prefix = "- " + tag + "\n  "
        elif name in ("nf", "EX"):
            self.flush()
            self.nofill = True
        elif name in ("fi", "EE"):
            if self.tag_next:
                self.nofill = False
                self.end_tag()
            self.flush_code()
            self.nofill = False
        elif name == "TS":
            self.flush()
            self.flush_code()
            self.blocks().append(("table", ""))
            self.in_table = True
        elif name in ("B", "I", "SM", "SB"):
            if args:
                self.emit(inline(" ".join(args)), raw)
        elif name in ("BR", "IR", "RB", "BI", "IB", "RI"):
            self.emit("".join(inline(a) for a in args), raw)
        elif name == "UR":
            self.url = args[0] if args else None
        elif name == "UE":
            if self.url:
                self.emit(f"({self.url})" + "".join(inline(a) for a in args), raw)
                self.join = False
            self.url = None
        # IGNORED and unknown requests: dropped

    def finish(self):
        self.flush()
        self.flush_code()
        return self


def parse(text):
    page = Page()
    for line in logical_lines(text):
        if line[:1] in (".", "'"):
            m = re.match(r"[.']\s*(\S*)\s*(.*)", line)
            name, rest = m.group(1), m.group(2)
            if page.in_table and name != "TE":
                continue
            page.request(name, arguments(rest), line)
        elif page.in_table:
            continue
        elif not page.nofill and line[:1] in (" ", "\t") and line.strip():
            page.flush()  # a line starting with space breaks the fill
            page.emit(inline(line).strip(), line)
        elif not line.strip() and not page.nofill:
            page.flush()
        else:
            page.emit(inline(line), line)
    return page.finish()


# ---- answers -------------------------------------------------------------------------------

def render(block):
    kind, text = block
    return f"```\n{text}\n```" if kind == "code" else text


def name_line(page):
    text = " ".join(t for k, t in page.sections.get("NAME", []) if k == "text")
    text = re.sub(r"\s+", " ", text).strip()
    if not text:
        return ""
    m = re.match(r"(.*?)\s+-+\s+(.*)", text)
    text = f"{m.group(1)} — {m.group(2)}" if m else text
    return text if text[-1] in ".!?" else text + "."


def synopsis(page):
    code, notes = [], []
    for kind, text in page.sections.get("SYNOPSIS", []):
        if kind == "text" and text.startswith("Feature Test Macro"):
            break
        if kind == "code":
            if code:
                code.append("")
            code.extend(text.split("\n"))
        elif kind == "text":
            notes.append(text)
    code = "\n".join(code)
    code = re.sub(r"\n{3,}", "\n\n", code).strip("\n")
    if len(code) > MAX_SYNOPSIS:
        groups = code.split("\n\n")
        kept = groups[0]
        for g in groups[1:]:
            if len(kept) + len(g) + 2 > MAX_SYNOPSIS:
                break
            kept += "\n\n" + g
        if len(kept) > MAX_SYNOPSIS:
            kept = "\n".join(kept[:MAX_SYNOPSIS].split("\n")[:-1])
        code = kept + "\n..."
    parts = [f"```c\n{code}\n```"] if code else []
    return parts + notes


def description(page, budget):
    blocks = []
    for b in page.sections.get("DESCRIPTION", page.sections.get("SYNOPSIS AND DESCRIPTION", [])):
        if b[0] == "table":
            break
        blocks.append(b)
    while blocks and blocks[0][0] == "head":
        blocks.pop(0)
    kept, size = [], 0
    for b in blocks:
        r = render(b)
        if kept and size + len(r) + 2 > budget:
            break
        kept.append(b)
        size += len(r) + 2
    cut = len(kept) < len(blocks)
    while len(kept) > 1 and (kept[-1][0] == "head" or (cut and kept[-1][0] == "code")
                             or (cut and kept[-1][0] == "text" and kept[-1][1].endswith(":"))):
        kept.pop()
    if len(kept) == 1 and kept[0][0] == "text" and len(kept[0][1]) > max(budget, 400) * 1.3:
        text = kept[0][1]
        end = text.rfind(". ", 0, max(budget, 400))
        return text[:end + 1] if end > 0 else text[:max(budget, 400)]
    return "\n\n".join(render(b) for b in kept)


def answer_of(page):
    head = name_line(page)
    if not head:
        return ""
    parts = [head]
    library = " ".join(t for k, t in page.sections.get("LIBRARY", []) if k == "text").strip()
    if library and not library.startswith("Standard C library"):
        parts.append("Library: " + re.sub(r"\s+", " ", library) + ".")
    size = sum(len(p) + 2 for p in parts)
    for i, p in enumerate(synopsis(page)):  # the code block, then its notes while they fit
        if i and size + len(p) + 2 > MAX_ANSWER - 200:
            break
        parts.append(p)
        size += len(p) + 2
    desc = description(page, MAX_ANSWER - size)
    if desc:
        parts.append(desc)
    return "\n\n".join(parts)


def question(name, section):
    h = zlib.crc32(name.encode("utf-8"))
    forms = TYPE_QUESTIONS if section.endswith(("type", "const")) else QUESTIONS
    return forms[h % len(forms)].format(n=name, s=section)


def examples(man, stats):
    for sub in ("man2", "man3"):
        for path in sorted((man / sub).glob("*.gz")):
            stats["files"] += 1
            if path.is_symlink():
                stats["skipped_aliases"] += 1
                continue
            text = gzip.open(path, "rb").read().decode("utf-8", errors="replace")
            if re.search(r"^\.so\s", text, re.M) and not re.search(r"^\.SH", text, re.M):
                stats["skipped_redirects"] += 1
                continue
            name, section = path.name[:-3].rsplit(".", 1)
            answer = answer_of(parse(text))
            if not answer:
                stats["skipped_no_name"] += 1
                continue
            yield {"messages": [{"role": "user", "content": question(name, section)},
                                {"role": "assistant", "content": answer}]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=pathlib.Path, default=ROOT / "third_party/data/manpages-dev")
    parser.add_argument("--out", type=pathlib.Path, default=ROOT / "third_party/data/manpages-qa.jsonl")
    args = parser.parse_args()
    man = fetch(args.data_dir)
    stats = {"files": 0, "examples": 0, "chars": 0, "skipped_aliases": 0, "skipped_redirects": 0,
             "skipped_no_name": 0}
    write_chat_jsonl(args.out, examples(man, stats), stats)
    print(f"import_manpages: {stats['files']} files -> {stats['examples']} examples, {stats['chars']} characters "
          f"(skipped {stats['skipped_aliases']} alias links, {stats['skipped_redirects']} .so redirects, "
          f"{stats['skipped_no_name']} without NAME) -> {args.out}")


if __name__ == "__main__":
    main()
