"""Certificates that change on disk while the proxy runs, without a reload: renamed over,
written in place, certbot's swapped symlink, a Kubernetes Secret's swapped `..data`; new
handshakes see the new certificate within 2 s. A bad new pair keeps the old one and is counted
(switchyard_tls_certificate_reload_failures_total); switchyard_tls_certificate_expiry_timestamp_seconds
is the certificate's notAfter; a certificate near its end is warned about.

Certificates are self-signed, made with the openssl CLI at test time; each has its own serial,
and the client compares the DER it was shown with the file's.
"""

import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import LOOPBACK, free_port, wait_until
from obs_util import scrape, scrape_until

DEADLINE = 2.0  # the promise: new handshakes use a renewed certificate within 2 s


def make_cert(d, stem, serial, days=30, cn="site.test"):
    """Writes d/stem.crt and d/stem.key; returns the certificate's DER."""
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(d / (stem + ".key")),
                    "-out", str(d / (stem + ".crt")), "-days", str(days), "-subj", "/CN=" + cn,
                    "-addext", "subjectAltName=DNS:" + cn, "-set_serial", str(serial)],
                   check=True, capture_output=True, timeout=30)
    return ssl.PEM_cert_to_DER_cert((d / (stem + ".crt")).read_text())


def not_after(path):
    out = subprocess.run(["openssl", "x509", "-enddate", "-noout", "-in", str(path)],
                         check=True, capture_output=True, text=True, timeout=10).stdout
    return ssl.cert_time_to_seconds(out.strip().split("=", 1)[1])


