"""Configuration writers of the side-by-side benchmark (bench.py): the backend nginx, the three
proxies (nginx, HAProxy, Switchyard on epoll or io_uring) and wrk's Lua scripts. Standard
library only; bench.py re-exports these names.
"""
import os
from pathlib import Path

# Targets: "switchyard" runs on epoll (io_uring: off, the default), "switchyard-uring" the same
# config with `io_uring: on`. A TLS_SUFFIX target is the same proxy with a TLS listener.
PROXIES = ["switchyard", "switchyard-uring", "nginx", "haproxy"]
PEERS = ["nginx", "haproxy"]
URING = "switchyard-uring"
TLS_SUFFIX = "-tls"  # "switchyard-tls" etc.: the same proxy with a TLS listener
SMALL_BODY = "Hello from the switchyard bench backend.\n"
LARGE_PATH = "/1mib.bin"
LARGE_SIZE = 1 << 20
POST_SIZE = 64 << 10


def nginx_common(tmp):
    return f"""
    access_log off;
    client_body_temp_path {tmp}/client_body;
    proxy_temp_path {tmp}/proxy;
    fastcgi_temp_path {tmp}/fastcgi;
    uwsgi_temp_path {tmp}/uwsgi;
    scgi_temp_path {tmp}/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 65s;
    client_max_body_size 2m;
    client_body_buffer_size 128k;
"""


def nginx_head(tmp, nofile):
    """Top of an nginx.conf: one worker, fd limits that fit ours, run as the current user."""
    user = ""
    if os.geteuid() == 0:  # otherwise nginx switches its worker to `nobody`
        import grp
        import pwd
        user = "user %s %s;\n" % (pwd.getpwuid(os.geteuid()).pw_name,
                                   grp.getgrgid(os.getegid()).gr_name)
    return f"""{user}worker_processes 1;
worker_rlimit_nofile {nofile};
pid {tmp}/nginx.pid;
error_log stderr warn;
events {{ worker_connections {nofile - 100}; }}
"""


def backend_nginx_conf(tmp, ports, www, nofile):
    listens = "\n".join("        listen 127.0.0.1:%d backlog=4096;" % p for p in ports)
    return f"""# three identical backends served by one nginx worker (2-core machine)
{nginx_head(tmp, nofile)}http {{
{nginx_common(tmp)}
    sendfile on;
    tcp_nopush on;
    server {{
{listens}
        location = {LARGE_PATH} {{
            root {www};
            default_type application/octet-stream;
        }}
        location / {{
            default_type text/plain;
            return 200 "{SMALL_BODY.rstrip()}\\n";
        }}
    }}
}}
"""


def proxy_nginx_conf(tmp, port, backends, nofile, tls=None):
    """tls: (cert, key) paths for an https listener (session cache + tickets, like the others)."""
    listen = "listen 127.0.0.1:%d backlog=4096;" % port
    if tls:
        listen = f"""listen 127.0.0.1:{port} ssl http2 backlog=4096;
        ssl_certificate {tls[0]};
        ssl_certificate_key {tls[1]};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache shared:SSL:10m;
        ssl_session_tickets on;"""
    servers = "\n".join("        server 127.0.0.1:%d;" % p for p in backends)
    return f"""# nginx as the reverse proxy: one worker, upstream keep-alive, round robin
{nginx_head(tmp, nofile)}http {{
{nginx_common(tmp)}
    upstream web {{
{servers}
        keepalive 64;
        keepalive_requests 1000000;
        keepalive_timeout 60s;
    }}
    server {{
        {listen}
        location / {{
            proxy_pass http://web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_max_temp_file_size 0;
        }}
    }}
}}
"""


def haproxy_cfg(port, backends, nofile, pem=None):
    """pem: combined cert+key file for an https bind (default session cache and tickets)."""
    ssl = " ssl crt %s ssl-min-ver TLSv1.2 alpn h2,http/1.1" % pem if pem else ""
    # HAProxy refuses to start unless 2 x maxconn fds fit in the limit (so under a 20000-fd
    # limit it holds at most 9900 connections).
    maxconn = (nofile - 200) // 2
    servers = "\n".join("    server b%d 127.0.0.1:%d" % (i + 1, p) for i, p in enumerate(backends))
    return f"""# HAProxy as the reverse proxy: one thread, upstream keep-alive, round robin
global
    nbthread 1
    maxconn {maxconn}

defaults
    mode http
    maxconn {maxconn}
    timeout connect 3s
    timeout client 60s
    timeout server 30s
    timeout http-keep-alive 60s
    timeout http-request 10s
    option http-keep-alive
    http-reuse always

frontend bench
    bind 127.0.0.1:{port}{ssl} backlog 4096
    default_backend web

backend web
    balance roundrobin
{servers}
"""


def switchyard_yaml(port, backends, workers, access_log_off=True, tls=None, io_uring=None):
    """io_uring: None leaves the key out (epoll); "on", "auto" or "off" puts it at the top."""
    lines = ["io_uring: %s" % io_uring] if io_uring else []
    lines += ["workers: %d" % workers,
              "admin: {listen: \"127.0.0.1:0\"}"]
    if access_log_off:
        lines.append("access_log: {path: \"off\"}")
    lines += ["limits: {max_connections: 20000}",
              "timeouts: {shutdown: 2s}",
              "listeners:",
              "  - name: bench",
              "    listen: 127.0.0.1:%d" % port]
    if tls:
        lines.append("    tls: {certificates: [{cert: \"%s\", key: \"%s\"}], min_version: \"1.2\"}"
                     % tls)
    lines += ["    routes:",
              "      - match: {path_prefix: /}",
              "        pool: web",
              "pools:",
              "  - name: web",
              "    policy: round_robin",
              "    backends:"]
    lines += ["      - {name: b%d, address: 127.0.0.1:%d}" % (i + 1, p) for i, p in enumerate(backends)]
    return "\n".join(lines) + "\n"


LUA_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "BENCH_RESULT requests=%.0f duration_us=%.0f bytes=%.0f connect=%.0f read=%.0f " ..
    "write=%.0f status=%.0f timeout=%.0f p50=%.0f p99=%.0f p999=%.0f max=%.0f\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write,
    e.status, e.timeout, latency:percentile(50), latency:percentile(99),
    latency:percentile(99.9), latency.max))
end
"""


def write_lua(path, method="GET", body_size=0, close=False):
    parts = ["-- generated by integration/bench/bench.py", 'wrk.method = "%s"' % method]
    if close:  # one request per connection: every request is a new (TLS) connection
        parts.append('wrk.headers["Connection"] = "close"')
    if body_size:
        parts += ['wrk.body = string.rep("x", %d)' % body_size,
                  'wrk.headers["Content-Type"] = "application/octet-stream"']
    Path(path).write_text("\n".join(parts) + "\n" + LUA_DONE)

