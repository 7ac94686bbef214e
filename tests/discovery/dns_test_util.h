#pragma once
// Test helpers for discovery: a DNS message builder and a fake DNS server on a libuv loop
// (127.0.0.1, port 0) whose answers the test sets.

#include <arpa/inet.h>
#include <uv.h>

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

namespace sy::discovery::testing {

// Builds DNS messages byte by byte; names are written uncompressed unless given as a pointer.
class DnsBuilder {
 public:
  DnsBuilder& header(uint16_t id, uint16_t flags, uint16_t qd, uint16_t an, uint16_t ns = 0,
                     uint16_t ar = 0) {
    put16(id);
    put16(flags);
    put16(qd);
    put16(an);
    put16(ns);
    put16(ar);
    return *this;
  }
  DnsBuilder& name(const std::string& n) {
    size_t start = 0;
    while (start < n.size()) {
      size_t dot = n.find('.', start);
      if (dot == std::string::npos) dot = n.size();
      bytes.push_back(static_cast<uint8_t>(dot - start));
      bytes.insert(bytes.end(), n.begin() + start, n.begin() + dot);
      start = dot + 1;
    }
    bytes.push_back(0);
    return *this;
  }
  DnsBuilder& pointer(uint16_t offset) {
    put16(static_cast<uint16_t>(0xc000 | offset));
    return *this;
  }
  DnsBuilder& question(uint16_t type, uint16_t cls = 1) {
    put16(type);
    put16(cls);
    return *this;
  }
  // Type, class, TTL and rdata of a record whose owner name was just written.
  DnsBuilder& record(uint16_t type, const std::vector<uint8_t>& data, uint16_t cls = 1) {
    put16(type);
    put16(cls);
    put16(static_cast<uint16_t>(ttl >> 16));
    put16(static_cast<uint16_t>(ttl & 0xffff));
    put16(static_cast<uint16_t>(data.size()));
    bytes.insert(bytes.end(), data.begin(), data.end());
    return *this;
  }
  DnsBuilder& a(const std::string& ip) {
    std::vector<uint8_t> d(4);
    inet_pton(AF_INET, ip.c_str(), d.data());
    return record(1, d);
  }
  DnsBuilder& aaaa(const std::string& ip) {
    std::vector<uint8_t> d(16);
    inet_pton(AF_INET6, ip.c_str(), d.data());
    return record(28, d);
  }
  void put16(uint16_t v) {
    bytes.push_back(static_cast<uint8_t>(v >> 8));
    bytes.push_back(static_cast<uint8_t>(v & 0xff));
  }

  std::vector<uint8_t> bytes;
  uint32_t ttl = 60;  // of the records written next
};

constexpr uint16_t kResponse = 0x8180;  // QR, RD, RA, NOERROR

// A DNS server on the loop (UDP only) answering SRV queries from `srv` and A/AAAA queries from
// `records` (name -> addresses; the family picks the type). Names not in the map get NXDOMAIN;
// `rcode` != 0 answers everything with that code; `silent` drops queries. Counts the queries
// it saw.
class FakeDnsServer {
 public:
  explicit FakeDnsServer(uv_loop_t* loop) {
    uv_udp_init(loop, &udp_);
    udp_.data = this;
    sockaddr_in addr{};
    uv_ip4_addr("127.0.0.1", 0, &addr);
    uv_udp_bind(&udp_, reinterpret_cast<const sockaddr*>(&addr), 0);
    sockaddr_in bound{};
    int len = sizeof bound;
    uv_udp_getsockname(&udp_, reinterpret_cast<sockaddr*>(&bound), &len);
    port = ntohs(bound.sin_port);
    uv_udp_recv_start(
        &udp_,
        [](uv_handle_t* h, size_t, uv_buf_t* buf) {
          auto* self = static_cast<FakeDnsServer*>(h->data);
          *buf = uv_buf_init(self->buf_, sizeof self->buf_);
        },
        [](uv_udp_t* h, ssize_t n, const uv_buf_t* buf, const sockaddr* from, unsigned) {
          if (n <= 0 || !from) return;
          static_cast<FakeDnsServer*>(h->data)->onQuery(
              reinterpret_cast<const uint8_t*>(buf->base), static_cast<size_t>(n), from);
        });
  }
  // Closes the socket (idempotent); the destructor closes it too and runs the loop until the
  // close callback ran, so the server may go out of scope at any point of a test.
  void close() {
    auto* h = reinterpret_cast<uv_handle_t*>(&udp_);
    if (!uv_is_closing(h))
      uv_close(h, [](uv_handle_t* hh) { static_cast<FakeDnsServer*>(hh->data)->closed_ = true; });
  }
  ~FakeDnsServer() {
    close();
    while (!closed_) uv_run(udp_.loop, UV_RUN_ONCE);
  }
  FakeDnsServer(const FakeDnsServer&) = delete;
  FakeDnsServer& operator=(const FakeDnsServer&) = delete;
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }

