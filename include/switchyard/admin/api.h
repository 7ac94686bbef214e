#pragma once
// The admin API's routes, independent of sockets: handle() maps one parsed request to a
// response using the Host (the server). Main thread only.
//
//   GET  /metrics                                     Prometheus text format 0.0.4
//   GET  /healthz                                     liveness: 200 while serving, 503 draining
//   GET  /readyz                                      readiness: 503 draining or a worker stalled
//   GET  /status                                      JSON: config, pools, backends
//   POST /reload                                      200, or 400 with the config error
//   POST /upgrade                                     202: a new binary is starting (upgrade.h)
//   POST /pools/{pool}/backends/{backend}/{drain|enable|disable}
//
// HEAD is accepted wherever GET is. A POST with an Origin header (a browser page, perhaps a
// hostile one) is refused with 403 before anything else; with a token, every POST needs
// "Authorization: Bearer <token>" (401 otherwise).

#include <cstdint>
#include <string>
#include <string_view>

#include "switchyard/upstream/backend.h"

namespace sy::admin {

struct Response {
  int status = 200;
  std::string contentType = "application/json";
  std::string body;
  std::string_view allow;  // for 405: the methods the path accepts
  bool authChallenge = false;  // 401: add WWW-Authenticate
};

// What the admin API needs from the running server.
class Host {
 public:
  virtual ~Host() = default;
  // Draining for good (SIGTERM): /healthz answers 503.
  virtual bool draining() const = 0;
  virtual void writeMetrics(std::string& out) = 0;
  virtual void writeStatus(std::string& out) = 0;
  // Reloads the config file: "" on success, else the error (file:line:column: ...).
  virtual std::string reloadConfig() = 0;
  virtual uint64_t configVersion() const = 0;
  // Why the process is not ready for traffic ("" = ready): draining, or a worker whose loop
  // has not progressed lately.
  virtual std::string notReadyReason() const = 0;
  // Starts a binary upgrade (like SIGUSR2): "" once the new process is starting, else why not.
  virtual std::string startUpgrade() = 0;
  // Sets a backend's admin state in the current snapshot; false if pool or backend is unknown.
  virtual bool setAdminState(std::string_view pool, std::string_view backend,
                             upstream::AdminState state) = 0;
};

struct Request {
  std::string_view method;         // "GET", "POST"...
  std::string_view target;         // as sent: path and query
  std::string_view authorization;  // Authorization header value ("" if none)
  bool hasOrigin = false;          // the request carried an Origin header
};

// `token` empty = no authentication.
Response handle(Host& host, const Request& req, std::string_view token);

// %XX decoding of one path segment; false on a malformed escape or a decoded '/' or NUL.
bool decodeSegment(std::string_view in, std::string& out);

// Constant-time check of "Bearer <token>" (scheme case-insensitive).
bool bearerMatches(std::string_view authorization, std::string_view token);

}  // namespace sy::admin
