#pragma once
// systemd's readiness protocol (sd_notify(3)), without libsystemd: one datagram of
// "KEY=value" lines to the AF_UNIX socket named by $NOTIFY_SOCKET (a path, or an abstract name
// when it starts with '@'). Every call is a no-op when the variable is unset (not started by a
// Type=notify unit). Main thread.
//
// What Switchyard sends, in order:
//   READY=1 (+ MAINPID= after a binary upgrade)   once listening and the workers run
//   RELOADING=1, MONOTONIC_USEC=...               when a reload starts
//   STATUS=..., then READY=1                      when it ends (a refused reload says why)
//   STOPPING=1                                    when SIGTERM/SIGINT starts the drain

#include <string>
#include <string_view>

namespace sy::server::notify {

// Sends `message` as one datagram; false (and nothing logged) when unconfigured or it failed.
bool send(std::string_view message);

void ready(std::string_view status);
// After a binary upgrade: tells systemd this process is the service's main one now
// (the unit needs NotifyAccess=all), then READY=1.
void readyAsNewMainPid(std::string_view status);
void reloading();
// `error` is the reload's outcome ("" = applied).
void reloaded(const std::string& error, unsigned long long configVersion);
void stopping();

}  // namespace sy::server::notify
