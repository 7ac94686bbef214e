#pragma once
// Notices when files change on disk, however they are changed: written in place, replaced by a
// rename, or reached through a symlink that is swapped (certbot's live/ links, a Kubernetes
// ConfigMap or Secret volume: `file -> ..data/file`, `..data -> ..2026_12_07_...`, and an
// update renames a new `..data` over the old one).
//
// How: inotify (uv_fs_event) on the directory of every path as written and of the file it
// resolves to, so renames over the file, link swaps and in-place writes all wake it up; a stat
// of every path each `pollMs` as the fallback (file systems without inotify, a directory that
// appeared later). What counts as a change is the file reached (realpath, device, inode, size,
// mtime, ctime) differing from the last one seen; events that leave it alone (other files in
// the directory) do nothing. A change is reported once the files have looked the same for
// `settleMs`, so a file being written or a pair being replaced one file at a time is reported
// once, after the writer is done.
// Main thread (the loop's thread) only.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <uv.h>

namespace sy::server {

class FileWatch {
 public:
  // `onChange` runs on the loop after a settled change of any of `paths`.
  FileWatch(uv_loop_t* loop, std::vector<std::string> paths, std::function<void()> onChange,
            uint64_t settleMs = 200, uint64_t pollMs = 1000);
  // Precondition: close() was called (the handles are released by the loop afterwards).
  ~FileWatch();
  FileWatch(const FileWatch&) = delete;
  FileWatch& operator=(const FileWatch&) = delete;

  // Starts watching; the files as they are now are the baseline. Returns "" or a warning
  // (a directory that cannot be watched: the periodic stat still works).
  std::string start();
  // Stops everything. Idempotent; the object may be destroyed right after (the handles free
  // themselves in their close callbacks).
  void close();

  const std::vector<std::string>& paths() const { return paths_; }

 private:
  struct Shared;  // the handles' part, outliving this object until the loop closes them
  struct State {
    std::string real;  // realpath, "" when the file cannot be reached
    uint64_t dev = 0, ino = 0, size = 0;
    int64_t mtimeNs = 0, ctimeNs = 0;
    bool operator==(const State&) const = default;
  };
  std::vector<State> snapshotStates() const;
  void check();          // an event or a poll: compare with what was last seen
  void settled();        // the settle timer fired
  std::string rewatch(); // watches the directories of the paths and of their targets

  uv_loop_t* loop_;
  std::vector<std::string> paths_;
  std::function<void()> onChange_;
  uint64_t settleMs_, pollMs_;
  Shared* shared_ = nullptr;
  std::vector<State> seen_;       // last reported (or the baseline)
  std::vector<State> candidate_;  // what the settle timer waits to see again
  bool settling_ = false;
};

}  // namespace sy::server
