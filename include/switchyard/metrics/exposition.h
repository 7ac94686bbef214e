#pragma once
// Prometheus text exposition format 0.0.4, written natively. TextWriter emits the families of
// families.h: "# HELP" and "# TYPE" once per family (when the family is begun), then its
// samples; label values and help text are escaped. Callers begin families in table order and
// give label values in the order the table lists the label names. Not thread-safe: one scrape.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>

#include "switchyard/metrics/families.h"

namespace sy::metrics {

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

// Label value escaping: backslash, double quote and line feed (as \\, \" and \n).
void appendLabelValue(std::string& out, std::string_view v);
// HELP text escaping: backslash and line feed.
void appendHelp(std::string& out, std::string_view v);
// Sample values: integers exactly; other numbers in the shortest form that reads back the same;
// NaN, +Inf, -Inf as Prometheus spells them.
void appendValue(std::string& out, double v);
void appendValue(std::string& out, uint64_t v);

using Labels = std::initializer_list<std::string_view>;

class TextWriter {
 public:
  explicit TextWriter(std::string& out) : out_(out) {}

  // Writes HELP and TYPE for `f`, once per family and writer (later calls do nothing).
  void begin(FamilyId f);
  // A counter or gauge sample (begins the family if needed).
  void sample(FamilyId f, Labels labels, uint64_t v);
  void sample(FamilyId f, Labels labels, double v);
  // A histogram: `buckets` holds kBuckets non-cumulative counts (the last one for +Inf) and
  // `sumNs` the sum of observations in nanoseconds. Writes the cumulative _bucket series (le
  // from families.h, then "+Inf"), _sum in seconds and _count (= the +Inf bucket).
  void histogram(FamilyId f, Labels labels, const uint64_t* buckets, uint64_t sumNs);

 private:
  void series(const Family& fam, std::string_view suffix, Labels labels, std::string_view le);

  std::string& out_;
  bool begun_[static_cast<size_t>(FamilyId::kCount)] = {};
};

}  // namespace sy::metrics
