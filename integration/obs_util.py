"""Helpers for the observability tests: scraping /metrics, parsing the text format, and calling
the admin API. Standard library only."""

import json
import re
import shutil
import subprocess

from conftest import request

_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def _unescape(v):
    return re.sub(r'\\(.)', lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), v)


def parse_metrics(text):
    """Prometheus text format -> list of (name, {label: value}, float). Checks that each
    family's HELP and TYPE come once and before its samples."""
    samples = []
    seen_help = set()
    family = None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            family = line.split(" ")[2]
            assert family not in seen_help, "HELP twice for %s" % family
            seen_help.add(family)
            continue
        if line.startswith("#"):
            continue
        m = _SAMPLE.match(line)
        assert m, "unparsable sample line %r" % line
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        assert family and name.startswith(family), "%s outside its family (%s)" % (name, family)
        samples.append((name, {k: _unescape(v) for k, v in _LABEL.findall(labels)},
                        float(value)))
    return samples


class Metrics:
    """A parsed scrape with lookup helpers."""

    def __init__(self, text):
        self.text = text
        self.samples = parse_metrics(text)

    def find(self, name, **labels):
        return [(l, v) for n, l, v in self.samples
                if n == name and all(l.get(k) == v for k, v in labels.items())]

    def sum(self, name, **labels):
        return sum(v for _, v in self.find(name, **labels))

    def one(self, name, **labels):
        found = self.find(name, **labels)
        assert len(found) == 1, "%s %r: %d series" % (name, labels, len(found))
        return found[0][1]


def scrape(admin_port):
    r = request(admin_port, "/metrics")
    assert r.status == 200, r
    assert r.header("content-type").startswith("text/plain; version=0.0.4")
    return Metrics(r.body.decode())


def scrape_until(admin_port, cond, timeout=5, what="the metrics"):
    """Scrapes until cond(Metrics) is true and returns that scrape. Workers count a request just
    after they hand its last bytes to the socket, so a client can see the answer a moment before
    the counters move."""
    from conftest import wait_until
    return wait_until(lambda: (lambda m: m if cond(m) else None)(scrape(admin_port)), timeout,
                      what=what)


def admin(admin_port, path, method="GET", token=None, body=None):
    headers = {"Authorization": "Bearer %s" % token} if token else {}
    return request(admin_port, path, method=method, headers=headers, body=body)


def admin_json(admin_port, path, method="GET", token=None):
    r = admin(admin_port, path, method=method, token=token)
    return r.status, json.loads(r.body or b"null")


def status(admin_port):
    code, doc = admin_json(admin_port, "/status")
    assert code == 200
    return doc


def backend_status(admin_port, pool, name):
    for p in status(admin_port)["pools"]:
        if p["name"] == pool:
            for b in p["backends"]:
                if b["name"] == name:
                    return b
    raise KeyError("%s/%s" % (pool, name))


def promtool():
    return shutil.which("promtool") or ("/usr/bin/promtool" if shutil.which("/usr/bin/promtool")
                                        else None)


def promtool_check(text):
    """Runs `promtool check metrics` on an exposition; returns (exit code, output)."""
    p = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True,
                       text=True, timeout=30)
    return p.returncode, (p.stdout + p.stderr).strip()
