#include "stats/prometheus.h"

#include <string>

#include <gtest/gtest.h>

#include "stats/histogram.h"
#include "stats/process_stats.h"

namespace ringway {
namespace {

TEST(PrometheusWriter, WritesFamiliesAndSamples) {
  PrometheusWriter w;
  w.family("ringway_requests_total", "counter", "Finished requests.");
  w.sample("ringway_requests_total", {{"api", "demo"}, {"code", "2xx"}}, 12);
  w.sample("ringway_requests_total", {}, 0);
  w.family("ringway_open", "gauge", "Open things.");
  w.sample_signed("ringway_open", {{"shard", "1"}}, -3);
  w.sample_double("ringway_open", {}, 1.5);
  EXPECT_EQ(w.text(),
            "# HELP ringway_requests_total Finished requests.\n"
            "# TYPE ringway_requests_total counter\n"
            "ringway_requests_total{api=\"demo\",code=\"2xx\"} 12\n"
            "ringway_requests_total 0\n"
            "# HELP ringway_open Open things.\n"
            "# TYPE ringway_open gauge\n"
            "ringway_open{shard=\"1\"} -3\n"
            "ringway_open 1.5\n");
}

TEST(PrometheusWriter, EscapesLabelValuesAndHelp) {
  EXPECT_EQ(escape_label_value("a\\b\"c\nd"), "a\\\\b\\\"c\\nd");
  PrometheusWriter w;
  w.family("m", "gauge", "line one\nback\\slash");
  w.sample("m", {{"path", "/x\"y"}}, 1);
  EXPECT_EQ(w.text(),
            "# HELP m line one\\nback\\\\slash\n"
            "# TYPE m gauge\n"
            "m{path=\"/x\\\"y\"} 1\n");
}

TEST(LatencyHistogram, CountsIntoTheFirstBucketThatHoldsTheValue) {
  LatencyHistogram h;
  h.record_us(0);
  h.record_us(500);     // le 0.0005
  h.record_us(501);     // le 0.001
  h.record_us(20000);   // le 0.025
  h.record_us(10000000);
  h.record_us(10000001);  // +Inf
  EXPECT_EQ(h.bucket(0), 2u);
  EXPECT_EQ(h.bucket(1), 1u);
  EXPECT_EQ(h.bucket(5), 1u);
  EXPECT_EQ(h.bucket(LatencyHistogram::kBucketCount - 2), 1u);
  EXPECT_EQ(h.bucket(LatencyHistogram::kBucketCount - 1), 1u);
  EXPECT_EQ(h.count(), 6u);
  EXPECT_EQ(h.sum_us(), 0u + 500 + 501 + 20000 + 10000000 + 10000001);
  LatencyHistogram other;
  other.record_us(700);
  h.merge(other);
  EXPECT_EQ(h.bucket(1), 2u);
  EXPECT_EQ(h.count(), 7u);
}

TEST(PrometheusWriter, WritesHistogramsCumulativeWithSumAndCount) {
  LatencyHistogram h;
  h.record_us(400);
  h.record_us(2000);
  h.record_us(20000000);
  PrometheusWriter w;
  w.family("lat_seconds", "histogram", "Latency.");
  w.histogram("lat_seconds", {{"api", "a"}}, h);
  std::string t = w.text();
  EXPECT_NE(t.find("lat_seconds_bucket{api=\"a\",le=\"0.0005\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find("lat_seconds_bucket{api=\"a\",le=\"0.001\"} 1\n"), std::string::npos);
  EXPECT_NE(t.find("lat_seconds_bucket{api=\"a\",le=\"0.0025\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("lat_seconds_bucket{api=\"a\",le=\"10\"} 2\n"), std::string::npos);
  EXPECT_NE(t.find("lat_seconds_bucket{api=\"a\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(t.find("lat_seconds_sum{api=\"a\"} 20.002400\n"), std::string::npos);
  EXPECT_NE(t.find("lat_seconds_count{api=\"a\"} 3\n"), std::string::npos);
  // 15 buckets, sum, count.
  size_t lines = 0;
  for (char c : t) lines += c == '\n';
  EXPECT_EQ(lines, 2u + LatencyHistogram::kBucketCount + 2u);
}

TEST(ProcessStats, ReadsThisProcess) {
  ProcessStats p;
  ASSERT_TRUE(read_process_stats(&p));
  EXPECT_GT(p.resident_bytes, 0u);
  EXPECT_GE(p.virtual_bytes, p.resident_bytes);
  EXPECT_GT(p.open_fds, 2u);  // stdin, stdout, stderr at least
  EXPECT_GE(p.max_fds, p.open_fds);
  EXPECT_GT(p.start_time_seconds, 1.6e9);
}

}  // namespace
}  // namespace ringway
