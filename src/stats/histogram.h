#pragma once
// A latency histogram with fixed bucket bounds, per shard: recording is a short
// scan and an increment (no allocation, no atomics); shards' histograms are summed
// when /metrics is scraped.

#include <array>
#include <cstddef>
#include <cstdint>

namespace ringway {

class LatencyHistogram {
 public:
  // Upper bounds of the buckets in microseconds (Prometheus `le`, in seconds, is
  // these / 1e6); a last, implicit bucket holds everything above.
  static constexpr std::array<uint64_t, 14> kBoundsUs = {
      500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
      1000000, 2500000, 5000000, 10000000};
  static constexpr size_t kBucketCount = kBoundsUs.size() + 1;

  void record_us(uint64_t us) {
    size_t i = 0;
    while (i < kBoundsUs.size() && us > kBoundsUs[i]) ++i;
    ++counts_[i];
    sum_us_ += us;
    ++count_;
  }
  void merge(const LatencyHistogram& other) {
    for (size_t i = 0; i < kBucketCount; ++i) counts_[i] += other.counts_[i];
    sum_us_ += other.sum_us_;
    count_ += other.count_;
  }
  // Observations in bucket |i| alone (not cumulative).
  uint64_t bucket(size_t i) const { return counts_[i]; }
  uint64_t sum_us() const { return sum_us_; }
  uint64_t count() const { return count_; }

 private:
  std::array<uint64_t, kBucketCount> counts_{};
  uint64_t sum_us_ = 0;
  uint64_t count_ = 0;
};

}  // namespace ringway
