#pragma once
// Transfer codings the proxy can relay (RFC 9112 §6.1, §7). It removes chunked framing and
// re-frames bodies itself, so a message whose body carries another transfer coding ("gzip,
// chunked", or "gzip" read until close) would leave with its bytes still coded but labelled
// plain chunked or Content-Length framed. Such messages are refused instead of mislabelled:
// a request with 501 (RFC 9112 §6.1: a coding the server does not understand), a response with
// 502. Clients do not ask for transfer codings other than chunked (the proxy drops TE, so a
// backend has no reason to send one), hence refusing costs nothing in practice.

#include <string_view>

#include "switchyard/http/parser.h"

namespace sy::http {

// How many list elements of a Transfer-Encoding value are "chunked" and how many are something
// else (case-insensitive; empty list elements are skipped, as RFC 9110 §5.6.1 allows).
struct CodingCount {
  int chunked = 0;
  int other = 0;
};
void countTransferCodings(std::string_view value, CodingCount& count);

// For a complete head (from onHeadersComplete): 0 when its transfer codings can be relayed,
// else the status to refuse with and a short `*reason`. A request whose final coding is not
// chunked is left to llhttp (400, RFC 9112 §6.3); 1xx responses are not checked.
int transferCodingRefusal(const Parser& p, const char** reason);

}  // namespace sy::http
