#pragma once
// A libuv loop for unit tests: closes whatever handles are left and checks the loop closes
// cleanly at the end; runUntil() runs it until a condition holds or a deadline passes.
// Objects owning handles must have closed them (and been run) before they are destroyed.

#include <doctest/doctest.h>

#include <cstdint>

#include <uv.h>

struct UvTestLoop {
  uv_loop_t loop;
  UvTestLoop() { REQUIRE(uv_loop_init(&loop) == 0); }
  ~UvTestLoop() {
    uv_walk(
        &loop,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK(uv_loop_close(&loop) == 0);
  }
  UvTestLoop(const UvTestLoop&) = delete;
  UvTestLoop& operator=(const UvTestLoop&) = delete;
  // Runs the loop until `done` or about `ms` of wall time passed; returns whether `done` held.
  template <class F>
  bool runUntil(F done, uint64_t ms = 3000) {
    const uint64_t deadline = uv_hrtime() / 1000000 + ms;
    while (!done()) {
      if (uv_hrtime() / 1000000 >= deadline) return false;
      uv_run(&loop, UV_RUN_NOWAIT);
      uv_sleep(1);
    }
    return true;
  }
};
