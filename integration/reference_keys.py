"""Key paths of the configuration reference (config/README.md), for the tests that keep the
manual page (test_man.py) and `--dump-config` (test_cli.py) in step with it.

A section heading names its path (`## `pools[]``, `### `pools[].tls``; `## Top level` is the
root); every row of a table whose first column is "Key" names one or more keys of that
section (`cert`, `key` -> two keys; `match.host` -> a dotted path under the section)."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "config" / "README.md"


def cells(row):
    return [c.strip() for c in re.split(r"(?<!\\)\|", row.strip().strip("|"))]


def reference_keys(text=None):
    """{(section heading path, key as written in the table)} of config/README.md."""
    text = REFERENCE.read_text() if text is None else text
    keys = set()
    section = None
    in_key_table = False
    for line in text.splitlines():
        heading = re.match(r"#{2,3} (.*)", line)
        if heading:
            title = heading.group(1).strip()
            named = re.fullmatch(r"`([^`]+)`", title)
            section = named.group(1) if named else ("" if title == "Top level" else None)
            in_key_table = False
            continue
        if not line.startswith("|"):
            in_key_table = False
            continue
        row = cells(line)
        if row[0] == "Key":
            in_key_table = section is not None
            continue
        if in_key_table and not set(row[0]) <= set("-: "):
            for name in re.findall(r"`([^`]+)`", row[0]):
                keys.add((section, name))
    return keys


def key_paths(keys=None):
    """The reference keys as dotted paths: "pools[].tls.ca", "workers"."""
    keys = reference_keys() if keys is None else keys
    return {(s + "." + k) if s else k for s, k in keys}


def yaml_paths(node, prefix=""):
    """Every key path of a parsed YAML document, list items as "[]"."""
    out = set()
    if isinstance(node, dict):
        for k, v in node.items():
            path = "%s.%s" % (prefix, k) if prefix else str(k)
            out.add(path)
            out |= yaml_paths(v, path)
    elif isinstance(node, list):
        for item in node:
            out |= yaml_paths(item, prefix + "[]")
    return out
