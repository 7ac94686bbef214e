#pragma once
// The HTTP/2 form of an http health check, for pools whose backends speak HTTP/2
// (pools[].protocol h2, h2c): the bytes to send and the reading of the answer. Pure functions
// over bytes (HPACK through libnghttp2); any thread.

#include <string>
#include <string_view>

namespace sy::health {

// The client connection preface, an empty SETTINGS frame and a GET of `path` for `authority`
// on stream 1 (HEADERS with END_STREAM).
std::string http2ProbeRequest(std::string_view path, std::string_view authority, bool tls);

// Reads the backend's frames from the connection's start: the :status of stream 1's answer
// (> 0); -1 while more bytes are needed; 0 when no status can come (malformed frames, a GOAWAY
// or RST_STREAM before the answer, a head without :status). Interim (1xx) heads are skipped.
int http2ProbeStatus(std::string_view data);

}  // namespace sy::health
