"""Process lifecycle: graceful shutdown on signals, and the command line."""

import re
import signal
import threading

from conftest import accepts, request, wait_until

GOOD_CONFIG = """\
workers: 1
admin: {listen: 127.0.0.1:%(admin)d}
access_log: {path: off}
listeners:
  - name: public
    listen: 127.0.0.1:%(port)d
    routes:
      - match: {path_prefix: /}
        pool: web
pools:
  - name: web
    backends:
      - name: b1
        address: 127.0.0.1:19001
        weight: %(weight)s
"""

# Line 16, column 9 (1-based) is the misspelt key.
BAD_KEY_CONFIG = GOOD_CONFIG.replace("        weight: %(weight)s\n",
                                     "        weight: 1\n        wieght: 1\n")


def _write(tmp_path, name, text, weight=1):
    path = tmp_path / name
    path.write_text(text % {"admin": 1, "port": 2, "weight": weight})
    return path


def test_graceful_shutdown_finishes_in_flight_request(origins, switchyard):
    o = origins(1)[0]
    p = switchyard.start(switchyard.config([o]))
    o.reset_stats()
    result = {}

    def client():
        try:
            result["resp"] = request(p.port, "/slow?ms=1500", timeout=15)
        except Exception as e:  # reported below
            result["error"] = e

    t = threading.Thread(target=client, daemon=True)
    t.start()
    wait_until(lambda: o.stats()["requests"] >= 1, 5, what="the origin to get /slow")
    p.signal(signal.SIGTERM)
    wait_until(lambda: not p.accepts(), 3, what="new connections to be refused after SIGTERM")
    assert "resp" not in result and "error" not in result, \
        "listener closed only after the in-flight request ended"
    t.join(15)
    assert "error" not in result, result.get("error")
    assert result["resp"].status == 200
    assert result["resp"].body == b"slow done\n"
    assert p.wait_exit(10) == 0


def test_sigint_idle_exits_zero(origins, switchyard):
    p = switchyard.start(switchyard.config(origins(1)))
    assert request(p.port, "/").status == 200
    p.signal(signal.SIGINT)
    assert p.wait_exit(10) == 0


def test_check_good_config(switchyard, tmp_path):
    path = _write(tmp_path, "good.yaml", GOOD_CONFIG)
    res = switchyard.run_cli("--check", "-c", path)
    assert res.returncode == 0, res.stderr


def test_check_unknown_key_reports_position_and_path(switchyard, tmp_path):
    path = _write(tmp_path, "bad.yaml", BAD_KEY_CONFIG)
    assert path.read_text().splitlines()[15] == "        wieght: 1"
    res = switchyard.run_cli("--check", "-c", path)
    assert res.returncode == 1, (res.returncode, res.stderr)
    m = re.search(r"bad\.yaml:(\d+):(\d+)", res.stderr)
    assert m, res.stderr
    assert (int(m.group(1)), int(m.group(2))) == (16, 9), res.stderr
    assert "pools[0].backends[0].wieght" in res.stderr


def test_check_bad_value_names_key_path(switchyard, tmp_path):
    path = _write(tmp_path, "zero.yaml", GOOD_CONFIG, weight=0)
    res = switchyard.run_cli("--check", "-c", path)
    assert res.returncode == 1
    assert re.search(r"zero\.yaml:15:\d+", res.stderr), res.stderr
    assert "pools[0].backends[0].weight" in res.stderr


def test_check_missing_file(switchyard, tmp_path):
    res = switchyard.run_cli("--check", "-c", tmp_path / "nope.yaml")
    assert res.returncode == 1
    assert "nope.yaml" in res.stderr


def test_version(switchyard):
    res = switchyard.run_cli("--version")
    assert res.returncode == 0
    assert re.search(r"\d+\.\d+\.\d+", res.stdout + res.stderr)


def test_help(switchyard):
    res = switchyard.run_cli("--help")
    assert res.returncode == 0
    out = res.stdout + res.stderr
    assert "--check" in out and "-c" in out


def test_too_few_descriptors_to_start_is_a_clear_error(origins, switchyard):
    """Under descriptor limits from far too low to just enough, start-up either works or ends
    with exit status 1 and an ERROR line naming what could not be opened; never a crash."""
    import resource
    import subprocess
    (b1,) = origins(1)
    cfg = switchyard.config([b1], workers=2)
    path = switchyard.write(cfg, "fd-limit.yaml")
    port = int(cfg["listeners"][0]["listen"].rsplit(":", 1)[1])

    outcomes = {}
    for limit in range(4, 40, 2):
        def cap(limit=limit):
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))
        proc = subprocess.Popen([str(switchyard.binary), "-c", str(path)], preexec_fn=cap,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                stdin=subprocess.DEVNULL)
        # Started = the listener accepts; not started = the process ended first.
        started = wait_until(lambda: "exited" if proc.poll() is not None
                             else ("serving" if accepts(port) else None), 10,
                             what="switchyard to serve or exit") == "serving"
        if started:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
        text = err.decode(errors="replace")
        assert proc.returncode in (0, 1), (limit, proc.returncode, text[-2000:])
        assert "AddressSanitizer" not in text and "runtime error" not in text, text[-2000:]
        if not started:
            assert proc.returncode == 1 and " ERROR " in text, (limit, text[-2000:])
        outcomes[limit] = started
    # The range covers both outcomes: too few to start, and enough.
    assert not outcomes[4] and outcomes[38], outcomes
