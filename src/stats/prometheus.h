#pragma once
// Prometheus text exposition format (version 0.0.4): metric families with HELP and
// TYPE lines, samples with escaped label values, histograms as cumulative _bucket
// series plus _sum and _count.

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "stats/histogram.h"

namespace ringway {

using Label = std::pair<std::string_view, std::string_view>;

class PrometheusWriter {
 public:
  // Starts a family: "# HELP name help" and "# TYPE name type" (counter, gauge,
  // histogram). Every sample of a family must follow its header.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value);
  void sample_signed(std::string_view name, std::initializer_list<Label> labels, int64_t value);
  void sample_double(std::string_view name, std::initializer_list<Label> labels, double value);
  // name_bucket{...,le="..."} (cumulative, ending with le="+Inf"), name_sum (seconds)
  // and name_count.
  void histogram(std::string_view name, std::initializer_list<Label> labels,
                 const LatencyHistogram& histogram);

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

 private:
  void series(std::string_view name, std::string_view suffix, std::initializer_list<Label> labels,
              const Label* extra);

  std::string out_;
};

// Escapes a label value: backslash, double quote and newline.
std::string escape_label_value(std::string_view value);

}  // namespace ringway
