#include "switchyard/metrics/exposition.h"

#include <prometheus/text_serializer.h>

#include <limits>
#include <utility>

namespace sy::metrics {
namespace {

prometheus::MetricType promType(Type t) {
  switch (t) {
    case Type::kCounter: return prometheus::MetricType::Counter;
    case Type::kGauge: return prometheus::MetricType::Gauge;
    case Type::kHistogram: return prometheus::MetricType::Histogram;
  }
  return prometheus::MetricType::Untyped;
}

}  // namespace

Exposition::Exposition() {
  fams_.resize(static_cast<size_t>(FamilyId::kCount));
  for (size_t i = 0; i < fams_.size(); ++i) {
    const Family& f = kFamilies[i];
    fams_[i].name = f.name;
    fams_[i].help = f.help;
    fams_[i].type = promType(f.type);
  }
}

void Exposition::begin(FamilyId f) { begun_[static_cast<size_t>(f)] = true; }

prometheus::ClientMetric& Exposition::add(FamilyId f, Labels labels) {
  begin(f);
  const Family& fam = family(f);
  prometheus::ClientMetric& m = fams_[static_cast<size_t>(f)].metric.emplace_back();
  const size_t names = fam.labelCount();
  m.label.resize(names);
  auto v = labels.begin();
  for (size_t i = 0; i < names; ++i) {
    m.label[i].name = fam.labels[i];
    if (v != labels.end()) m.label[i].value = *v++;
  }
  return m;
}

void Exposition::sample(FamilyId f, Labels labels, double v) {
  prometheus::ClientMetric& m = add(f, labels);
  if (family(f).type == Type::kCounter) {
    m.counter.value = v;
  } else {
    m.gauge.value = v;
  }
}

void Exposition::histogram(FamilyId f, Labels labels, const uint64_t* buckets, uint64_t sumNs) {
  prometheus::ClientMetric::Histogram& h = add(f, labels).histogram;
  h.bucket.resize(kBuckets);
  uint64_t cumulative = 0;
  for (uint32_t i = 0; i < kBuckets; ++i) {
    cumulative += buckets[i];
    h.bucket[i].cumulative_count = cumulative;
    h.bucket[i].upper_bound = i < kBucketBounds ? static_cast<double>(kBucketBoundsNs[i]) / 1e9
                                                : std::numeric_limits<double>::infinity();
  }
  h.sample_count = cumulative;
  h.sample_sum = static_cast<double>(sumNs) / 1e9;
}

void Exposition::serialize(std::string& out) {
  std::vector<prometheus::MetricFamily> begun;
  for (size_t i = 0; i < fams_.size(); ++i)
    if (begun_[i]) begun.push_back(std::move(fams_[i]));
  out += prometheus::TextSerializer().Serialize(begun);
}

}  // namespace sy::metrics
