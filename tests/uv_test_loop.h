#pragma once
// A libuv loop for unit tests. Every test that runs code on a loop uses this one.
//
// Contract: by the time the UvTestLoop is destroyed, the test has closed every handle it (or
// the code under test) opened. The destructor walks the loop the way libuv's own tests do:
// a handle that is still open is a leak and fails the test with its type (e.g. "libuv handle
// left open: timer"). Handles that are closing have their close callbacks run. Leftovers are
// then closed anyway so that the loop itself can close (and the next test starts clean);
// uv_loop_close must succeed. Owners of handles must not be destroyed before the close
// callbacks ran: use drain() (or runUntil()) after closing them.

#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include <uv.h>

struct UvTestLoop {
  uv_loop_t loop;

  UvTestLoop() { REQUIRE(uv_loop_init(&loop) == 0); }
  ~UvTestLoop() {
    for (const std::string& type : openHandles())
      FAIL_CHECK("libuv handle left open at the end of the test: " << type);
    uv_walk(
        &loop,
        [](uv_handle_t* h, void*) {
          if (!uv_is_closing(h)) uv_close(h, nullptr);
        },
        nullptr);
    uv_run(&loop, UV_RUN_DEFAULT);
    CHECK_MESSAGE(uv_loop_close(&loop) == 0, "the loop still has active requests");
  }
  UvTestLoop(const UvTestLoop&) = delete;
  UvTestLoop& operator=(const UvTestLoop&) = delete;

  // Type names of the handles not closed (nor closing) yet, e.g. {"tcp", "timer"}.
  std::vector<std::string> openHandles() {
    std::vector<std::string> out;
    uv_walk(
        &loop,
        [](uv_handle_t* h, void* arg) {
          if (!uv_is_closing(h))
            static_cast<std::vector<std::string>*>(arg)->push_back(
                uv_handle_type_name(uv_handle_get_type(h)));
        },
        &out);
    return out;
  }

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

  // Runs the loop until nothing keeps it alive (no active handle or request, close callbacks
  // done) or `ms` passed; returns whether it got there. After closing what a test opened, this
  // proves the code under test released everything it held (threadpool work included).
  bool drain(uint64_t ms = 3000) {
    return runUntil([this] { return uv_loop_alive(&loop) == 0; }, ms);
  }
};
