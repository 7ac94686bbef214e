#pragma once
// `switchyard --reload -c FILE`: asks the running instance to reload and waits for the outcome,
// for systemd's ExecReload= (so `systemctl reload` fails when the reload is refused). Reads
// admin.listen and admin.token_file from FILE, sends POST /reload (to loopback when admin
// listens on a wildcard address) and prints the answer.

#include <string>

namespace sy::server {

// Exit code: 0 reloaded, 1 refused or no answer (the reason is printed on stderr).
int requestReload(const std::string& configPath);

}  // namespace sy::server
