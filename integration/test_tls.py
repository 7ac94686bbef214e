"""TLS: termination on listeners (SNI, versions, ALPN, keep-alive, large bodies), HTTPS to
backends (verified against a test CA, and a verification failure), redirect to https, and
certificate errors caught by --check and refused by reload.

Certificates are generated at test time with the openssl CLI (tls_pki fixture): a CA, a server
certificate for site.test + www.site.test, one for api.test, a backend certificate for
localhost/127.0.0.1, and an expired one.
"""

import hashlib
import http.client
import json
import re
import signal
import socket
import ssl
import subprocess

import pytest

from conftest import LOOPBACK, free_port, pattern_bytes, to_yaml, wait_until

CA_CNF = """[ca]
default_ca = testca
[testca]
dir = .
database = db/index.txt
serial = db/serial
new_certs_dir = db
certificate = ca.crt
private_key = ca.key
default_md = sha256
policy = anything
copy_extensions = copy
unique_subject = no
[anything]
commonName = supplied
"""


def _run(args, cwd):
    subprocess.run(args, cwd=cwd, check=True, capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def tls_pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    _run(["openssl", "req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
          "-subj", "/CN=Switchyard Test CA"], d)
    (d / "db").mkdir()
    (d / "db" / "index.txt").write_text("")
    (d / "db" / "serial").write_text("01\n")
    (d / "ca.cnf").write_text(CA_CNF)

    def issue(stem, cn, san, dates=("-days", "30")):
        _run(["openssl", "req", *ec, "-keyout", stem + ".key", "-out", stem + ".csr",
              "-subj", "/CN=" + cn, "-addext", "subjectAltName=" + san], d)
        _run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-in", stem + ".csr",
              "-out", stem + ".crt", "-notext", *dates], d)

    issue("site", "site.test", "DNS:site.test,DNS:www.site.test")
    issue("api", "api.test", "DNS:api.test")
    issue("backend", "localhost", "DNS:localhost,IP:127.0.0.1")
    issue("expired", "localhost", "DNS:localhost,IP:127.0.0.1",
          ("-startdate", "20200101000000Z", "-enddate", "20200201000000Z"))
    return d


def tls_listener(pki, port, **extra):
    tls = {"certificates": [
        {"cert": str(pki / "site.crt"), "key": str(pki / "site.key")},
        {"cert": str(pki / "api.crt"), "key": str(pki / "api.key")},
    ]}
    tls.update(extra)
    return {"name": "secure", "listen": "%s:%d" % (LOOPBACK, port), "tls": tls,
            "routes": [{"match": {"path_prefix": "/"}, "pool": "web"}]}


def start_tls_proxy(switchyard, pki, backends, pool_tls=None, **tls_extra):
    cfg = switchyard.config(backends)
    port = free_port()
    cfg["listeners"] = [tls_listener(pki, port, **tls_extra)]
    if pool_tls is not None:
        cfg["pools"][0]["tls"] = pool_tls
    return switchyard.start(cfg, port=port), cfg


def client_ctx(pki):
    ctx = ssl.create_default_context(cafile=str(pki / "ca.crt"))
    return ctx