def served_der(port, servername="site.test"):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((LOOPBACK, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=servername) as s:
            return s.getpeercert(binary_form=True)


def start(switchyard, origins, cert, key, pool_tls=None):
    (b1,) = origins(1)
    cfg = switchyard.config([b1])
    port = free_port()
    cfg["listeners"] = [{"name": "secure", "listen": "%s:%d" % (LOOPBACK, port),
                         "tls": {"certificates": [{"cert": str(cert), "key": str(key)}]},
                         "routes": [{"match": {"path_prefix": "/"}, "pool": "web"}]}]
    if pool_tls:
        cfg["pools"][0]["tls"] = pool_tls
    return switchyard.start(cfg, port=port)


def wait_served(port, der, what):
    t0 = time.monotonic()
    wait_until(lambda: served_der(port) == der, DEADLINE, interval=0.05, what=what)
    return time.monotonic() - t0


def cert_sample(m, family, listener, name):
    """The one sample of `family` for {listener, name} (Metrics.one takes `name` itself)."""
    found = [v for n, l, v in m.samples
             if n == family and l.get("listener") == listener and l.get("name") == name]
    assert len(found) == 1, "%s {%s, %s}: %d series" % (family, listener, name, len(found))
    return found[0]


def failures(admin_port, name, listener="secure", m=None):
    return cert_sample(m or scrape(admin_port), "switchyard_tls_certificate_reload_failures_total",
                       listener, name)


def expiry(m, listener, name):
    return cert_sample(m, "switchyard_tls_certificate_expiry_timestamp_seconds", listener, name)


def replace(path, data):
    """Writes a new file next to `path` and renames it over (what most tools do)."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.rename(tmp, path)


def write_in_place(path, data):
    """Rewrites the same inode (truncate, write)."""
    with open(path, "r+b") as f:
        f.truncate(0)
        f.write(data)


def test_renamed_over_and_written_in_place(switchyard, origins, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    a, b, c = (make_cert(src, s, n) for s, n in (("a", 101), ("b", 102), ("c", 103)))
    live = tmp_path / "live"
    live.mkdir()
    for ext in ("crt", "key"):
        (live / ("site." + ext)).write_bytes((src / ("a." + ext)).read_bytes())
    cert, key = live / "site.crt", live / "site.key"
    p = start(switchyard, origins, cert, key)
    assert served_der(p.port) == a

    # Renamed over: key first, then the certificate (each a complete file).
    replace(key, (src / "b.key").read_bytes())
    replace(cert, (src / "b.crt").read_bytes())
    wait_served(p.port, b, "the renamed-over certificate served")

    # In place: the same inodes rewritten.
    ino = os.stat(cert).st_ino
    write_in_place(key, (src / "c.key").read_bytes())
    write_in_place(cert, (src / "c.crt").read_bytes())
    assert os.stat(cert).st_ino == ino
    wait_served(p.port, c, "the certificate written in place served")
    assert failures(p.admin_port, str(cert)) == 0
    assert "certificate %s reloaded from disk" % cert in p.stderr()


def test_certbot_symlink_and_kubernetes_data_swap(switchyard, origins, tmp_path):
    """certbot: live/x.pem -> ../archive/xN.pem, renewal writes xN+1 and replaces the links.
    Kubernetes Secret volume: tls.crt -> ..data/tls.crt, ..data -> ..<timestamp>/, an update
    renames a new ..data link over the old one."""
    archive = tmp_path / "archive"
    archive.mkdir()
    a, b = make_cert(archive, "cert1", 201), make_cert(archive, "cert2", 202)
    live = tmp_path / "live"
    live.mkdir()
    os.symlink("../archive/cert1.crt", live / "fullchain.pem")
    os.symlink("../archive/cert1.key", live / "privkey.pem")

    secret = tmp_path / "secret"
    secret.mkdir()
    for n, stem in ((1, "cert1"), (2, "cert2")):
        ts = secret / ("..2026_12_07_0%d" % n)
        ts.mkdir()
        for ext, name in (("crt", "tls.crt"), ("key", "tls.key")):
            (ts / name).write_bytes((archive / (stem + "." + ext)).read_bytes())
    os.symlink("..2026_12_07_01", secret / "..data")
    os.symlink("..data/tls.crt", secret / "tls.crt")
    os.symlink("..data/tls.key", secret / "tls.key")

    p1 = start(switchyard, origins, live / "fullchain.pem", live / "privkey.pem")
    p2 = start(switchyard, origins, secret / "tls.crt", secret / "tls.key")
    assert served_der(p1.port) == a and served_der(p2.port) == a

    for name, target in (("fullchain.pem", "cert2.crt"), ("privkey.pem", "cert2.key")):
        os.symlink("../archive/" + target, live / (name + ".new"))
        os.rename(live / (name + ".new"), live / name)
    os.symlink("..2026_12_07_02", secret / "..data_tmp")
    os.rename(secret / "..data_tmp", secret / "..data")
    wait_served(p1.port, b, "certbot's renewed certificate served")
    wait_served(p2.port, b, "the Secret's new certificate served")
    assert failures(p1.admin_port, str(live / "fullchain.pem")) == 0
    assert failures(p2.admin_port, str(secret / "tls.crt")) == 0


@pytest.mark.parametrize("bad", ["garbage", "half", "mismatch"])
def test_bad_new_pair_keeps_the_old_one_and_is_counted(switchyard, origins, tmp_path, bad):
    src = tmp_path / "src"
    src.mkdir()
    a, b = make_cert(src, "a", 301), make_cert(src, "b", 302)
    live = tmp_path / "live"
    live.mkdir()
    cert, key = live / "site.crt", live / "site.key"
    cert.write_bytes((src / "a.crt").read_bytes())
    key.write_bytes((src / "a.key").read_bytes())
    p = start(switchyard, origins, cert, key)
    new = (src / "b.crt").read_bytes()
    if bad == "garbage":
        replace(cert, b"this is not a certificate\n")
    elif bad == "half":  # a writer stopped half-way
        write_in_place(cert, new[:len(new) // 2])
    else:  # a valid certificate whose key was not replaced
        replace(cert, new)
    scrape_until(p.admin_port,
                 lambda m: failures(None, str(cert), m=m) == 1,
                 timeout=5, what="the failed certificate reload counted")
    assert served_der(p.port) == a
    assert re.search(r"certificate %s changed on disk but cannot be used, keeping the one in use"
                     % re.escape(str(cert)), p.stderr())
    # A good pair afterwards is taken.
    replace(key, (src / "b.key").read_bytes())
    replace(cert, new)
    wait_served(p.port, b, "the repaired pair served")
    assert failures(p.admin_port, str(cert)) == 1


def test_expiry_gauge_and_warning(switchyard, origins, tmp_path):
    d = tmp_path / "pki"
    d.mkdir()
    make_cert(d, "soon", 401, days=10)
    make_cert(d, "later", 402, days=90)
    make_cert(d, "client", 403, days=60, cn="client.test")
    make_cert(d, "client2", 404, days=120, cn="client.test")
    cert, key = d / "site.crt", d / "site.key"
    cert.write_bytes((d / "soon.crt").read_bytes())
    key.write_bytes((d / "soon.key").read_bytes())
    ccert, ckey = d / "c.crt", d / "c.key"
    ccert.write_bytes((d / "client.crt").read_bytes())
    ckey.write_bytes((d / "client.key").read_bytes())
    p = start(switchyard, origins, cert, key,
              pool_tls={"ca": str(d / "later.crt"), "cert": str(ccert), "key": str(ckey)})
    m = scrape(p.admin_port)
    assert expiry(m, "secure", str(cert)) == not_after(d / "soon.crt")
    assert expiry(m, "pool/web", str(ccert)) == not_after(d / "client.crt")
    # 10 days minus the seconds since the certificate was made: 10 or (rounded down) 9.
    warning = re.compile(r"secure: certificate %s expires in (?:9|10) days "
                         r"\(\d{4}-\d\d-\d\dT[\d:]+Z\): renew it" % re.escape(str(cert)))
    assert len(warning.findall(p.stderr())) == 1
    assert "pool/web: certificate" not in p.stderr()  # 60 days left: no warning

    # At most once a day: a reload (new contexts, same certificate) does not warn again.
    p.signal(signal.SIGHUP)
    wait_until(lambda: "SIGHUP: reloaded" in p.stderr(), 5, what="the reload")
    assert len(warning.findall(p.stderr())) == 1

    # Renewed certificates move the gauges (the pool's client side too).
    replace(key, (d / "later.key").read_bytes())
    replace(cert, (d / "later.crt").read_bytes())
    replace(ckey, (d / "client2.key").read_bytes())
    replace(ccert, (d / "client2.crt").read_bytes())
    scrape_until(p.admin_port,
                 lambda m: expiry(m, "secure", str(cert)) == not_after(d / "later.crt")
                 and expiry(m, "pool/web", str(ccert)) == not_after(d / "client2.crt"),
                 timeout=DEADLINE, what="the renewed certificates' notAfter")
    assert failures(p.admin_port, str(ccert), listener="pool/web") == 0
