#include "stats/prometheus.h"

#include <cinttypes>
#include <cstdio>

namespace ringway {

std::string escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

namespace {
// HELP text escapes only backslash and newline.
void append_help(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}
}  // namespace

void PrometheusWriter::family(std::string_view name, std::string_view type,
                              std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  append_help(out_, help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusWriter::series(std::string_view name, std::string_view suffix,
                              std::initializer_list<Label> labels, const Label* extra) {
  out_ += name;
  out_ += suffix;
  if (labels.size() > 0 || extra) {
    out_ += '{';
    bool first = true;
    auto add = [&](const Label& label) {
      if (!first) out_ += ',';
      first = false;
      out_ += label.first;
      out_ += "=\"";
      out_ += escape_label_value(label.second);
      out_ += '"';
    };
    for (const Label& label : labels) add(label);
    if (extra) add(*extra);
    out_ += '}';
  }
  out_ += ' ';
}

void PrometheusWriter::sample(std::string_view name, std::initializer_list<Label> labels,
                              uint64_t value) {
  series(name, "", labels, nullptr);
  out_ += std::to_string(value);
  out_ += '\n';
}

void PrometheusWriter::sample_signed(std::string_view name, std::initializer_list<Label> labels,
                                     int64_t value) {
  series(name, "", labels, nullptr);
  out_ += std::to_string(value);
  out_ += '\n';
}

void PrometheusWriter::sample_double(std::string_view name, std::initializer_list<Label> labels,
                                     double value) {
  series(name, "", labels, nullptr);
  char buf[64];
  snprintf(buf, sizeof(buf), "%.9g", value);
  out_ += buf;
  out_ += '\n';
}

void PrometheusWriter::histogram(std::string_view name, std::initializer_list<Label> labels,
                                 const LatencyHistogram& histogram) {
  uint64_t cumulative = 0;
  char le[32];
  for (size_t i = 0; i < LatencyHistogram::kBucketCount; ++i) {
    cumulative += histogram.bucket(i);
    if (i < LatencyHistogram::kBoundsUs.size()) {
      snprintf(le, sizeof(le), "%g", static_cast<double>(LatencyHistogram::kBoundsUs[i]) / 1e6);
    } else {
      snprintf(le, sizeof(le), "+Inf");
    }
    Label extra{"le", le};
    series(name, "_bucket", labels, &extra);
    out_ += std::to_string(cumulative);
    out_ += '\n';
  }
  series(name, "_sum", labels, nullptr);
  char sum[64];
  snprintf(sum, sizeof(sum), "%.6f", static_cast<double>(histogram.sum_us()) / 1e6);
  out_ += sum;
  out_ += '\n';
  series(name, "_count", labels, nullptr);
  out_ += std::to_string(histogram.count());
  out_ += '\n';
}

}  // namespace ringway
