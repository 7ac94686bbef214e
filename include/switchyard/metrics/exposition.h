#pragma once
// The /metrics exposition, built with prometheus-cpp's core library: Exposition gathers the
// families of families.h as prometheus::MetricFamily values (name, help, type from the table)
// and prometheus::TextSerializer writes them in text format 0.0.4. A family appears once
// begun (begin() or its first sample), in table order whatever the order of the calls. Label
// values are given in the order the table lists the label names. Main thread, one scrape.

#include <prometheus/metric_family.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/metrics/families.h"

namespace sy::metrics {

inline constexpr std::string_view kContentType = "text/plain; version=0.0.4; charset=utf-8";

using Labels = std::initializer_list<std::string_view>;

class Exposition {
 public:
  Exposition();

  // Makes the family appear (HELP and TYPE) even without samples.
  void begin(FamilyId f);
  // A counter or gauge sample. Missing label values are empty; extra ones are ignored.
  void sample(FamilyId f, Labels labels, double v);
  // A histogram: `buckets` holds kBuckets non-cumulative counts (the last one for +Inf) and
  // `sumNs` the sum of observations in nanoseconds. Written as cumulative _bucket series (le
  // from families.h in seconds, then +Inf), _sum in seconds and _count (= the +Inf bucket).
  void histogram(FamilyId f, Labels labels, const uint64_t* buckets, uint64_t sumNs);

  // Appends the text exposition of the begun families, in table order, to `out`
  // (prometheus::TextSerializer). Hands the families over: call once, last.
  void serialize(std::string& out);

 private:
  prometheus::ClientMetric& add(FamilyId f, Labels labels);

  std::vector<prometheus::MetricFamily> fams_;  // indexed by FamilyId
  bool begun_[static_cast<size_t>(FamilyId::kCount)] = {};
};

}  // namespace sy::metrics
