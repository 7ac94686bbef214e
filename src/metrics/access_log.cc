#include "switchyard/metrics/access_log.h"

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <uv.h>

#include "switchyard/common/log.h"

namespace sy::metrics {
namespace {

constexpr size_t kBufferCapacity = 64 * 1024;

std::string* newBuffer() {
  auto* s = new std::string();
  s->reserve(kBufferCapacity);
  return s;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// BufferRing

bool BufferRing::push(std::string* p) {
  const size_t t = tail_.load(std::memory_order_relaxed);
  if (t - head_.load(std::memory_order_acquire) == kSize) return false;
  slots_[t % kSize] = p;
  tail_.store(t + 1, std::memory_order_release);
  return true;
}

std::string* BufferRing::pop() {
  const size_t h = head_.load(std::memory_order_relaxed);
  if (h == tail_.load(std::memory_order_acquire)) return nullptr;
  std::string* p = slots_[h % kSize];
  head_.store(h + 1, std::memory_order_release);
  return p;
}

// ---------------------------------------------------------------------------------------------
// WorkerLog

WorkerLog::WorkerLog(AccessLog* log) : log_(log), buf_(newBuffer()) { anchorClock(); }

WorkerLog::~WorkerLog() {
  delete buf_;
  while (std::string* s = full_.pop()) delete s;
  while (std::string* s = spare_.pop()) delete s;
}

bool WorkerLog::enabled() const { return log_->enabled(); }

void WorkerLog::anchorClock() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  hrAnchorNs_ = uv_hrtime();
  wallAnchorNs_ = static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

void WorkerLog::append(const AccessRecord& r) {
  if (buf_->size() >= kMaxBufferedBytes) {
    dropped_.add(1);
    return;
  }
  const int64_t wall = wallAnchorNs_ + static_cast<int64_t>(r.startNs - hrAnchorNs_);
  formatAccessLine(log_->format(), r, wall, time_, *buf_);
  if (buf_->size() >= kFlushBytes) handOff();
}

void WorkerLog::flush() {
  anchorClock();
  if (!buf_->empty()) handOff();
}

void WorkerLog::handOff() {
  if (!full_.push(buf_)) return;  // the writer is behind: keep buffering (up to the cap)
  std::string* next = spare_.pop();
  buf_ = next ? next : newBuffer();
  log_->wake();
}

// ---------------------------------------------------------------------------------------------
// AccessLog

AccessLog::AccessLog(unsigned workers) {
  for (unsigned i = 0; i < workers; ++i) workers_.push_back(std::make_unique<WorkerLog>(this));
}

AccessLog::~AccessLog() {
  stop();
  std::lock_guard<std::mutex> g(mu_);
  if (havePending_ && pendingOwned_) ::close(pendingFd_);
  if (ownsFd_) ::close(fd_);
}

uint64_t AccessLog::dropped() const {
  uint64_t n = 0;
  for (const auto& w : workers_) n += w->dropped();
  return n;
}

void AccessLog::wake() {
  wake_.fetch_add(1, std::memory_order_release);
  wake_.notify_one();
}

std::string AccessLog::openTarget(const std::string& path) {
  int fd = -1;
  bool owned = false;
  if (path == "stdout") {
    fd = 1;
  } else if (path == "stderr") {
    fd = 2;
  } else if (path != "off") {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) return "access_log.path " + path + ": cannot open: " + std::strerror(errno);
    owned = true;
  }
  {
    std::lock_guard<std::mutex> g(mu_);
    if (havePending_ && pendingOwned_) ::close(pendingFd_);
    pendingFd_ = fd;
    pendingOwned_ = owned;
    havePending_ = true;
  }
  path_ = path;
  wake();
  return "";
}

std::string AccessLog::configure(const config::AccessLog& cfg) {
  if (cfg.path != path_) {
    if (std::string err = openTarget(cfg.path); !err.empty()) return err;
  }
  format_.store(static_cast<uint8_t>(cfg.format == "combined" ? LogFormat::kCombined
                                                              : LogFormat::kJson),
                std::memory_order_relaxed);
  enabled_.store(cfg.path != "off", std::memory_order_relaxed);
  return "";
}

std::string AccessLog::reopen() {
  if (path_.empty() || path_ == "off" || path_ == "stdout" || path_ == "stderr") return "";
  return openTarget(path_);
}

void AccessLog::start() {
  if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
}

void AccessLog::stop() {
  if (!thread_.joinable()) return;
  stop_.store(true, std::memory_order_release);
  wake();
  thread_.join();
}

void AccessLog::writeOut(const std::string& data) {
  if (fd_ < 0) return;
  const char* p = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t n = ::write(fd_, p, left);
    if (n >= 0) {
      p += n;
      left -= static_cast<size_t>(n);
      continue;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {  // a non-blocking stdout: wait here, on the writer thread
      pollfd pfd{fd_, POLLOUT, 0};
      ::poll(&pfd, 1, 1000);
      continue;
    }
    if (!reportedError_) {
      reportedError_ = true;
      LOG_ERROR("access log: write failed: %s (lines are being lost)", std::strerror(errno));
    }
    return;
  }
  reportedError_ = false;
}

void AccessLog::switchTarget() {
  std::lock_guard<std::mutex> g(mu_);
  if (!havePending_) return;
  if (ownsFd_) ::close(fd_);
  fd_ = pendingFd_;
  ownsFd_ = pendingOwned_;
  havePending_ = false;
}

bool AccessLog::drainOnce() {
  switchTarget();
  bool any = false;
  for (auto& w : workers_) {
    while (std::string* s = w->full_.pop()) {
      // Checked after the pop: a buffer queued after reopen() returned was queued after the
      // new target was set, so it is never written to the old file.
      switchTarget();
      any = true;
      writeOut(*s);
      s->clear();
      if (!w->spare_.push(s)) delete s;
    }
  }
  return any;
}

void AccessLog::run() {
  for (;;) {
    const uint32_t seen = wake_.load(std::memory_order_acquire);
    drainOnce();
    if (stop_.load(std::memory_order_acquire)) break;
    wake_.wait(seen, std::memory_order_acquire);
  }
  // Workers have stopped: what they still hold can be written from here.
  while (drainOnce()) {
  }
  for (auto& w : workers_) {
    if (!w->buf_->empty()) writeOut(*w->buf_);
    w->buf_->clear();
  }
}

}  // namespace sy::metrics
