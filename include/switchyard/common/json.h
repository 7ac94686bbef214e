#pragma once
// Minimal JSON text output for logs and the admin API: string escaping that always yields
// valid JSON and valid UTF-8, whatever bytes came off the network. Any thread.

#include <string>
#include <string_view>

namespace sy::json {

// Appends `s` as a quoted JSON string. `"` and `\` are escaped, control characters and DEL
// become \u00XX; well-formed UTF-8 is copied as it is, and any other byte >= 0x80 is written
// as \u00XX (read as Latin-1), so request bytes that are not UTF-8 cannot break the line.
void appendString(std::string& out, std::string_view s);

}  // namespace sy::json