def https(port, path="/", method="GET", body=None, host="site.test", ctx=None, headers=None,
          pki=None, timeout=20):
    conn = http.client.HTTPSConnection(host, port, context=ctx or client_ctx(pki),
                                       timeout=timeout)
    conn.sock = None
    # Resolve the test names to loopback while keeping SNI and verification on `host`.
    raw = socket.create_connection((LOOPBACK, port), timeout=timeout)
    conn.sock = conn._context.wrap_socket(raw, server_hostname=host)
    conn.request(method, path, body=body, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    return r, data


def s_client(port, *args, servername=None):
    cmd = ["openssl", "s_client", "-connect", "%s:%d" % (LOOPBACK, port), *args]
    if servername:
        cmd += ["-servername", servername]
    return subprocess.run(cmd, input=b"", capture_output=True, timeout=20)


def served_subject(port, servername):
    out = s_client(port, servername=servername).stdout.decode(errors="replace")
    m = re.search(r"subject=.*?CN\s*=\s*([^\s,/]+)", out)
    return m.group(1) if m else None


@pytest.mark.parametrize("version,status_line", [("--http1.1", "HTTP/1.1 200"),
                                                 ("--http2", "HTTP/2 200")])
def test_curl_through_tls_listener(switchyard, origins, tls_pki, version, status_line):
    (b1,) = origins(1)
    proxy, _ = start_tls_proxy(switchyard, tls_pki, [b1])
    out = subprocess.run(
        ["curl", "-sS", version, "--cacert", str(tls_pki / "ca.crt"), "--resolve",
         "site.test:%d:%s" % (proxy.port, LOOPBACK), "-D", "-",
         "https://site.test:%d/headers" % proxy.port],
        capture_output=True, timeout=20)
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert text.startswith(status_line)
    assert "x-backend: b1" in text.lower()
    doc = json.loads(text.split("\r\n\r\n", 1)[1])
    headers = {k.lower(): v for k, v in doc["headers"]}
    assert headers["x-forwarded-proto"] == "https"


def test_sni_picks_the_certificate(switchyard, origins, tls_pki):
    (b1,) = origins(1)
    proxy, _ = start_tls_proxy(switchyard, tls_pki, [b1])
    assert served_subject(proxy.port, "api.test") == "api.test"
    assert served_subject(proxy.port, "site.test") == "site.test"
    assert served_subject(proxy.port, "www.site.test") == "site.test"
    assert served_subject(proxy.port, "unknown.test") == "site.test"  # default: the first
    # And a verifying client accepts each name.
    for host in ("site.test", "www.site.test", "api.test"):
        r, body = https(proxy.port, host=host, pki=tls_pki)
        assert r.status == 200 and body == b"hello from b1\n"


def alpn_selected(port, pki, offer):
    ctx = client_ctx(pki)
    ctx.set_alpn_protocols(offer)
    with socket.create_connection((LOOPBACK, port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="site.test") as s:
            assert s.version() == "TLSv1.3"
            return s.selected_alpn_protocol()


def test_alpn_follows_protocols(switchyard, origins, tls_pki):
    """ALPN offers h2 first on a default TLS listener, http/1.1 to clients without h2, and only
    http/1.1 when the listener's protocols are [h1]."""
    (b1,) = origins(1)
    proxy, cfg = start_tls_proxy(switchyard, tls_pki, [b1])
    assert alpn_selected(proxy.port, tls_pki, ["h2", "http/1.1"]) == "h2"
    assert alpn_selected(proxy.port, tls_pki, ["http/1.1", "h2"]) == "h2"  # the server's order
    assert alpn_selected(proxy.port, tls_pki, ["http/1.1"]) == "http/1.1"
    assert alpn_selected(proxy.port, tls_pki, ["spdy/3"]) is None
    cfg["listeners"][0]["protocols"] = ["h1"]
    port = free_port()
    cfg["listeners"][0]["listen"] = "%s:%d" % (LOOPBACK, port)
    cfg["admin"]["listen"] = "%s:%d" % (LOOPBACK, free_port())
    h1only = switchyard.start(cfg, port=port)
    assert alpn_selected(h1only.port, tls_pki, ["h2", "http/1.1"]) == "http/1.1"


def test_alpn_http11_and_old_versions_refused(switchyard, origins, tls_pki):
    (b1,) = origins(1)
    proxy, _ = start_tls_proxy(switchyard, tls_pki, [b1])
    assert alpn_selected(proxy.port, tls_pki, ["http/1.1"]) == "http/1.1"
    # TLS 1.1 is refused with the default min_version 1.2 (the client is allowed to try it at
    # security level 0, so the refusal is the server's).
    r = s_client(proxy.port, "-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", servername="site.test")
    assert r.returncode != 0
    assert b"Cipher is (NONE)" in r.stdout or b"no protocols available" in r.stderr \
        or b"alert" in r.stderr
    r = s_client(proxy.port, "-tls1_2", servername="site.test")
    assert r.returncode == 0 and b"TLSv1.2" in r.stdout
    # The failed handshake is counted.
    metrics = http.client.HTTPConnection(LOOPBACK, proxy.admin_port, timeout=5)
    metrics.request("GET", "/metrics")
    text = metrics.getresponse().read().decode()
    m = re.search(r'switchyard_tls_handshake_failures_total\{listener="secure"\} (\d+)', text)
    assert m and int(m.group(1)) >= 1


def test_min_version_13(switchyard, origins, tls_pki):
    (b1,) = origins(1)
    proxy, _ = start_tls_proxy(switchyard, tls_pki, [b1], min_version="1.3")
    assert s_client(proxy.port, "-tls1_2", servername="site.test").returncode != 0
    assert s_client(proxy.port, "-tls1_3", servername="site.test").returncode == 0


def test_keepalive_and_resumption(switchyard, origins, tls_pki):
    (b1,) = origins(1)
    proxy, _ = start_tls_proxy(switchyard, tls_pki, [b1])
    ctx = client_ctx(tls_pki)
    raw = socket.create_connection((LOOPBACK, proxy.port), timeout=10)
    conn = http.client.HTTPSConnection("site.test", proxy.port, context=ctx, timeout=10)
    conn.sock = ctx.wrap_socket(raw, server_hostname="site.test")
    first_sock = conn.sock
    for i in range(5):
        conn.request("POST", "/echo", body=b"x" * (1000 * i + 1))
        r = conn.getresponse()
        assert r.status == 200
        assert r.read() == b"x" * (1000 * i + 1)
        assert conn.sock is first_sock  # same TLS connection
    session = conn.sock.session
    conn.close()
    # A second connection resumes the first one's session (ticket).
    raw = socket.create_connection((LOOPBACK, proxy.port), timeout=10)
    with ctx.wrap_socket(raw, server_hostname="site.test", session=session) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: site.test\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        assert data.startswith(b"HTTP/1.1 200")
        assert s.session_reused


def test_10mib_both_ways(switchyard, origins, tls_pki):
    (b1,) = origins(1)
    proxy, _ = start_tls_proxy(switchyard, tls_pki, [b1])
    n = 10 * 1024 * 1024
    body, _ = pattern_bytes(n, 7)
    r, data = https(proxy.port, "/echo", "POST", body, pki=tls_pki, timeout=60)
    assert r.status == 200
    assert r.getheader("X-Body-Sha256") == hashlib.sha256(body).hexdigest()
    assert hashlib.sha256(data).hexdigest() == hashlib.sha256(body).hexdigest()
    for mode in ("length", "chunked"):
        r, data = https(proxy.port, "/bytes?n=%d&seed=3&mode=%s" % (n, mode), pki=tls_pki,
                        timeout=60)
        assert r.status == 200 and len(data) == n
        assert hashlib.sha256(data).hexdigest() == r.getheader("X-Body-Sha256")


def test_https_backend_verified_against_the_ca(switchyard, origins, tls_pki):
    (b1,) = origins(1, extra_args=("--tls-cert", str(tls_pki / "backend.crt"),
                                   "--tls-key", str(tls_pki / "backend.key")))
    cfg = switchyard.config([b1])
    cfg["pools"][0]["tls"] = {"ca": str(tls_pki / "ca.crt")}
    proxy = switchyard.start(cfg)
    n = 3 * 1024 * 1024
    body, _ = pattern_bytes(n, 1)
    conn = http.client.HTTPConnection(LOOPBACK, proxy.port, timeout=30)
    for _ in range(3):  # kept-alive on both sides
        conn.request("POST", "/echo", body=body)
        r = conn.getresponse()
        data = r.read()
        assert r.status == 200 and r.getheader("X-Backend") == "b1"
        assert hashlib.sha256(data).hexdigest() == hashlib.sha256(body).hexdigest()
    conn.request("GET", "/bytes?n=%d&mode=chunked" % n)
    r = conn.getresponse()
    data = r.read()
    assert r.status == 200 and hashlib.sha256(data).hexdigest() == r.getheader("X-Body-Sha256")
    # The SNI name can also be set explicitly (verification then checks that name).
    cfg2 = switchyard.config([b1])
    cfg2["pools"][0]["tls"] = {"ca": str(tls_pki / "ca.crt"), "sni": "localhost"}
    proxy2 = switchyard.start(cfg2)
    conn = http.client.HTTPConnection(LOOPBACK, proxy2.port, timeout=10)
    conn.request("GET", "/")
    r = conn.getresponse()
    assert r.status == 200 and r.read() == b"hello from b1\n"


def test_https_backend_failing_verification(switchyard, origins, tls_pki):
    (bad,) = origins(1, names=["expired"],
                     extra_args=("--tls-cert", str(tls_pki / "expired.crt"),
                                 "--tls-key", str(tls_pki / "expired.key")))
    (wrong,) = origins(1, names=["wrongname"],
                       extra_args=("--tls-cert", str(tls_pki / "api.crt"),
                                   "--tls-key", str(tls_pki / "api.key")))
    for origin, reason in ((bad, "certificate has expired"),
                           (wrong, "IP address mismatch")):
        cfg = switchyard.config([origin], attempts=0)
        cfg["pools"][0]["tls"] = {"ca": str(tls_pki / "ca.crt")}
        proxy = switchyard.start(cfg)
        conn = http.client.HTTPConnection(LOOPBACK, proxy.port, timeout=10)
        conn.request("GET", "/")
        r = conn.getresponse()
        r.read()
        assert r.status == 502
        wait_until(lambda: reason in proxy.stderr(), 5, what="verify error logged")
        line = [l for l in proxy.stderr().splitlines() if reason in l][0]
        assert origin.name in line and origin.address in line
    # verify: false accepts the expired certificate, with a warning at start.
    cfg = switchyard.config([bad])
    cfg["pools"][0]["tls"] = {"verify": False}
    proxy = switchyard.start(cfg)
    conn = http.client.HTTPConnection(LOOPBACK, proxy.port, timeout=10)
    conn.request("GET", "/")
    r = conn.getresponse()
    assert r.status == 200 and r.read() == b"hello from expired\n"
    assert "tls.verify is false" in proxy.stderr()


def test_redirect_https(switchyard, origins, tls_pki):
    (b1,) = origins(1)
    cfg = switchyard.config([b1])
    cfg["listeners"][0]["redirect_https"] = 8443
    proxy = switchyard.start(cfg)
    conn = http.client.HTTPConnection(LOOPBACK, proxy.port, timeout=10)
    conn.request("GET", "/a/b?c=1", headers={"Host": "site.test:%d" % proxy.port})
    r = conn.getresponse()
    r.read()
    assert r.status == 308
    assert r.getheader("Location") == "https://site.test:8443/a/b?c=1"
    conn.request("POST", "/x", body=b"hello", headers={"Host": "site.test"})
    r = conn.getresponse()
    r.read()
    assert r.status == 308 and r.getheader("Location") == "https://site.test:8443/x"


def test_bad_certificate_is_a_config_error(switchyard, origins, tls_pki):
    (b1,) = origins(1)
    cfg = switchyard.config([b1])
    port = free_port()
    cfg["listeners"] = [tls_listener(tls_pki, port)]
    cfg["listeners"][0]["tls"]["certificates"][1]["cert"] = str(tls_pki / "missing.crt")
    path = switchyard.write(cfg, "bad.yaml")
    r = switchyard.run_cli("--check", "-c", path)
    assert r.returncode == 1
    assert re.search(r"bad\.yaml:\d+:\d+: listeners\[0\]\.tls\.certificates\[1\]: cannot read "
                     r".*missing\.crt", r.stderr), r.stderr
    # Key not matching the certificate.
    cfg["listeners"][0]["tls"]["certificates"][1] = {"cert": str(tls_pki / "api.crt"),
                                                     "key": str(tls_pki / "site.key")}
    path = switchyard.write(cfg, "bad2.yaml")
    r = switchyard.run_cli("--check", "-c", path)
    assert r.returncode == 1 and "does not match" in r.stderr


def test_reload_swaps_certificates_and_refuses_bad_ones(switchyard, origins, tls_pki):
    (b1,) = origins(1)
    proxy, cfg = start_tls_proxy(switchyard, tls_pki, [b1])
    assert served_subject(proxy.port, "unknown.test") == "site.test"
    # Kept-alive connection opened before the reload keeps working afterwards.
    ctx = client_ctx(tls_pki)
    raw = socket.create_connection((LOOPBACK, proxy.port), timeout=10)
    old = http.client.HTTPSConnection("site.test", proxy.port, context=ctx, timeout=10)
    old.sock = ctx.wrap_socket(raw, server_hostname="site.test")
    old.request("GET", "/")
    assert old.getresponse().read() == b"hello from b1\n"

    certs = cfg["listeners"][0]["tls"]["certificates"]
    cfg["listeners"][0]["tls"]["certificates"] = [certs[1], certs[0]]  # api.test first now
    proxy.cfg_path.write_text(to_yaml(cfg))
    proxy.signal(signal.SIGHUP)
    wait_until(lambda: served_subject(proxy.port, "unknown.test") == "api.test", 10,
               what="new default certificate")
    old.request("GET", "/")
    assert old.getresponse().read() == b"hello from b1\n"
    old.close()

    cfg["listeners"][0]["tls"]["certificates"][0]["key"] = str(tls_pki / "site.key")
    proxy.cfg_path.write_text(to_yaml(cfg))
    proxy.signal(signal.SIGHUP)
    wait_until(lambda: "reload refused" in proxy.stderr(), 10, what="reload refused")
    assert "does not match" in proxy.stderr()
    assert served_subject(proxy.port, "unknown.test") == "api.test"


def test_health_checks_use_the_pool_tls(switchyard, origins, tls_pki):
    (good,) = origins(1, names=["good"], extra_args=("--tls-cert", str(tls_pki / "backend.crt"),
                                                     "--tls-key", str(tls_pki / "backend.key")))
    (bad,) = origins(1, names=["expired"],
                     extra_args=("--tls-cert", str(tls_pki / "expired.crt"),
                                 "--tls-key", str(tls_pki / "expired.key")))
    cfg = switchyard.config([good, bad])
    cfg["pools"][0]["tls"] = {"ca": str(tls_pki / "ca.crt")}
    cfg["pools"][0]["health_check"] = {"path": "/healthz", "interval": "100ms", "timeout": "1s",
                                       "healthy_threshold": 1, "unhealthy_threshold": 1}
    proxy = switchyard.start(cfg)

    def status():
        c = http.client.HTTPConnection(LOOPBACK, proxy.admin_port, timeout=5)
        c.request("GET", "/status")
        doc = json.loads(c.getresponse().read())
        return {b["name"]: b for p in doc["pools"] for b in p["backends"]}

    wait_until(lambda: "certificate has expired" in proxy.stderr(), 10,
               what="TLS health check failure logged")
    wait_until(lambda: not status()["expired"]["healthy"] and status()["good"]["healthy"], 10,
               what="expired down, good up")
    for _ in range(4):
        conn = http.client.HTTPConnection(LOOPBACK, proxy.port, timeout=10)
        conn.request("GET", "/")
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b"hello from good\n"
