#!/usr/bin/env python3
"""Generates switchyard.yaml(5) from config/README.md, the configuration reference, so the
manual page lists exactly the keys the reference does (run by meson at build time).

Usage: config-to-man.py README.md OUTPUT.5 VERSION

The reference's Markdown is turned into man(7) requests: `##` -> .SH, `###` -> .SS, key tables
-> one .TP entry per row (tag = the first column, then the other columns), fenced blocks ->
no-fill examples, `- ` lists -> bullet paragraphs, `code` and **bold** -> bold, [text](url) ->
text. The output is plain ASCII (other characters become groff escapes)."""
import re
import sys

# Characters of the reference written as groff escapes (so the page is ASCII).
GLYPHS = {
    "\u2192": "\\(->", "\u2190": "\\(<-", "\u2026": "\\&...", "\u2212": "\\-", "\u2265": "\\(>=",
    "\u2264": "\\(<=", "\u00d7": "\\(mu", "\u00a7": "\\(sc", "\u2013": "\\(en", "\u2014": "\\(em",
    "\u00b0": "\\(de", "\u2018": "\\(oq", "\u2019": "\\(cq", "\u201c": "\\(lq", "\u201d": "\\(rq",
    "\u00a0": "\\ ",
}


def escape(text):
    """Plain text -> roff: backslashes and non-ASCII characters."""
    text = text.replace("\\", "\\e")
    out = []
    for ch in text:
        if ord(ch) < 128:
            out.append(ch)
        elif ch in GLYPHS:
            out.append(GLYPHS[ch])
        else:
            out.append("\\[u%04X]" % ord(ch))
    return "".join(out)


# A word of code longer than this gets break points (\\:) after these characters, so metric
# names with labels and long paths fit a narrow terminal instead of overrunning the line.
LONG_WORD = 24
BREAK_AFTER = "_,{/"


def breakable(code):
    """Roff of one code span (already escaped): long words may break after BREAK_AFTER."""
    def allow(word):
        word = word.group(0)
        if len(word) <= LONG_WORD:
            return word
        return "".join(ch + "\\:" if ch in BREAK_AFTER else ch for ch in word)
    return re.sub(r"\S+", allow, code)


def inline(text, tag=False):
    """One line or cell of Markdown -> roff with font changes. Headings and .TP tags (tag=True)
    keep whole words: they name sections and keys, which tests read back from the page."""
    text = re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", text)  # links: keep the text
    parts = re.split(r"(`[^`]*`)", text)
    out = []
    for part in parts:
        if part.startswith("`") and part.endswith("`") and len(part) >= 2:
            code = escape(part[1:-1]).replace("-", "\\-")
            if not tag:
                code = breakable(code)
            out.append("\\fB" + code + "\\fR")
        else:
            seg = escape(part)
            seg = re.sub(r"\*\*([^*]+)\*\*", r"\\fB\1\\fR", seg)
            out.append(seg)
    return "".join(out)


def line(text):
    """A text line: protect a leading '.' or "'" (they would start a request)."""
    text = text.strip()
    return "\\&" + text if text[:1] in (".", "'") else text


def cells(row):
    row = row.strip().strip("|")
    parts = re.split(r"(?<!\\)\|", row)
    return [p.strip().replace("\\|", "|") for p in parts]


def table(rows, out):
    header = cells(rows[0])
    for row in rows[2:]:  # rows[1] is the |---| rule
        c = cells(row)
        out.append(".TP")
        out.append(line(inline(c[0], tag=True)))
        middle = ["%s: %s" % (escape(h), inline(v)) for h, v in zip(header[1:-1], c[1:-1]) if v]
        if middle:
            out.append(line("; ".join(middle) + "."))
            out.append(".br")
        if len(c) > 1:
            out.append(line(inline(c[-1])))


def convert(markdown):
    out = []
    lines = markdown.splitlines()
    i = 0
    para = []

    def flush():
        if para:
            out.append(".PP")
            out.append(line(inline(" ".join(para))))
            para.clear()

    while i < len(lines):
        text = lines[i]
        stripped = text.strip()
        if stripped.startswith("```"):
            flush()
            out.extend([".PP", ".RS 4", ".nf"])
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                out.append(line(escape(lines[i].rstrip())) if lines[i].strip() else "")
                i += 1
            out.extend([".fi", ".RE"])
        elif stripped.startswith("# "):
            flush()  # the document title: the page has its own NAME section
        elif stripped.startswith("### "):
            flush()
            out.append('.SS "%s"' % inline(stripped[4:], tag=True).replace('"', '""'))
        elif stripped.startswith("## "):
            flush()
            out.append('.SH "%s"' % inline(stripped[3:], tag=True).replace('"', '""'))
        elif stripped.startswith("|"):
            flush()
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(lines[i])
                i += 1
            table(rows, out)
            continue
        elif stripped.startswith("- "):
            flush()
            item = [stripped[2:]]
            while (i + 1 < len(lines) and lines[i + 1].startswith("  ")
                   and not lines[i + 1].strip().startswith("- ")):
                i += 1
                item.append(lines[i].strip())
            out.append(".IP \\(bu 2")
            out.append(line(inline(" ".join(item))))
        elif not stripped:
            flush()
        else:
            para.append(stripped)
        i += 1
    flush()
    return out


def main():
    source, target, version = sys.argv[1:4]
    with open(source, encoding="utf-8") as f:
        body = convert(f.read())
    head = [
        '.\\" Generated from config/README.md by man/config-to-man.py: edit those, not this.',
        '.TH SWITCHYARD.YAML 5 "" "switchyard %s" "File Formats"' % version,
        ".\\\" Left-aligned: long cipher and key names cannot be justified in 80 columns.",
        ".ad l",
        ".nh",
        ".SH NAME",
        "switchyard.yaml \\- configuration file of the switchyard HTTP reverse proxy",
        ".SH SYNOPSIS",
        ".B /etc/switchyard/switchyard.yaml",
        ".SH DESCRIPTION",
        ".BR switchyard (8)",
        "reads one YAML file, given with",
        ".BR \\-c .",
        "Check a file with",
        ".BR \"switchyard \\-\\-check \\-c\" \" FILE\";",
        "print the effective configuration, every default filled in, with",
        ".BR \"switchyard \\-\\-dump\\-config \\-c\" \" FILE\".",
        "This page is the configuration reference of the source tree (config/README.md).",
    ]
    tail = [".SH FILES", ".TP", ".I /etc/switchyard/switchyard.yaml",
            "the configuration read by the packaged service",
            ".TP", ".I /usr/share/doc/switchyard/examples/",
            "switchyard.example.yaml, an annotated example with every key",
            ".SH SEE ALSO", ".BR switchyard (8)"]
    with open(target, "w", encoding="ascii") as f:
        f.write("\n".join(head + body + tail) + "\n")


if __name__ == "__main__":
    main()
