#pragma once
// A hedged attempt (pools[].retries.hedge): the second attempt an UpstreamRequest sends to
// another backend when its first has no answer after `hedge.after`. It connects (or takes an
// idle connection), writes the whole kept request and waits for the first byte of an answer;
// it never parses. The UpstreamRequest decides: the first of the two connections to deliver a
// byte wins, and the winner's connection (with the bytes read) becomes the request's one; the
// loser's connection is closed. Worker thread only.

#include <cstdint>

#include <uv.h>

#include "switchyard/net/buffer.h"
#include "switchyard/net/timer_wheel.h"
#include "switchyard/proxy/input_buffer.h"
#include "switchyard/upstream/upstream_conn.h"

namespace sy::proxy {

class UpstreamRequest;

class Hedge final : public upstream::ConnUser {
 public:
  Hedge();
  Hedge(const Hedge&) = delete;
  Hedge& operator=(const Hedge&) = delete;
  ~Hedge() override { cancel(); }

  // Sends `request` (taken) to `backend` for `owner`; `deadlineMs` (uv_now()) bounds the wait
  // for the first answer byte, connect included. False (and nothing held) when no connection
  // could even be started: the backend counts as a failed attempt.
  bool start(UpstreamRequest* owner, upstream::Backend* backend, net::WriteBatch* request,
             uint64_t deadlineMs);
  bool active() const { return owner_ != nullptr; }
  // Connected, and the whole request handed to the connection.
  bool connectedAndSent() const { return owner_ && connected_ && !out_; }
  // Closes the connection (not reusable) and releases everything. Idempotent.
  void cancel();

  // Handed over to the owner when it adopts the hedge (the hedge is inactive afterwards).
  struct Handover {
    upstream::UpstreamConn* conn;
    upstream::Backend* backend;
    uint32_t writes;   // uv_writes in flight
    bool reused;
    uint64_t sentNs;        // uv_hrtime() when the request was handed to the connection
    int64_t connectNs;      // -1: reused
    uint64_t deadlineMs;
  };
  // The owner adopts the connection (and the bytes read into `in`); the hedge keeps nothing.
  Handover handOver(InputBuffer& in);
  upstream::Backend* backend() const { return backend_; }

  // upstream::ConnUser
  void onUpstreamConnect(int status) override;
  void onUpstreamAlloc(size_t suggested, uv_buf_t* buf) override;
  void onUpstreamRead(ssize_t n, const uv_buf_t* buf) override;
  void onUpstreamWriteDone(int status) override;

 private:
  void send();
  void failed(int err, bool connect);
  static void onTimer(net::TimerWheel::Entry* e);

  UpstreamRequest* owner_ = nullptr;
  upstream::Backend* backend_ = nullptr;
  upstream::UpstreamConn* conn_ = nullptr;
  net::WriteBatch* out_ = nullptr;
  InputBuffer in_;
  net::TimerWheel::Entry timer_;
  uint64_t deadline_ = 0;
  uint64_t sentNs_ = 0;
  int64_t connectNs_ = -1;
  uint32_t writes_ = 0;
  bool connected_ = false;
  bool reused_ = false;
};

}  // namespace sy::proxy
