#pragma once
// Header-rule helpers shared by the request-head and response-head writers (forward.cc,
// response_head.cc): hop-by-hop names, Connection tokens, a route's header rules. Internal.

#include <cstdint>
#include <string_view>

#include "switchyard/config/config.h"
#include "switchyard/http/forward.h"
#include "switchyard/http/request_head.h"

namespace sy::http::detail {



inline bool isHopByHop(std::string_view n) {
  switch (n.size()) {
    case 2: return equalsIgnoreCase(n, "te");
    case 7: return equalsIgnoreCase(n, "trailer") || equalsIgnoreCase(n, "upgrade");
    case 10: return equalsIgnoreCase(n, "connection") || equalsIgnoreCase(n, "keep-alive");
    case 16: return equalsIgnoreCase(n, "proxy-connection");
    case 17: return equalsIgnoreCase(n, "transfer-encoding");
    default: return false;
  }
}

// Calls fn(token) for each comma-separated token of every Connection header.
template <typename Fn>
void forEachConnectionToken(const FieldsView& f, Fn&& fn) {
  for (uint32_t i = 0; i < f.size(); ++i) {
    if (!equalsIgnoreCase(f.name(i), "connection")) continue;
    std::string_view v = f.value(i);
    while (!v.empty()) {
      size_t comma = v.find(',');
      std::string_view tok = trimOws(v.substr(0, comma));
      if (!tok.empty() && fn(tok)) return;
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
}

inline bool namedByConnection(const FieldsView& f, std::string_view name) {
  bool found = false;
  forEachConnectionToken(f, [&](std::string_view tok) {
    if (equalsIgnoreCase(tok, name)) found = true;
    return found;
  });
  return found;
}

// The Connection tokens of a head, gathered once (instead of rescanning every header for each
// header forwarded). Tokens naming hop-by-hop fields (keep-alive, close...) are dropped anyway.
struct ConnTokens {
  std::string_view tok[8];
  int n = 0;
  bool overflow = false;
  bool any = false;
};

inline ConnTokens gatherConnectionTokens(const FieldsView& f) {
  ConnTokens t;
  for (uint32_t i = 0; i < f.size(); ++i)
    if (f.nameSize(i) == 10 && equalsIgnoreCase(f.name(i), "connection")) t.any = true;
  if (!t.any) return t;
  forEachConnectionToken(f, [&](std::string_view tok) {
    if (t.n == 8) {
      t.overflow = true;
      return true;
    }
    t.tok[t.n++] = tok;
    return false;
  });
  return t;
}

inline bool namedBy(const ConnTokens& t, const FieldsView& f, std::string_view name) {
  if (t.overflow) return namedByConnection(f, name);
  for (int i = 0; i < t.n; ++i)
    if (t.tok[i].size() == name.size() && equalsIgnoreCase(t.tok[i], name)) return true;
  return false;
}

// The rules to apply, or null when there are none (the common case costs one test per header).
inline const config::HeaderRules* active(const config::HeaderRules* r) {
  return r && !r->empty() ? r : nullptr;
}

inline bool edited(const config::HeaderRules* r, std::string_view name) {
  return r && r->touches(name);
}

inline size_t setBytes(const config::HeaderRules* r) {
  size_t n = 0;
  if (r)
    for (const auto& [k, v] : r->set) n += k.size() + v.size() + 4;
  return n;
}

inline void putSetHeaders(const config::HeaderRules* r, HeadWriter& w) {
  if (!r) return;
  for (const auto& [k, v] : r->set) {
    w.put(k);
    w.put(": ");
    w.put(v);
    w.put("\r\n");
  }
}

// "Name: <the values of every `name` header, in order>, <own>": a list header this hop appends
// to (X-Forwarded-For, Via).
inline void putAppendedList(const FieldsView& f, std::string_view name, std::string_view own,
                     HeadWriter& w) {
  w.put(name);
  w.put(": ");
  for (uint32_t i = 0; i < f.size(); ++i) {
    if (f.nameSize(i) == name.size() && equalsIgnoreCase(f.name(i), name)) {
      std::string_view v = trimOws(f.value(i));
      if (v.empty()) continue;
      w.put(v);
      w.put(", ");
    }
  }
  w.put(own);
  w.put("\r\n");
}


}  // namespace sy::http::detail
