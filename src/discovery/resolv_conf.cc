#include "switchyard/discovery/resolv_conf.h"

#include <ares.h>
#include <sys/stat.h>

#include "switchyard/common/log.h"

namespace sy::discovery {

ResolvConf::ResolvConf(int timeoutMs, int tries) : timeoutMs_(timeoutMs), tries_(tries) {}

ResolvConf::~ResolvConf() { clear(); }

void ResolvConf::clear() {
  if (saved_) {
    ares_destroy_options(saved_);
    delete saved_;
    saved_ = nullptr;
  }
  if (template_) ares_destroy(template_);
  template_ = nullptr;
}

ResolvConf::Stamp ResolvConf::stampNow() {
  Stamp s;
  struct stat st{};
  if (::stat(kPath, &st) != 0) return s;  // missing: c-ares asks 127.0.0.1
  s.dev = st.st_dev;
  s.ino = st.st_ino;
  s.size = st.st_size;
  s.mtime = st.st_mtim;
  return s;
}

uint64_t ResolvConf::refresh(uint64_t now) {
  if (now == lastLook_ && generation_ > 0) return generation_;
  lastLook_ = now;
  Stamp s = stampNow();
  if (generation_ > 0 && s == stamp_) return generation_;
  if (generation_ > 0) LOG_INFO("discovery: %s changed: its settings are read again", kPath);
  // Stamped before the read: a change made while reading shows at the next look.
  stamp_ = s;
  read();
  return ++generation_;
}

void ResolvConf::read() {
  clear();
  ares_options opts{};
  opts.timeout = timeoutMs_;
  opts.tries = tries_;
  int status = ares_init_options(&template_, &opts, ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
  if (status != ARES_SUCCESS) {
    template_ = nullptr;
    LOG_WARN("discovery: cannot read the system's resolver settings: %s", ares_strerror(status));
    return;
  }
  saved_ = new ares_options{};
  if (ares_save_options(template_, saved_, &savedMask_) != ARES_SUCCESS) {
    delete saved_;
    saved_ = nullptr;
  }
}

bool ResolvConf::makeChannel(ares_channeldata** out, const ares_options& mine, int mask,
                             int* status) const {
  if (!template_ || !saved_) return false;
  ares_options o = *saved_;  // shallow: ares_init_options copies what it keeps
  if (mask & ARES_OPT_SOCK_STATE_CB) {
    o.sock_state_cb = mine.sock_state_cb;
    o.sock_state_cb_data = mine.sock_state_cb_data;
  }
  if (mask & ARES_OPT_FLAGS) o.flags = mine.flags;
  if (mask & ARES_OPT_TIMEOUTMS) o.timeout = mine.timeout;
  if (mask & ARES_OPT_TRIES) o.tries = mine.tries;
  if (mask & ARES_OPT_LOOKUPS) o.lookups = mine.lookups;
  *status = ares_init_options(out, &o, savedMask_ | mask);
  if (*status != ARES_SUCCESS) return true;
  // ares_save_options keeps only IPv4 servers on the default port: all of them, as ares_dup does.
  ares_addr_port_node* servers = nullptr;
  if (ares_get_servers_ports(template_, &servers) == ARES_SUCCESS) {
    *status = ares_set_servers_ports(*out, servers);
    ares_free_data(servers);
  }
  return true;
}

}  // namespace sy::discovery
