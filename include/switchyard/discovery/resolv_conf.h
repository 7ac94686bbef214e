#pragma once
// The system's resolver settings as c-ares reads them (/etc/resolv.conf and nsswitch.conf,
// with LOCALDOMAIN and RES_OPTIONS over them), read once and shared by every channel discovery
// makes instead of once per name, and read again when /etc/resolv.conf changes (its
// modification time, size or inode), as glibc does. The loop's thread only.

#include <sys/types.h>

#include <ctime>
#include <cstdint>

struct ares_channeldata;
struct ares_options;

namespace sy::discovery {

class ResolvConf {
 public:
  static constexpr const char* kPath = "/etc/resolv.conf";

  // `timeoutMs` and `tries` go into every channel.
  ResolvConf(int timeoutMs, int tries);
  ~ResolvConf();
  ResolvConf(const ResolvConf&) = delete;
  ResolvConf& operator=(const ResolvConf&) = delete;

  // Looks at the file (at most once per `now`, a loop time in ms: names looked up in the same
  // turn share one look) and reads the settings again when it changed since the last read.
  // Returns the generation of the settings in use: it grows by one per read.
  uint64_t refresh(uint64_t now);
  uint64_t generation() const { return generation_; }

  // A channel with the settings read (no file is read again); `opts`/`mask` are the caller's
  // own options (callbacks, flags, lookups), applied over them. False when no settings could
  // be read: the caller then lets c-ares read the files itself.
  bool makeChannel(ares_channeldata** out, const ares_options& opts, int mask, int* status) const;

 private:
  struct Stamp {
    dev_t dev = 0;
    ino_t ino = 0;
    off_t size = -1;
    timespec mtime{};
    bool operator==(const Stamp& o) const {
      return dev == o.dev && ino == o.ino && size == o.size && mtime.tv_sec == o.mtime.tv_sec &&
             mtime.tv_nsec == o.mtime.tv_nsec;
    }
  };
  static Stamp stampNow();
  void read();
  void clear();

  int timeoutMs_;
  int tries_;
  ares_channeldata* template_ = nullptr;  // made from the files; its settings are copied
  ares_options* saved_ = nullptr;         // ares_save_options(template_)
  int savedMask_ = 0;
  Stamp stamp_;
  uint64_t generation_ = 0;
  uint64_t lastLook_ = UINT64_MAX;
};

}  // namespace sy::discovery
