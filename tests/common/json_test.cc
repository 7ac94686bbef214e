#include <doctest/doctest.h>

#include <string>

#include "switchyard/common/json.h"

namespace {

std::string js(std::string_view s) {
  std::string out;
  sy::json::appendString(out, s);
  return out;
}

}  // namespace

TEST_CASE("JSON strings: quotes, backslashes and control characters are escaped") {
  CHECK(js("") == "\"\"");
  CHECK(js("plain /path?x=1") == "\"plain /path?x=1\"");
  CHECK(js("a\"b\\c") == "\"a\\\"b\\\\c\"");
  CHECK(js("\n\r\t") == "\"\\n\\r\\t\"");
  CHECK(js(std::string_view("\x00\x1f\x7f", 3)) == "\"\\u0000\\u001f\\u007f\"");
}

TEST_CASE("JSON strings: well-formed UTF-8 passes, other high bytes become \\u00XX") {
  CHECK(js("caf\xc3\xa9") == "\"caf\xc3\xa9\"");                  // é
  CHECK(js("\xe2\x82\xac") == "\"\xe2\x82\xac\"");                // €
  CHECK(js("\xf0\x9f\x98\x80") == "\"\xf0\x9f\x98\x80\"");        // emoji
  CHECK(js("\xff") == "\"\\u00ff\"");                             // never valid
  CHECK(js("\xc3") == "\"\\u00c3\"");                             // truncated sequence
  CHECK(js("\xc0\xaf") == "\"\\u00c0\\u00af\"");                  // overlong '/'
  CHECK(js("\xed\xa0\x80") == "\"\\u00ed\\u00a0\\u0080\"");       // surrogate
  CHECK(js("\xf4\x90\x80\x80") == "\"\\u00f4\\u0090\\u0080\\u0080\"");  // above U+10FFFF
  CHECK(js("a\xe2\x82z") == "\"a\\u00e2\\u0082z\"");
}
