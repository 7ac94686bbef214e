#include "switchyard/server/file_watch.h"

#include <climits>
#include <cstdlib>
#include <memory>

#include <sys/stat.h>

namespace sy::server {
namespace {

std::string dirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

}  // namespace

// The libuv handles and a back pointer. The handles outlive the FileWatch while closing, so
// their callbacks reach it through `owner`, which close() clears.
struct FileWatch::Shared {
  FileWatch* owner = nullptr;
  uv_timer_t poll;
  uv_timer_t settle;
  struct Dir {
    std::string path;
    uv_fs_event_t* handle = nullptr;
  };
  std::vector<Dir> dirs;
  int open = 0;  // handles not yet closed; the last close callback frees this

  static void closed(uv_handle_t* h) {
    auto* s = static_cast<Shared*>(h->data);
    if (h->type == UV_FS_EVENT) delete reinterpret_cast<uv_fs_event_t*>(h);
    if (--s->open == 0) delete s;
  }
  void closeHandle(uv_handle_t* h) {
    if (!uv_is_closing(h)) uv_close(h, closed);
  }
};

FileWatch::FileWatch(uv_loop_t* loop, std::vector<std::string> paths,
                     std::function<void()> onChange, uint64_t settleMs, uint64_t pollMs)
    : loop_(loop), paths_(std::move(paths)), onChange_(std::move(onChange)),
      settleMs_(settleMs), pollMs_(pollMs) {}

FileWatch::~FileWatch() { close(); }

std::vector<FileWatch::State> FileWatch::snapshotStates() const {
  std::vector<State> out(paths_.size());
  for (size_t i = 0; i < paths_.size(); ++i) {
    struct stat st {};
    if (::stat(paths_[i].c_str(), &st) != 0) continue;  // missing: all zero
    char buf[PATH_MAX];
    if (::realpath(paths_[i].c_str(), buf)) out[i].real = buf;
    out[i].dev = st.st_dev;
    out[i].ino = st.st_ino;
    out[i].size = static_cast<uint64_t>(st.st_size);
    out[i].mtimeNs = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    out[i].ctimeNs = static_cast<int64_t>(st.st_ctim.tv_sec) * 1'000'000'000 + st.st_ctim.tv_nsec;
  }
  return out;
}

std::string FileWatch::start() {
  if (shared_) return "";
  shared_ = new Shared;
  shared_->owner = this;
  uv_timer_init(loop_, &shared_->poll);
  uv_timer_init(loop_, &shared_->settle);
  shared_->poll.data = shared_->settle.data = shared_;
  shared_->open = 2;
  seen_ = snapshotStates();
  uv_timer_start(&shared_->poll, [](uv_timer_t* t) {
    auto* s = static_cast<Shared*>(t->data);
    if (s->owner) s->owner->check();
  }, pollMs_, pollMs_);
  return rewatch();
}

std::string FileWatch::rewatch() {
  std::vector<std::string> wanted;
  auto want = [&](const std::string& d) {
    for (const std::string& w : wanted)
      if (w == d) return;
    wanted.push_back(d);
  };
  for (size_t i = 0; i < paths_.size(); ++i) {
    want(dirOf(paths_[i]));
    char buf[PATH_MAX];
    if (::realpath(paths_[i].c_str(), buf)) want(dirOf(buf));
  }
  // Directories no longer wanted (a ConfigMap's previous timestamped directory) are dropped.
  auto& dirs = shared_->dirs;
  for (auto it = dirs.begin(); it != dirs.end();) {
    bool keep = false;
    for (const std::string& w : wanted) keep = keep || w == it->path;
    if (keep) {
      ++it;
      continue;
    }
    shared_->closeHandle(reinterpret_cast<uv_handle_t*>(it->handle));
    it = dirs.erase(it);
  }
  std::string warning;
  for (const std::string& w : wanted) {
    bool known = false;
    for (const auto& d : dirs) known = known || d.path == w;
    if (known) continue;
    auto* h = new uv_fs_event_t;
    if (int rc = uv_fs_event_init(loop_, h); rc != 0) {
      delete h;
      warning = "cannot watch " + w + ": " + uv_strerror(rc);
      continue;
    }
    h->data = shared_;
    ++shared_->open;
    int rc = uv_fs_event_start(h, [](uv_fs_event_t* e, const char*, int, int status) {
      auto* s = static_cast<Shared*>(e->data);
      if (s->owner && status == 0) s->owner->check();
    }, w.c_str(), 0);
    if (rc != 0) {
      shared_->closeHandle(reinterpret_cast<uv_handle_t*>(h));
      warning = "cannot watch " + w + ": " + uv_strerror(rc);
      continue;
    }
    dirs.push_back({w, h});
  }
  return warning;
}

void FileWatch::check() {
  if (!shared_) return;
  std::vector<State> now = snapshotStates();
  if (settling_) {
    if (now != candidate_) {  // still changing: wait for it to settle again
      candidate_ = std::move(now);
      uv_timer_again(&shared_->settle);
    }
    return;
  }
  if (now == seen_) return;
  candidate_ = std::move(now);
  settling_ = true;
  uv_timer_start(&shared_->settle, [](uv_timer_t* t) {
    auto* s = static_cast<Shared*>(t->data);
    if (s->owner) s->owner->settled();
  }, settleMs_, settleMs_);
}

void FileWatch::settled() {
  std::vector<State> now = snapshotStates();
  if (now != candidate_) {
    candidate_ = std::move(now);
    return;  // the repeating timer looks again after another settleMs
  }
  uv_timer_stop(&shared_->settle);
  settling_ = false;
  seen_ = std::move(now);
  rewatch();  // the files may now resolve into other directories
  if (onChange_) onChange_();
}

void FileWatch::close() {
  if (!shared_) return;
  shared_->owner = nullptr;
  shared_->closeHandle(reinterpret_cast<uv_handle_t*>(&shared_->poll));
  shared_->closeHandle(reinterpret_cast<uv_handle_t*>(&shared_->settle));
  for (auto& d : shared_->dirs) shared_->closeHandle(reinterpret_cast<uv_handle_t*>(d.handle));
  shared_->dirs.clear();
  shared_ = nullptr;
}

}  // namespace sy::server
