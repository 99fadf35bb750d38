#include "pipeline/proxy_generation.h"

#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "io/loop.h"
#include "pipeline/api_stats.h"
#include "upstream/pool.h"

namespace ringway {
namespace {

class CountingRefs : public GenerationRefs {
 public:
  void acquire() override { ++refs; }
  void release() override { --refs; }
  int refs = 0;
};

std::shared_ptr<const Config> load(const std::string& text) {
  ConfigLoadResult r = load_config_text(text, "test.ini");
  for (const ConfigError& e : r.errors) ADD_FAILURE() << format_config_error("test.ini", e);
  return r.config;
}

const char* kTwoApis =
    "[api.open]\n"
    "listen_path = /open\n"
    "target_url = http://127.0.0.1:9001\n"
    "use_keyless = true\n"
    "[api.h2]\n"
    "listen_path = /h2\n"
    "target_url = h2c://127.0.0.1:9002\n"
    "use_keyless = true\n";

class ProxyGenerationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string error;
    ASSERT_TRUE(loop_.init(LoopLimits{64, 16, 4096}, &error)) << error;
    pools_ = std::make_unique<UpstreamPools>(&loop_);
  }
  void TearDown() override { pools_.reset(); }

  std::unique_ptr<ProxyGeneration> build(const std::string& text) {
    std::string error;
    auto gen = ProxyGeneration::build(load(text), &loop_, 0, *pools_, stats_, nullptr, nullptr, &refs_,
                                      &error);
    EXPECT_TRUE(gen) << error;
    return gen;
  }

  Loop loop_;
  std::unique_ptr<UpstreamPools> pools_;
  ApiStatsTable stats_;
  CountingRefs refs_;
};

TEST_F(ProxyGenerationTest, KeylessApisHaveNoFilterAndMutualTlsComesFirst) {
  auto gen = build(std::string(kTwoApis));
  const ApiRoute* open = gen->match("any", "/open/x");
  ASSERT_TRUE(open);
  EXPECT_EQ(open->config->name, "open");
  EXPECT_TRUE(open->filters.empty());  // no filter call on a keyless request
  EXPECT_EQ(gen->match("any", "/nothing"), nullptr);

  // The same API with mutual TLS and a fault delay: mutual TLS first.
  auto config = std::make_shared<Config>(*load(kTwoApis));
  config->apis[0].use_keyless = false;
  config->apis[0].use_mutual_tls_auth = true;
  std::string error;
  config->apis[0].fault_delay_ms = 50;
  auto mtls =
      ProxyGeneration::build(config, &loop_, 0, *pools_, stats_, nullptr, nullptr, &refs_, &error);
  ASSERT_TRUE(mtls) << error;
  const ApiRoute* secure = mtls->match("any", "/open/x");
  ASSERT_EQ(secure->filters.size(), 2u);
  EXPECT_STREQ(secure->filters.at(0)->name(), "mutual_tls");
  EXPECT_STREQ(secure->filters.at(1)->name(), "fault_delay");
  EXPECT_TRUE(mtls->match("any", "/h2")->filters.empty());
}

TEST_F(ProxyGenerationTest, ARequestHoldsItsGeneration) {
  auto gen = build(std::string(kTwoApis));
  gen->acquire();
  gen->acquire();
  EXPECT_EQ(refs_.refs, 2);
  gen->release();
  gen->release();
  EXPECT_EQ(refs_.refs, 0);
}

TEST_F(ProxyGenerationTest, UnchangedUpstreamsKeepTheirPoolAcrossGenerations) {
  auto first = build(std::string(kTwoApis));
  // The same upstreams, one API's target moved elsewhere.
  std::string moved = kTwoApis;
  moved.replace(moved.find("9002"), 4, "9003");
  auto second = build(moved);
  EXPECT_EQ(first->match("", "/open")->pool, second->match("", "/open")->pool)
      << "the unchanged API shares the pool (its warm connections survive the reload)";
  EXPECT_NE(first->match("", "/h2")->pool, second->match("", "/h2")->pool);
  // Counters are the API's, kept by name.
  EXPECT_EQ(first->match("", "/h2")->stats, second->match("", "/h2")->stats);
  EXPECT_EQ(pools_->pool_count(), 3u);
  // The old generation goes: its pool for the moved API is retired and, having no
  // connection, freed; the shared one stays.
  first.reset();
  pools_->collect();
  EXPECT_EQ(pools_->pool_count(), 2u);
  second.reset();
  pools_->collect();
  EXPECT_EQ(pools_->pool_count(), 0u);
}

TEST_F(ProxyGenerationTest, ChangedLimitsMakeANewPool) {
  auto first = build(std::string(kTwoApis));
  auto second = build("[gateway]\nupstream_max_connections = 7\n" + std::string(kTwoApis));
  EXPECT_NE(first->match("", "/open")->pool, second->match("", "/open")->pool);
  EXPECT_EQ(second->match("", "/open")->pool->settings().max_connections, 7u);
}

TEST_F(ProxyGenerationTest, AReplacedUpstreamCertificateFileMakesANewPool) {
  // Same path, new file (a rotated CA bundle): a reload must not keep the old client
  // context. Unchanged: the pool stays.
  char dir[] = "/tmp/rw-pg-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string ca = std::string(dir) + "/ca.pem";
  {
    std::ifstream in("/etc/ssl/certs/ca-certificates.crt", std::ios::binary);
    std::ofstream out(ca, std::ios::binary);
    out << in.rdbuf();
  }
  std::string text = "[api.tls]\nlisten_path = /\ntarget_url = https://127.0.0.1:9443\n"
                     "use_keyless = true\nupstream_ca_file = " + ca + "\n";
  auto first = build(text);
  auto same = build(text);
  ASSERT_TRUE(first && same);
  EXPECT_EQ(first->match("", "/")->pool, same->match("", "/")->pool);
  // Rewritten in place, one second newer.
  timeval times[2] = {{1700000000, 0}, {1700000001, 0}};
  ASSERT_EQ(utimes(ca.c_str(), times), 0);
  auto rotated = build(text);
  ASSERT_TRUE(rotated);
  EXPECT_NE(first->match("", "/")->pool, rotated->match("", "/")->pool);
  first.reset();
  same.reset();
  rotated.reset();
  pools_->collect();
  unlink(ca.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace ringway
