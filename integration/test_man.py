"""Manual pages: switchyard.yaml(5) is generated from config/README.md (man/config-to-man.py)
and has one entry per key of every section, no more, no less; both pages render without a
warning from man/groff. No proxy is started."""

import os
import re
import shutil
import subprocess
import sys

import pytest

from conftest import REPO
from reference_keys import reference_keys

GENERATOR = REPO / "man" / "config-to-man.py"


def unfont(text):
    return re.sub(r"\\f[BIRP]", "", text).replace("\\-", "-").replace("\\e", "\\").strip('"')


def page_keys(page):
    """{(section, key)} of the generated page: .SH/.SS headings and the .TP tags under them."""
    keys, section, lines = set(), None, page.splitlines()
    for i, line in enumerate(lines):
        if line.startswith((".SH ", ".SS ")):
            title = unfont(line[4:])
            section = "" if title == "Top level" else title
        elif line == ".TP" and section is not None:
            for name in re.findall(r"\\fB([^\\]+(?:\\-[^\\]+)*)\\fR", lines[i + 1]):
                keys.add((section, unfont(name)))
    return keys


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    out = tmp_path_factory.mktemp("man") / "switchyard.yaml.5"
    subprocess.run([sys.executable, str(GENERATOR), str(REPO / "config" / "README.md"), str(out),
                    "0.0.0"], check=True, timeout=30)
    return out


def test_every_reference_key_is_in_the_page(generated):
    want = reference_keys()
    assert len(want) > 80  # the reference parsed: sections and their key tables
    got = {k for k in page_keys(generated.read_text()) if k[0] in {s for s, _ in want}}
    # Tables with other first columns (value syntaxes, errors) are not keys.
    assert want <= got, "missing from switchyard.yaml(5): %s" % sorted(want - got)
    extra = got - want
    assert not extra, "in switchyard.yaml(5) but not a key of config/README.md: %s" % sorted(extra)


def test_generator_follows_the_reference(tmp_path):
    """A key added to the reference shows up in the page: nothing is hard-coded."""
    text = (REPO / "config" / "README.md").read_text()
    text = text.replace("| `workers` |", "| `test_only_key` | boolean | `false` | a new key |\n"
                        "| `workers` |", 1)
    src = tmp_path / "README.md"
    src.write_text(text)
    out = tmp_path / "p.5"
    subprocess.run([sys.executable, str(GENERATOR), str(src), str(out), "0"], check=True,
                   timeout=30)
    assert ("", "test_only_key") in page_keys(out.read_text())
    assert ("", "test_only_key") in reference_keys(text)


def test_built_page_is_current(switchyard_bin, generated):
    """The page meson built next to the binary is what the generator makes of README.md now."""
    built = switchyard_bin.parent / "man" / "switchyard.yaml.5"
    if not built.exists():
        pytest.skip("no man/ next to the binary (a build without the man pages)")
    strip = lambda s: re.sub(r'^\.TH .*$', "", s, flags=re.M)  # the version differs
    assert strip(built.read_text()) == strip(generated.read_text())


@pytest.mark.skipif(not shutil.which("man"), reason="man-db is not installed")
@pytest.mark.parametrize("width", [80, 60])
def test_pages_render_without_warnings(generated, tmp_path, width):
    eight = tmp_path / "switchyard.8"
    eight.write_text((REPO / "man" / "switchyard.8").read_text().replace("@VERSION@", "0"))
    for page in (generated, eight):
        r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", str(page)],
                           capture_output=True, text=True, timeout=60,
                           env=dict(os.environ, MANWIDTH=str(width)))
        assert r.returncode == 0 and r.stderr == "", (page.name, r.stderr)
        text = re.sub(".\b", "", r.stdout)  # overstrike bold/underline of a non-terminal
        assert len(text) > 2000
        assert re.search(r"^NAME\n", text, re.M) and re.search(r"^SEE ALSO\n", text, re.M)
