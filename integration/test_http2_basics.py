"""HTTP/2 for clients, protocol selection and the loader: h2c prior knowledge and HTTP/1.1 on the
same port, the listener's SETTINGS (defaults and listeners[].http2), prior knowledge refused on a
default cleartext listener, ALPN h2 on TLS listeners, the loader's checks of
listeners[].protocols. Clients: curl and python3-h2 (H2 in h2_util.py)."""

import json

from conftest import LOOPBACK, RawConn, free_port
from h2_util import H2, curl, h2c_proxy
from test_tls import tls_listener, tls_pki  # noqa: F401 (tls_pki: a fixture)


def test_h2c_prior_knowledge_and_http1_on_the_same_port(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1])
    out = curl("--http2-prior-knowledge", "-D", "-", "-w", "\n%{http_version}",
               "http://%s:%d/" % (LOOPBACK, p.port))
    assert out.returncode == 0, out.stderr
    text = out.stdout.decode()
    assert text.startswith("HTTP/2 200") and "x-backend: b1\r\n" in text
    assert text.endswith("hello from b1\n\n2")
    with RawConn(p.port) as r:
        r.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        resp = r.read_response()
    assert resp.status == 200 and resp.header("x-backend") == "b1"
    c = H2(p.port)  # the listener's SETTINGS: the documented defaults
    try:
        assert c.request("GET", "/")[0] == 200
        rs = c.conn.remote_settings
        assert rs.max_concurrent_streams == 100 and rs.initial_window_size == 256 * 1024
        assert rs.enable_push == 0
    finally:
        c.close()


def test_http2_settings_from_config(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1], listener_extra={"http2": {
        "max_concurrent_streams": 7, "initial_window_size": "64KiB",
        "max_header_list_bytes": "4KiB"}})
    c = H2(p.port)
    try:
        assert c.request("GET", "/")[0] == 200
        rs = c.conn.remote_settings
        assert (rs.max_concurrent_streams, rs.initial_window_size, rs.max_header_list_size) == \
            (7, 64 * 1024, 4096)
        # A head over max_header_list_bytes is refused; the connection goes on.
        sid = c.start("GET", "/headers", headers=[("x-big", "v" * 5000)])
        c.wait(c.finished(sid), what="the refusal of a 5000-byte field")
        s = c.streams[sid]
        assert s["reset"] is not None or dict(s["headers"])[":status"] == "431", s
        assert c.request("GET", "/")[0] == 200
    finally:
        c.close()


def test_prior_knowledge_on_a_default_cleartext_listener_fails(origins, switchyard):
    (b1,) = origins(1)
    p = h2c_proxy(switchyard, [b1], protocols=None)
    with RawConn(p.port) as r:  # the preface is parsed as HTTP/1.1: PRI * HTTP/2.0
        r.send(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        resp = r.read_response()
    assert resp.status == 400
    out = curl("--http2-prior-knowledge", "http://%s:%d/" % (LOOPBACK, p.port))
    # curl reads that HTTP/1.1 answer where it expects SETTINGS: it sends GOAWAY and reports
    # "(52) Empty reply from server" (7.88; other versions say HTTP/2 framing error, 16).
    assert out.returncode in (16, 52), (out.returncode, out.stderr)
    assert out.stdout == b""


def test_tls_alpn_h2_by_default_and_h1_only(origins, switchyard, tls_pki):
    (b1,) = origins(1)
    versions = []
    for protocols in (None, ["h1"]):
        cfg = switchyard.config([b1])
        port = free_port()
        cfg["listeners"] = [tls_listener(tls_pki, port)]
        if protocols:
            cfg["listeners"][0]["protocols"] = protocols
        switchyard.start(cfg, port=port)
        out = curl("--http2", "--cacert", tls_pki / "ca.crt", "--resolve",
                   "site.test:%d:%s" % (port, LOOPBACK), "-w", "\n%{http_version}",
                   "https://site.test:%d/headers" % port)
        assert out.returncode == 0, out.stderr
        body, version = out.stdout.decode().rsplit("\n", 1)
        versions.append(version)
        fields = {k.lower(): v for k, v in json.loads(body)["headers"]}
        assert fields["x-forwarded-proto"] == "https" and fields["host"] == "site.test:%d" % port
    assert versions == ["2", "1.1"]


def test_loader_refuses_h2_on_cleartext_and_unknown_protocols(switchyard, tmp_path):
    def check(protocols):
        cfg = switchyard.config([("b1", 1)])
        cfg["listeners"][0]["protocols"] = protocols
        path = switchyard.write(cfg, "%s.yaml" % "-".join(protocols))
        return switchyard.run_cli("--check", "-c", path)

    good = check(["h1", "h2c"])
    assert good.returncode == 0, good.stderr
    h2 = check(["h2"])
    assert h2.returncode == 1 and "h2c" in h2.stderr and "protocols" in h2.stderr, h2.stderr
    bad = check(["h1", "spdy3"])
    assert bad.returncode == 1 and "unknown protocol 'spdy3'" in bad.stderr, bad.stderr
