#include "switchyard/metrics/exposition.h"

#include <charconv>
#include <cmath>

namespace sy::metrics {
namespace {

std::string_view typeName(Type t) {
  switch (t) {
    case Type::kCounter: return "counter";
    case Type::kGauge: return "gauge";
    case Type::kHistogram: return "histogram";
  }
  return "untyped";
}

// "le" label values of the finite buckets, in seconds ("0.0001" ... "10").
struct BucketLabels {
  char text[kBucketBounds][24];
  uint8_t len[kBucketBounds];
  BucketLabels() {
    for (uint32_t i = 0; i < kBucketBounds; ++i) {
      double s = static_cast<double>(kBucketBoundsNs[i]) / 1e9;
      auto r = std::to_chars(text[i], text[i] + sizeof text[i], s, std::chars_format::fixed);
      len[i] = static_cast<uint8_t>(r.ptr - text[i]);
    }
  }
};

const BucketLabels& bucketLabels() {
  static const BucketLabels kLabels;
  return kLabels;
}

}  // namespace

void appendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '"': out += "\\\""; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void appendHelp(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      default: out += c;
    }
  }
}

void appendValue(std::string& out, uint64_t v) {
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

void appendValue(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
  }
}

void TextWriter::begin(FamilyId f) {
  bool& done = begun_[static_cast<size_t>(f)];
  if (done) return;
  done = true;
  const Family& fam = family(f);
  out_ += "# HELP ";
  out_ += fam.name;
  out_ += ' ';
  appendHelp(out_, fam.help);
  out_ += "\n# TYPE ";
  out_ += fam.name;
  out_ += ' ';
  out_ += typeName(fam.type);
  out_ += '\n';
}

void TextWriter::series(const Family& fam, std::string_view suffix, Labels labels,
                        std::string_view le) {
  out_ += fam.name;
  out_ += suffix;
  const size_t names = fam.labelCount();
  if (names > 0 || !le.empty()) {
    out_ += '{';
    size_t i = 0;
    for (std::string_view v : labels) {
      if (i == names) break;  // more values than names: extra ones are a caller bug; ignored
      if (i) out_ += ',';
      out_ += fam.labels[i];
      out_ += "=\"";
      appendLabelValue(out_, v);
      out_ += '"';
      ++i;
    }
    for (; i < names; ++i) {  // fewer values than names: the rest are empty
      if (i) out_ += ',';
      out_ += fam.labels[i];
      out_ += "=\"\"";
    }
    if (!le.empty()) {
      if (names) out_ += ',';
      out_ += "le=\"";
      out_ += le;
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
}

void TextWriter::sample(FamilyId f, Labels labels, uint64_t v) {
  begin(f);
  series(family(f), "", labels, {});
  appendValue(out_, v);
  out_ += '\n';
}

void TextWriter::sample(FamilyId f, Labels labels, double v) {
  begin(f);
  series(family(f), "", labels, {});
  appendValue(out_, v);
  out_ += '\n';
}

void TextWriter::histogram(FamilyId f, Labels labels, const uint64_t* buckets, uint64_t sumNs) {
  begin(f);
  const Family& fam = family(f);
  const BucketLabels& le = bucketLabels();
  uint64_t cumulative = 0;
  for (uint32_t i = 0; i < kBucketBounds; ++i) {
    cumulative += buckets[i];
    series(fam, "_bucket", labels, std::string_view(le.text[i], le.len[i]));
    appendValue(out_, cumulative);
    out_ += '\n';
  }
  cumulative += buckets[kBucketBounds];
  series(fam, "_bucket", labels, "+Inf");
  appendValue(out_, cumulative);
  out_ += '\n';
  series(fam, "_sum", labels, {});
  appendValue(out_, static_cast<double>(sumNs) / 1e9);
  out_ += '\n';
  series(fam, "_count", labels, {});
  appendValue(out_, cumulative);
  out_ += '\n';
}

}  // namespace sy::metrics
