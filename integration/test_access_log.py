"""The access log (json and combined; file, stdout, off; reopen on SIGUSR1) and X-Request-Id."""

import json
import re
import signal

from conftest import RawConn, dead_port, get_request, request, wait_until

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _lines(path):
    try:
        return [l for l in path.read_text().splitlines() if l]
    except FileNotFoundError:
        return []


def _wait_lines(path, n, timeout=5):
    return wait_until(lambda: (lambda ls: ls if len(ls) >= n else None)(_lines(path)), timeout,
                      what="%d access log lines in %s" % (n, path))


def test_json_lines_have_the_expected_fields(origins, switchyard, tmp_path):
    b1, b2 = origins(2)
    log = tmp_path / "access.log"
    cfg = switchyard.config([b1, b2], access_log={"path": str(log), "format": "json"})
    p = switchyard.start(cfg)
    answers = []
    for i in range(6):
        r = request(p.port, "/bytes?n=%d&i=%d" % (10 * (i + 1), i),
                    headers={"User-Agent": "obs-test/1", "Referer": "http://ref/\"x\""})
        answers.append(r)
    assert request(p.port, "/status/503").status == 503
    with RawConn(p.port) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: h.example:8080\r\nContent-Length: 5\r\n\r\nhello")
        assert c.read_response().status == 200
    lines = _wait_lines(log, 8)
    assert len(lines) == 8
    entries = [json.loads(l) for l in lines]
    by_id = {e["request_id"]: e for e in entries}
    for r in answers:
        e = by_id[r.header("x-request-id")]
        assert e["status"] == 200
        assert e["method"] == "GET" and e["path"].startswith("/bytes?n=")
        assert e["backend"] == r.header("x-backend")
        assert e["pool"] == "web" and e["listener"] == "public"
        assert e["upstream_address"] in (b1.address, b2.address)
        assert e["client"] == "127.0.0.1"
        assert e["protocol"] == "HTTP/1.1"
        assert e["user_agent"] == "obs-test/1"
        assert e["referer"] == "http://ref/\"x\""
        assert e["bytes_sent"] > len(r.body)
        assert 0 < e["duration_ms"] < 5000
        assert e["upstream_response_ms"] is not None and e["upstream_response_ms"] <= e["duration_ms"]
        assert e["attempts"] == 1
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", e["time"])
    # A fresh upstream connection has a connect time; a reused one has none.
    assert any(e["upstream_connect_ms"] is not None for e in entries)
    assert any(e["upstream_connect_ms"] is None for e in entries)
    assert sum(1 for e in entries if e["status"] == 503) == 1
    post = [e for e in entries if e["method"] == "POST"][0]
    assert post["request_body_bytes"] == 5 and post["host"] == "h.example:8080"


def test_errors_and_local_answers_are_logged(switchyard, tmp_path):
    log = tmp_path / "access.log"
    cfg = switchyard.config([("gone", dead_port())], attempts=0,
                            access_log={"path": str(log), "format": "json"})
    p = switchyard.start(cfg)
    r = request(p.port, "/x")
    assert r.status == 502
    assert HEX32.match(r.header("x-request-id"))
    with RawConn(p.port) as c:
        c.send(b"GET /bad HTTP/1.1\r\nHost: a\r\nNo Colon\r\n\r\n")
        assert c.read_response().status == 400
    lines = [json.loads(l) for l in _wait_lines(log, 2)]
    e502 = [e for e in lines if e["status"] == 502][0]
    assert e502["request_id"] == r.header("x-request-id")
    assert e502["backend"] == "gone" and e502["upstream_response_ms"] is None
    assert any(e["status"] == 400 for e in lines)


def test_combined_format(origins, switchyard, tmp_path):
    b1 = origins(1)[0]
    log = tmp_path / "access.log"
    p = switchyard.start(switchyard.config([b1], access_log={"path": str(log),
                                                             "format": "combined"}))
    r = request(p.port, "/hello?a=1", headers={"User-Agent": "ua \"q\""})
    line = _wait_lines(log, 1)[0]
    m = re.match(r'^127\.0\.0\.1 - - \[(\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000)\] '
                 r'"GET /hello\?a=1 HTTP/1\.1" 200 (\d+) "-" "ua \\x22q\\x22" '
                 r'request_id=(\S+) duration=(\d+\.\d{3}) backend=web/b1 '
                 r'upstream_connect=(\S+) upstream_response=(\d+\.\d{3}) attempts=1$', line)
    assert m, line
    assert int(m.group(2)) > len(r.body)
    assert m.group(3) == r.header("x-request-id")


