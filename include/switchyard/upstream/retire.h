#pragma once
// What a worker does to its backend connections when it adopts a new config snapshot.

#include <memory>
#include <vector>

#include "switchyard/upstream/backend.h"

namespace sy::upstream {

// Retires this worker's connections that the new config no longer wants. A backend of
// `before` missing from `after` (removed, or its address changed): its idle connections close
// now, busy HTTP/1.1 ones when their request ends (instead of parking), and its HTTP/2 sessions
// send GOAWAY (NO_ERROR) and close once their streams end (at once when they carry none); it is
// picked by no new request. A backend kept whose pool now speaks another protocol or uses
// other TLS settings: its HTTP/2 sessions of the old kind are retired the same way, its idle
// HTTP/1.1 connections close now and its busy ones when their request ends. Kept HTTP/2
// sessions take the pool's http2.max_concurrent_streams (a lower cap only holds back new
// streams). Worker thread.
void retireConnections(const std::vector<std::unique_ptr<BackendSet>>& before,
                       const std::vector<std::unique_ptr<BackendSet>>& after, unsigned worker);

}  // namespace sy::upstream