  std::map<std::string, std::vector<std::string>> records;
  struct Srv {
    uint16_t priority, weight, port;
    std::string target;
  };
  std::map<std::string, std::vector<Srv>> srv;  // SRV records (type 33) by name
  int rcode = 0;
  bool silent = false;
  bool strayFirst = false;  // send a reply with a wrong id before each real one
  uint32_t ttl = 60;        // of every record
  int queries = 0;
  uint16_t port = 0;

 private:
  void onQuery(const uint8_t* q, size_t n, const sockaddr* from) {
    ++queries;
    if (silent || n < 17) return;
    uint16_t id = static_cast<uint16_t>((q[0] << 8) | q[1]);
    std::string qname;
    size_t at = 12;
    while (at < n && q[at] != 0) {
      if (!qname.empty()) qname += '.';
      qname.append(reinterpret_cast<const char*>(q + at + 1), q[at]);
      at += 1 + q[at];
    }
    at += 1;
    uint16_t qtype = static_cast<uint16_t>((q[at] << 8) | q[at + 1]);
    if (qtype == 33) return send(srvReply(id, qname), from);
    auto it = records.find(qname);
    std::vector<std::string> answers;
    if (it != records.end()) {
      for (const std::string& ip : it->second) {
        bool v6 = ip.find(':') != std::string::npos;
        if ((qtype == 28) == v6) answers.push_back(ip);
      }
    }
    uint16_t rc = static_cast<uint16_t>(rcode ? rcode : (it == records.end() ? 3 : 0));
    if (strayFirst)
      send(reply(static_cast<uint16_t>(id + 1), rc, qname, qtype, answers, ttl), from);
    send(reply(id, rc, qname, qtype, answers, ttl), from);
  }

  static std::vector<uint8_t> reply(uint16_t id, uint16_t rc, const std::string& qname,
                                    uint16_t qtype, const std::vector<std::string>& answers,
                                    uint32_t ttl) {
    DnsBuilder b;
    b.ttl = ttl;
    b.header(id, static_cast<uint16_t>(kResponse | rc), 1,
             static_cast<uint16_t>(rc == 0 ? answers.size() : 0));
    b.name(qname).question(qtype);
    if (rc == 0) {
      for (const std::string& ip : answers) {
        b.pointer(12);
        if (qtype == 28) {
          b.aaaa(ip);
        } else {
          b.a(ip);
        }
      }
    }
    return b.bytes;
  }

  std::vector<uint8_t> srvReply(uint16_t id, const std::string& qname) const {
    auto it = srv.find(qname);
    uint16_t rc = static_cast<uint16_t>(rcode ? rcode : (it == srv.end() ? 3 : 0));
    DnsBuilder b;
    b.ttl = ttl;
    b.header(id, static_cast<uint16_t>(kResponse | rc), 1,
             static_cast<uint16_t>(rc == 0 ? it->second.size() : 0));
    b.name(qname).question(33);
    if (rc != 0) return b.bytes;
    for (const Srv& r : it->second) {
      DnsBuilder data;
      data.put16(r.priority);
      data.put16(r.weight);
      data.put16(r.port);
      data.name(r.target);
      b.pointer(12);
      b.record(33, data.bytes);
    }
    return b.bytes;
  }

  void send(std::vector<uint8_t> msg, const sockaddr* to) {
    uv_buf_t buf = uv_buf_init(reinterpret_cast<char*>(msg.data()),
                               static_cast<unsigned>(msg.size()));
    uv_udp_try_send(&udp_, &buf, 1, to);
  }

  uv_udp_t udp_;
  bool closed_ = false;
  char buf_[4096];
};

}  // namespace sy::discovery::testing
