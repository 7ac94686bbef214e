#include "switchyard/admin/api.h"

#include <vector>

#include "switchyard/common/json.h"
#include "switchyard/http/parser.h"
#include "switchyard/metrics/exposition.h"
#include "switchyard/common/ascii.h"

namespace sy::admin {
namespace {

Response text(int status, std::string_view body) {
  Response r;
  r.status = status;
  r.contentType = "text/plain; charset=utf-8";
  r.body = body;
  r.body += '\n';
  return r;
}

Response jsonError(int status, std::string_view message) {
  Response r;
  r.status = status;
  r.body = "{\"error\":";
  json::appendString(r.body, message);
  r.body += "}\n";
  return r;
}

Response methodNotAllowed(std::string_view allow) {
  Response r = jsonError(405, "method not allowed");
  r.allow = allow;
  return r;
}

std::vector<std::string_view> splitPath(std::string_view path) {
  std::vector<std::string_view> parts;
  while (!path.empty()) {
    if (path.front() == '/') {
      path.remove_prefix(1);
      continue;
    }
    size_t slash = path.find('/');
    parts.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash);
  }
  return parts;
}

using common::hexValue;

Response backendAction(Host& host, std::string_view poolRaw, std::string_view backendRaw,
                       std::string_view action) {
  upstream::AdminState state;
  if (action == "drain") {
    state = upstream::AdminState::kDraining;
  } else if (action == "enable") {
    state = upstream::AdminState::kEnabled;
  } else if (action == "disable") {
    state = upstream::AdminState::kDisabled;
  } else {
    return jsonError(404, "unknown action (expected drain, enable or disable)");
  }
  std::string pool, backend;
  if (!decodeSegment(poolRaw, pool) || !decodeSegment(backendRaw, backend))
    return jsonError(400, "malformed percent-encoding in the path");
  if (!host.setAdminState(pool, backend, state))
    return jsonError(404, "no backend '" + backend + "' in pool '" + pool + "'");
  Response r;
  r.body = "{\"pool\":";
  json::appendString(r.body, pool);
  r.body += ",\"backend\":";
  json::appendString(r.body, backend);
  r.body += ",\"admin_state\":\"";
  r.body += state == upstream::AdminState::kEnabled    ? "enabled"
            : state == upstream::AdminState::kDraining ? "draining"
                                                       : "disabled";
  r.body += "\"}\n";
  return r;
}

}  // namespace

bool decodeSegment(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      const int hi = hexValue(in[i + 1]), lo = hexValue(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      if (c == '/' || c == '\0') return false;
      i += 2;
    }
    out += c;
  }
  return true;
}

bool bearerMatches(std::string_view authorization, std::string_view token) {
  authorization = http::trimOws(authorization);
  if (authorization.size() < 7 || !http::equalsIgnoreCase(authorization.substr(0, 7), "bearer "))
    return false;
  std::string_view given = http::trimOws(authorization.substr(7));
  // Compare every byte of the expected token whatever the given one is, so the time taken does
  // not reveal how much of a guess was right.
  unsigned diff = given.size() == token.size() ? 0 : 1;
  for (size_t i = 0; i < token.size(); ++i) {
    const char g = i < given.size() ? given[i] : '\0';
    diff |= static_cast<unsigned char>(g ^ token[i]);
  }
  return diff == 0 && !token.empty();
}

Response handle(Host& host, const Request& req, std::string_view token) {
  std::string_view path = req.target;
  if (size_t q = path.find_first_of("?#"); q != std::string_view::npos) path = path.substr(0, q);
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";

  if (post && req.hasOrigin) {
    // Browsers send Origin on cross-site POSTs; curl, scripts and probes do not. Refusing it
    // keeps a web page from driving a loopback admin API through the operator's browser.
    return jsonError(403, "POST with an Origin header refused: the admin API is not for "
                          "browsers");
  }
  if (post && !token.empty() && !bearerMatches(req.authorization, token)) {
    Response r = jsonError(401, "missing or wrong bearer token (admin.token_file)");
    r.authChallenge = true;
    return r;
  }

  if (path == "/metrics") {
    if (!get) return methodNotAllowed("GET, HEAD");
    Response r;
    r.contentType = metrics::kContentType;
    host.writeMetrics(r.body);
    return r;
  }
  if (path == "/healthz") {
    if (!get) return methodNotAllowed("GET, HEAD");
    return host.draining() ? text(503, "draining") : text(200, "ok");
  }
  if (path == "/readyz") {
    if (!get) return methodNotAllowed("GET, HEAD");
    std::string why = host.notReadyReason();
    return why.empty() ? text(200, "ready") : text(503, why);
  }
  if (path == "/upgrade") {
    if (!post) return methodNotAllowed("POST");
    std::string err = host.startUpgrade();
    if (!err.empty()) return jsonError(409, err);
    Response r;
    r.status = 202;
    r.body = "{\"upgrading\":true}\n";
    return r;
  }
  if (path == "/status") {
    if (!get) return methodNotAllowed("GET, HEAD");
    Response r;
    host.writeStatus(r.body);
    return r;
  }
  if (path == "/reload") {
    if (!post) return methodNotAllowed("POST");
    std::string err = host.reloadConfig();
    if (!err.empty()) return jsonError(400, err);
    Response r;
    r.body = "{\"reloaded\":true,\"config_version\":" + std::to_string(host.configVersion()) +
             "}\n";
    return r;
  }
  std::vector<std::string_view> parts = splitPath(path);
  if (parts.size() == 5 && parts[0] == "pools" && parts[2] == "backends") {
    if (!post) return methodNotAllowed("POST");
    return backendAction(host, parts[1], parts[3], parts[4]);
  }
  return jsonError(404, "not found (endpoints: /metrics, /healthz, /readyz, /status, "
                        "POST /reload, POST /upgrade, "
                        "POST /pools/{pool}/backends/{backend}/{drain|enable|disable})");
}

}  // namespace sy::admin
