#include "switchyard/http/transfer_coding.h"

namespace sy::http {

void countTransferCodings(std::string_view v, CodingCount& count) {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    const std::string_view element = trimOws(v.substr(0, comma));
    if (!element.empty()) {
      if (equalsIgnoreCase(element, "chunked"))
        ++count.chunked;
      else
        ++count.other;  // gzip, deflate, compress, identity, a parameter, anything else
    }
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

int transferCodingRefusal(const Parser& p, const char** reason) {
  if ((p.raw()->flags & F_TRANSFER_ENCODING) == 0) return 0;
  const bool request = p.raw()->type == HTTP_REQUEST;
  if (request && !p.chunked()) return 0;  // llhttp answers 400 right after this callback
  if (!request && p.statusCode() < 200) return 0;
  CodingCount count;
  for (const Header& h : p.headers())
    if (h.name.len == 17 && equalsIgnoreCase(p.view(h.name), "transfer-encoding"))
      countTransferCodings(p.view(h.value), count);
  if (count.chunked > 1) {
    *reason = "chunked transfer coding applied more than once";
    return request ? 400 : 502;
  }
  if (count.other > 0) {
    *reason = request ? "transfer coding other than chunked is not supported"
                      : "backend sent a transfer coding other than chunked";
    return request ? 501 : 502;
  }
  return 0;
}

}  // namespace sy::http