def test_stdout_and_off(origins, switchyard):
    b1 = origins(1)[0]
    p = switchyard.start(switchyard.config([b1], access_log={"path": "stdout"}))
    request(p.port, "/one")
    wait_until(lambda: '"path":"/one"' in p.stdout_path.read_text(), 5,
               what="the line on stdout")
    q = switchyard.start(switchyard.config([b1], access_log={"path": "off"}))
    request(q.port, "/two")
    assert request(q.admin_port, "/healthz").status == 200
    assert q.stdout_path.read_text() == ""


def test_sigusr1_reopens_the_file(origins, switchyard, tmp_path):
    b1 = origins(1)[0]
    log = tmp_path / "access.log"
    p = switchyard.start(switchyard.config([b1], access_log={"path": str(log)}))
    request(p.port, "/before")
    _wait_lines(log, 1)
    rotated = tmp_path / "access.log.1"
    log.rename(rotated)
    p.signal(signal.SIGUSR1)
    wait_until(lambda: "access log reopened" in p.stderr(), 5, what="the reopen")
    request(p.port, "/after")
    lines = _wait_lines(log, 1)
    assert json.loads(lines[0])["path"] == "/after"
    assert [json.loads(l)["path"] for l in _lines(rotated)] == ["/before"]


def test_request_id_kept_generated_forwarded_and_returned(origins, switchyard):
    b1 = origins(1)[0]
    p = switchyard.start(switchyard.config([b1]))

    def upstream_ids(resp):
        return [v for k, v in json.loads(resp.body)["headers"] if k.lower() == "x-request-id"]

    r = request(p.port, "/headers", headers={"X-Request-Id": "client-id-42"})
    assert r.header("x-request-id") == "client-id-42"
    assert upstream_ids(r) == ["client-id-42"]

    r = request(p.port, "/headers")
    rid = r.header("x-request-id")
    assert HEX32.match(rid)
    assert upstream_ids(r) == [rid]
    assert request(p.port, "/headers").header("x-request-id") != rid

    # Unacceptable ids (spaces, over 128 characters) are replaced, never passed on.
    for bad in ("two words", "x" * 129):
        r = request(p.port, "/headers", headers={"X-Request-Id": bad})
        assert HEX32.match(r.header("x-request-id"))
        assert upstream_ids(r) == [r.header("x-request-id")]

    # Local answers carry it too; the backend's own X-Request-Id does not reach the client.
    with RawConn(p.port) as c:
        c.send(get_request("GET", "/", headers=[("X-Request-Id", "abc")]) +
               get_request("GET", "/status/500", headers=[("X-Request-Id", "def")]))
        assert c.read_response().header("x-request-id") == "abc"
        assert c.read_response().header_all("x-request-id") == ["def"]


def test_unopenable_log_file_refuses_to_start(origins, switchyard, tmp_path):
    b1 = origins(1)[0]
    bad = tmp_path / "no-such-dir" / "access.log"
    p = switchyard.start(switchyard.config([b1], access_log={"path": str(bad)}), wait=False)
    p.expect_failure = True
    assert p.wait_exit(10) == 1
    assert str(bad) in p.stderr() and "cannot open" in p.stderr()


def test_reload_switches_path_and_format(origins, switchyard, tmp_path):
    b1 = origins(1)[0]
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    cfg = switchyard.config([b1], access_log={"path": str(first), "format": "json"})
    p = switchyard.start(cfg)
    request(p.port, "/one")
    _wait_lines(first, 1)
    cfg["access_log"] = {"path": str(second), "format": "combined"}
    switchyard.write(cfg, p.cfg_path.name)
    assert request(p.admin_port, "/reload", method="POST").status == 200
    request(p.port, "/two")
    line = _wait_lines(second, 1)[0]
    assert '"GET /two HTTP/1.1" 200' in line
    assert [json.loads(l)["path"] for l in _lines(first)] == ["/one"]
