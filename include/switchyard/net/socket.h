#pragma once
// Socket helpers. Thread-safe (plain syscalls).

#include <expected>
#include <string>

#include <sys/socket.h>

#include "switchyard/config/config.h"

namespace sy::net {

// A non-blocking TCP listening socket bound to `addr` with SO_REUSEADDR and SO_REUSEPORT, so
// each worker can bind its own socket on the same port and the kernel spreads connections.
// Returns the fd, or an error text naming the address ("bind 0.0.0.0:8080: Address in use").
std::expected<int, std::string> openListenSocket(const config::SocketAddress& addr, int backlog);

// Numeric text of the IP in `sa` ("127.0.0.1", "::1"); writes at most `cap` bytes with NUL.
void formatIp(const sockaddr* sa, char* out, size_t cap);

// Port bound by a listening fd (for ephemeral port 0 listeners).
int boundPort(int fd);

}  // namespace sy::net
