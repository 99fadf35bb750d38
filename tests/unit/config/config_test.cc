#include "config/config.h"

#include <arpa/inet.h>
#include <stdlib.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace ringway {
namespace {

// A valid API section, four lines long; tests put the line under test before it so
// the expected line numbers are easy to read.
constexpr const char* kDemoApi =
    "[api.demo]\n"
    "listen_path = /demo\n"
    "target_url = http://127.0.0.1:9090\n"
    "use_keyless = true\n";

// "LINE: message" for each error, in the order reported.
std::vector<std::string> errors_of(const std::string& text) {
  ConfigLoadResult result = load_config_text(text, "test.ini");
  EXPECT_EQ(result.config == nullptr, !result.errors.empty());
  std::vector<std::string> out;
  for (const ConfigError& error : result.errors) {
    out.push_back(std::to_string(error.line) + ": " + error.message);
  }
  return out;
}

std::shared_ptr<const Config> load_ok(const std::string& text) {
  ConfigLoadResult result = load_config_text(text, "test.ini");
  for (const ConfigError& error : result.errors) {
    ADD_FAILURE() << format_config_error("test.ini", error);
  }
  return result.config;
}

std::string address_of(const SockAddr& address) {
  char text[INET6_ADDRSTRLEN] = {};
  if (address.storage.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&address.storage);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof(text));
    return std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&address.storage);
  inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof(text));
  return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
}

std::string read_file(const std::string& path) {
  std::ifstream file(path);
  std::ostringstream text;
  text << file.rdbuf();
  return text.str();
}

const std::string kExampleConfig = std::string(RINGWAY_SOURCE_ROOT) + "/conf/ringway.ini";

TEST(ConfigLoader, LoadsFullValidFile) {
  auto config = load_ok(
      "; full example\n"
      "[gateway]\n"
      "listen = 127.0.0.1:8081, [::1]:8082\n"
      "enable_http2 = false\n"
      "shards = 3\n"
      "pin_shards = no\n"
      "ring_entries = 1024\n"
      "buffer_size = 8192\n"
      "buffer_count = 512\n"
      "max_connections = 777\n"
      "idle_timeout_ms = 1001\n"
      "request_header_timeout_ms = 1002\n"
      "upstream_connect_timeout_ms = 1003\n"
      "upstream_timeout_ms = 1004\n"
      "max_header_bytes = 4096\n"
      "max_concurrent_streams = 50\n"
      "stream_buffer_bytes = 65536\n"
      "upstream_max_idle_connections = 0\n"
      "upstream_max_connections = 9\n"
      "drain_timeout_ms = 0\n"
      "access_log = /var/log/ringway/access.log\n"
      "access_log_buffer_bytes = 8192\n"
      "log_level = debug\n"
      "\n"
      "[api.orders]\n"
      "listen_path = /orders/\n"
      "strip_listen_path = true\n"
      "target_url = h2c://127.0.0.1:50051/v1/\n"
      "proxy_enable_http2 = true\n"
      "hosts = API.Example.com , www.example.com.\n"
      "preserve_host_header = true\n"
      "use_keyless = true\n"
      "use_basic_auth = false\n"
      "auth_header =\n"
      "\n"
      "[api.web]\n"
      "listen_path = /\n"
      "target_url = http://localhost\n"
      "use_keyless = on\n");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->path, "test.ini");
  const GatewayConfig& g = config->gateway;
  ASSERT_EQ(g.listen.size(), 2u);
  EXPECT_EQ(g.listen[0].text, "127.0.0.1:8081");
  EXPECT_EQ(address_of(g.listen[0]), "127.0.0.1:8081");
  EXPECT_EQ(g.listen[1].text, "[::1]:8082");
  EXPECT_EQ(address_of(g.listen[1]), "[::1]:8082");
  EXPECT_FALSE(g.enable_http2);
  EXPECT_EQ(g.shards, 3u);
  EXPECT_FALSE(g.pin_shards);
  EXPECT_EQ(g.ring_entries, 1024u);
  EXPECT_EQ(g.buffer_size, 8192u);
  EXPECT_EQ(g.buffer_count, 512u);
  EXPECT_EQ(g.max_connections, 777u);
  EXPECT_EQ(g.idle_timeout_ms, 1001u);
  EXPECT_EQ(g.request_header_timeout_ms, 1002u);
  EXPECT_EQ(g.upstream_connect_timeout_ms, 1003u);
  EXPECT_EQ(g.upstream_timeout_ms, 1004u);
  EXPECT_EQ(g.max_header_bytes, 4096u);
  EXPECT_EQ(g.max_concurrent_streams, 50u);
  EXPECT_EQ(g.stream_buffer_bytes, 65536u);
  EXPECT_EQ(g.upstream_max_idle_connections, 0u);
  EXPECT_EQ(g.upstream_max_connections, 9u);
  EXPECT_EQ(g.drain_timeout_ms, 0u);
  EXPECT_EQ(g.access_log, "/var/log/ringway/access.log");
  EXPECT_EQ(g.access_log_buffer_bytes, 8192u);
  EXPECT_EQ(g.log_level, LogLevel::Debug);

  ASSERT_EQ(config->apis.size(), 2u);
  const ApiConfig& orders = config->apis[0];
  EXPECT_EQ(orders.name, "orders");
  EXPECT_EQ(orders.line, 25);
  EXPECT_EQ(orders.listen_path, "/orders/");
  EXPECT_TRUE(orders.strip_listen_path);
  EXPECT_EQ(orders.target.protocol, UpstreamProtocol::Http2);
  EXPECT_EQ(orders.target.host, "127.0.0.1");
  EXPECT_EQ(orders.target.port, 50051);
  EXPECT_EQ(orders.target.authority, "127.0.0.1:50051");
  EXPECT_EQ(orders.target.base_path, "/v1");
  EXPECT_EQ(address_of(orders.target.address), "127.0.0.1:50051");
  EXPECT_TRUE(orders.proxy_enable_http2);
  EXPECT_EQ(orders.hosts, (std::vector<std::string>{"api.example.com", "www.example.com"}));
  EXPECT_TRUE(orders.preserve_host_header);
  EXPECT_TRUE(orders.use_keyless);

  const ApiConfig& web = config->apis[1];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.listen_path, "/");
  EXPECT_FALSE(web.strip_listen_path);
  EXPECT_EQ(web.target.protocol, UpstreamProtocol::Http1);
  EXPECT_EQ(web.target.host, "localhost");
  EXPECT_EQ(web.target.port, 80);
  EXPECT_EQ(web.target.authority, "localhost");
  EXPECT_EQ(web.target.base_path, "");
  EXPECT_TRUE(web.hosts.empty());
  EXPECT_FALSE(web.preserve_host_header);
}

TEST(ConfigLoader, AppliesDefaultsForMinimalFile) {
  auto config = load_ok(kDemoApi);
  ASSERT_NE(config, nullptr);
  const GatewayConfig& g = config->gateway;
  const GatewayConfig defaults;
  ASSERT_EQ(g.listen.size(), 1u);
  EXPECT_EQ(g.listen[0].text, "0.0.0.0:8080");
  EXPECT_EQ(address_of(g.listen[0]), "0.0.0.0:8080");
  EXPECT_EQ(g.enable_http2, defaults.enable_http2);
  EXPECT_EQ(g.shards, 0u);  // auto
  EXPECT_EQ(g.ring_entries, defaults.ring_entries);
  EXPECT_EQ(g.buffer_count, defaults.buffer_count);
  EXPECT_EQ(g.max_header_bytes, defaults.max_header_bytes);
  EXPECT_EQ(g.drain_timeout_ms, defaults.drain_timeout_ms);
  EXPECT_EQ(g.access_log, "off");
  EXPECT_EQ(g.log_level, LogLevel::Info);
  ASSERT_EQ(config->apis.size(), 1u);
  EXPECT_FALSE(config->apis[0].strip_listen_path);
  EXPECT_FALSE(config->apis[0].proxy_enable_http2);
}

TEST(ConfigLoader, ShippedExampleConfigIsValid) {
  ConfigLoadResult result = load_config(kExampleConfig);
  for (const ConfigError& error : result.errors) {
    ADD_FAILURE() << format_config_error(kExampleConfig, error);
  }
  ASSERT_NE(result.config, nullptr);
  ASSERT_EQ(result.config->apis.size(), 1u);
  const ApiConfig& demo = result.config->apis[0];
  EXPECT_EQ(demo.listen_path, "/demo/");
  EXPECT_EQ(demo.target.authority, "127.0.0.1:9090");
  EXPECT_TRUE(demo.use_keyless);
}

TEST(ConfigLoader, ShippedExampleConfigDocumentsEveryKey) {
  std::string text = read_file(kExampleConfig);
  const char* keys[] = {
      "listen", "enable_http2", "shards", "pin_shards", "ring_entries", "buffer_size",
      "buffer_count", "max_connections", "idle_timeout_ms", "request_header_timeout_ms",
      "upstream_connect_timeout_ms", "upstream_timeout_ms", "max_header_bytes",
      "max_concurrent_streams", "stream_buffer_bytes", "connection_window_bytes",
      "upstream_max_idle_connections",
      "upstream_max_connections", "upstream_reconnect_backoff_ms",
      "upstream_reconnect_backoff_max_ms",
      "drain_timeout_ms", "access_log", "access_log_buffer_bytes", "log_level",
      "block_cache_bytes",
      "listen_path", "strip_listen_path", "target_url", "proxy_enable_http2", "hosts",
      "preserve_host_header", "use_keyless"};
  for (const char* key : keys) {
    EXPECT_NE(text.find(std::string(key) + " = "), std::string::npos) << key;
  }
}

TEST(ConfigLoader, ReportsUnknownKeyWithLine) {
  EXPECT_EQ(errors_of("[gateway]\n"
                      "listen = 127.0.0.1:8080\n"
                      "listen_port = 8080\n" +
                      std::string(kDemoApi) + "retries = 3\n"),
            (std::vector<std::string>{"3: unknown key 'listen_port' in [gateway]",
                                      "8: api demo: unknown key 'retries'"}));
}

TEST(ConfigLoader, ReportsUnknownSectionWithLine) {
  EXPECT_EQ(errors_of(std::string(kDemoApi) +
                      "\n"
                      "[gatway]\n"
                      "listen = 127.0.0.1:8080\n"
                      "[api]\n"),
            (std::vector<std::string>{
                "6: unknown section [gatway] (expected [gateway] or [api.NAME])",
                "8: unknown section [api]; APIs are declared as [api.NAME]"}));
}

TEST(ConfigLoader, ParsesTheCoprocessSection) {
  auto config = load_ok(std::string(kDemoApi) +
                        "[coprocess]\n"
                        "coprocess_grpc_server = tcp://127.0.0.1:5555\n"
                        "grpc_recv_max_size = 0\n"
                        "grpc_send_max_size = 33554432\n"
                        "timeout_ms = 250\n"
                        "on_error = allow\n"
                        "max_in_flight = 8\n"
                        "event_handler = MyEvents\n");
  ASSERT_NE(config, nullptr);
  const CoprocessConfig& c = config->coprocess;
  EXPECT_TRUE(c.active());
  EXPECT_FALSE(c.unix_socket);
  EXPECT_EQ(c.address.text, "127.0.0.1:5555");
  EXPECT_EQ(c.authority, "127.0.0.1:5555");  // never empty
  EXPECT_EQ(c.grpc_recv_max_size, 4194304u);  // 0 = gRPC's default
  EXPECT_EQ(c.grpc_send_max_size, 33554432u);
  EXPECT_EQ(c.timeout_ms, 250u);
  EXPECT_TRUE(c.on_error_allow);
  EXPECT_EQ(c.max_in_flight, 8u);
  EXPECT_EQ(c.event_handler, "MyEvents");

  auto unix_config = load_ok(std::string(kDemoApi) +
                             "[coprocess]\n"
                             "coprocess_grpc_server = unix:///run/ringway/plugin.sock\n");
  ASSERT_NE(unix_config, nullptr);
  EXPECT_TRUE(unix_config->coprocess.unix_socket);
  EXPECT_EQ(unix_config->coprocess.authority, "localhost");
  EXPECT_FALSE(unix_config->coprocess.on_error_allow);  // deny by default
  auto named = load_ok(std::string(kDemoApi) +
                       "[coprocess]\n"
                       "coprocess_grpc_server = 127.0.0.1:5555\n"
                       "grpc_authority = plugins.internal\n");
  ASSERT_NE(named, nullptr);
  EXPECT_EQ(named->coprocess.authority, "plugins.internal");
}

TEST(ConfigLoader, ReportsCoprocessErrorsWithLine) {
  EXPECT_EQ(errors_of(std::string(kDemoApi) +
                      "[coprocess]\n"
                      "enable_coprocess = true\n"),
            (std::vector<std::string>{
                "5: [coprocess] coprocess_grpc_server is required (tcp://host:port or "
                "unix:///path)"}));
  EXPECT_EQ(errors_of(std::string(kDemoApi) +
                      "[coprocess]\n"
                      "coprocess_grpc_server = dns:///plugins:5555\n"
                      "timeout_ms = 0\n"
                      "on_error = maybe\n"
                      "grpc_send_max_size = 999999999999\n"
                      "grpc_authority = a b\n"
                      "colour = blue\n"),
            (std::vector<std::string>{
                "6: [coprocess] coprocess_grpc_server must be tcp://host:port or unix:///path, "
                "got 'dns:///plugins:5555'",
                "7: [coprocess] timeout_ms must be between 1 and 600000, got 0",
                "8: [coprocess] on_error must be deny or allow, got 'maybe'",
                "9: [coprocess] grpc_send_max_size must be between 0 and 268435456, got "
                "999999999999",
                "10: [coprocess] grpc_authority: 'a b' is not a host[:port]",
                "11: [coprocess] unknown key 'colour'"}));
  EXPECT_EQ(errors_of(std::string(kDemoApi) +
                      "[coprocess]\n"
                      "coprocess_grpc_server = unix://relative.sock\n"),
            (std::vector<std::string>{
                "6: [coprocess] coprocess_grpc_server: unix:// needs an absolute path "
                "(unix:///run/plugin.sock)"}));
}

TEST(ConfigLoader, ParsesTargetUrlForms) {
  auto config = load_ok(
      "[api.a]\nlisten_path = /a\ntarget_url = HTTP://127.0.0.1\nuse_keyless = true\n"
      "[api.b]\nlisten_path = /b\ntarget_url = h2c://[::1]\nuse_keyless = true\n"
      "[api.c]\nlisten_path = /c\ntarget_url = h2c://[::1]:50051/base/\nuse_keyless = true\n"
      "[api.d]\nlisten_path = /d\ntarget_url = http://127.0.0.1:80/\nuse_keyless = true\n");
  ASSERT_NE(config, nullptr);
  const auto& apis = config->apis;
  EXPECT_EQ(apis[0].target.protocol, UpstreamProtocol::Http1);
  EXPECT_EQ(apis[0].target.port, 80);
  EXPECT_EQ(apis[0].target.authority, "127.0.0.1");
  EXPECT_EQ(apis[0].target.address.text, "127.0.0.1:80");
  EXPECT_EQ(apis[1].target.protocol, UpstreamProtocol::Http2);
  EXPECT_EQ(apis[1].target.host, "::1");
  EXPECT_EQ(apis[1].target.port, 80);
  EXPECT_EQ(apis[1].target.authority, "[::1]");
  EXPECT_EQ(address_of(apis[1].target.address), "[::1]:80");
  EXPECT_EQ(apis[2].target.authority, "[::1]:50051");
  EXPECT_EQ(apis[2].target.base_path, "/base");
  EXPECT_EQ(apis[2].target.address.text, "[::1]:50051");
  EXPECT_EQ(apis[3].target.authority, "127.0.0.1");
  EXPECT_EQ(apis[3].target.base_path, "");
}

TEST(ConfigLoader, ParsesPluginHooksPerApi) {
  auto config = load_ok("[store]\n"
                        "path = ringway.db\n"
                        "[coprocess]\n"
                        "coprocess_grpc_server = tcp://127.0.0.1:5555\n"
                        "[api.a]\n"
                        "listen_path = /a\n"
                        "target_url = http://127.0.0.1:9000\n"
                        "enable_coprocess_auth = 1\n"
                        "auth_check = MyAuthCheck\n"
                        "auth_header = X-Api-Key\n"
                        "pre = MyPreHook, Second.Hook\n"
                        "post_key_auth = MyPostKeyAuth\n"
                        "post = MyPost\n"
                        "response = MyResponse\n"
                        "config_data = { \"a\" : [1, 2], \"b\": \"x\" }\n"
                        "org_id = org1\n"
                        "[api.b]\n"
                        "listen_path = /b\n"
                        "target_url = http://127.0.0.1:9000\n"
                        "use_keyless = true\n"
                        "config_data = {}\n");
  ASSERT_NE(config, nullptr);
  const ApiConfig& a = config->apis[0];
  EXPECT_TRUE(a.enable_coprocess_auth);
  EXPECT_EQ(a.auth_check, "MyAuthCheck");
  EXPECT_EQ(a.auth_header, "x-api-key");
  EXPECT_EQ(a.pre_hooks, (std::vector<std::string>{"MyPreHook", "Second.Hook"}));
  EXPECT_EQ(a.post_key_auth_hooks, (std::vector<std::string>{"MyPostKeyAuth"}));
  EXPECT_EQ(a.post_hooks, (std::vector<std::string>{"MyPost"}));
  EXPECT_EQ(a.response_hooks, (std::vector<std::string>{"MyResponse"}));
  EXPECT_EQ(a.config_data, "{\"a\":[1,2],\"b\":\"x\"}");  // compact JSON
  EXPECT_EQ(a.org_id, "org1");
  EXPECT_TRUE(a.has_plugin_hooks());
  EXPECT_EQ(config->apis[1].config_data, "");  // {} is no config_data
  EXPECT_FALSE(config->apis[1].has_plugin_hooks());
  EXPECT_TRUE(config_needs_store(*config));  // custom-auth sessions are kept there
}

TEST(ConfigLoader, ReportsPluginHookErrorsWithLine) {
  const std::string head =
      "[store]\npath = ringway.db\n[coprocess]\ncoprocess_grpc_server = 127.0.0.1:5555\n";
  EXPECT_EQ(errors_of(head +
                      "[api.a]\n"                                  // 5
                      "listen_path = /a\n"
                      "target_url = http://127.0.0.1:9000\n"
                      "enable_coprocess_auth = true\n"             // 8
                      "pre = Good, bad name\n"                     // 9
                      "config_data = [1, 2]\n"                     // 10
                      "post = \n"                                   // 11
                      "response = x,,y\n"),                        // 12
            (std::vector<std::string>{
                "8: api a: enable_coprocess_auth needs auth_check (the hook that authenticates)",
                "9: api a: pre: 'bad name' is not a hook name (letters, digits, _ . : -)",
                "10: api a: config_data must be a JSON object ({...})",
                "12: api a: response: '' is not a hook name (letters, digits, _ . : -)"}));
  EXPECT_EQ(errors_of(head +
                      "[api.a]\n"
                      "listen_path = /a\n"
                      "target_url = http://127.0.0.1:9000\n"
                      "use_keyless = true\n"                        // 8
                      "auth_check = A\n"                            // 9
                      "post_key_auth = P\n"                         // 10
                      "config_data = {oops\n"),                     // 11
            (std::vector<std::string>{
                "9: api a: auth_check needs enable_coprocess_auth = true",
                "10: api a: post_key_auth hooks run after authentication; this API is keyless "
                "(use pre or post)",
                "11: api a: config_data is not valid JSON"}));
  // Hooks without a plugin server, and plugin auth with plugins switched off (it would
  // leave the API open).
  EXPECT_EQ(errors_of("[api.a]\nlisten_path = /a\ntarget_url = http://127.0.0.1:9000\n"
                      "use_keyless = true\npre = P\n"),
            (std::vector<std::string>{
                "1: api a: plugin hooks need a [coprocess] section with coprocess_grpc_server"}));
  EXPECT_EQ(errors_of("[store]\npath = ringway.db\n[coprocess]\nenable_coprocess = false\n"
                      "[api.a]\nlisten_path = /a\ntarget_url = http://127.0.0.1:9000\n"
                      "enable_coprocess_auth = true\nauth_check = A\n"),
            (std::vector<std::string>{
                "5: api a: enable_coprocess_auth needs [coprocess] enable_coprocess = true (the "
                "API would be left open)"}));
}

TEST(ConfigLoader, ParsesKeyAuthModesAndTheStore) {
  auto config = load_ok("[gateway]\n"
                        "merge_slashes = false\n"
                        "[store]\n"
                        "path = ringway.db\n"
                        "cache_entries = 1000\n"
                        "cache_ttl_ms = 500\n"
                        "max_pending_lookups = 8\n"
                        "lookup_timeout_ms = 250\n"
                        "bcrypt_workers = 3\n"
                        "bcrypt_queue = 5\n"
                        "bcrypt_cost = 4\n"
                        "rate_limit_keys = 100\n"
                        "quota_flush_ms = 50\n"
                        "[api.both]\n"
                        "listen_path = /both\n"
                        "target_url = http://127.0.0.1:9000\n"
                        "use_basic_auth = true\n"
                        "use_standard_auth = true\n"
                        "auth_header = X-Api-Key\n"
                        "strip_auth_data = false\n"
                        "allow_encoded_slashes = true\n"
                        "[api.tok]\n"
                        "listen_path = /tok\n"
                        "target_url = http://127.0.0.1:9000\n"
                        "use_standard_auth = true\n");
  ASSERT_NE(config, nullptr);
  EXPECT_FALSE(config->gateway.merge_slashes);
  const StoreConfig& s = config->store;
  EXPECT_TRUE(s.present);
  EXPECT_EQ(s.backend, "sqlite");
  EXPECT_EQ(s.path, "./ringway.db");  // relative to the file's directory
  EXPECT_EQ(s.cache_entries, 1000u);
  EXPECT_EQ(s.cache_ttl_ms, 500u);
  EXPECT_EQ(s.max_pending_lookups, 8u);
  EXPECT_EQ(s.lookup_timeout_ms, 250u);
  EXPECT_EQ(s.bcrypt_workers, 3u);
  EXPECT_EQ(s.bcrypt_queue, 5u);
  EXPECT_EQ(s.bcrypt_cost, 4u);
  EXPECT_EQ(s.rate_limit_keys, 100u);
  EXPECT_EQ(s.quota_flush_ms, 50u);
  const ApiConfig& both = config->apis[0];
  EXPECT_TRUE(both.use_basic_auth);
  EXPECT_TRUE(both.use_standard_auth);
  EXPECT_EQ(both.auth_header, "x-api-key");
  EXPECT_FALSE(both.strip_auth_data);
  EXPECT_TRUE(both.allow_encoded_slashes);
  const ApiConfig& tok = config->apis[1];
  EXPECT_EQ(tok.auth_header, "authorization");
  EXPECT_TRUE(tok.strip_auth_data);
  EXPECT_FALSE(tok.allow_encoded_slashes);
  EXPECT_TRUE(config_needs_store(*config));
}

TEST(ConfigLoader, StoreDefaultsAndWhenItRuns) {
  auto keyless = load_ok(kDemoApi);
  ASSERT_NE(keyless, nullptr);
  EXPECT_FALSE(config_needs_store(*keyless));
  EXPECT_TRUE(keyless->gateway.merge_slashes);
  const StoreConfig& s = keyless->store;
  EXPECT_FALSE(s.present);
  EXPECT_EQ(s.path, "/var/lib/ringway/keys.db");
  EXPECT_EQ(s.cache_entries, 65536u);
  EXPECT_EQ(s.cache_ttl_ms, 10000u);
  EXPECT_EQ(s.bcrypt_workers, 2u);
  EXPECT_EQ(s.bcrypt_queue, 64u);
  EXPECT_EQ(s.bcrypt_cost, 10u);
  auto with_section = load_ok(std::string(kDemoApi) + "[store]\npath = /tmp/k.db\n");
  ASSERT_NE(with_section, nullptr);
  EXPECT_TRUE(config_needs_store(*with_section));
  EXPECT_EQ(with_section->store.path, "/tmp/k.db");
}

TEST(ConfigLoader, ReportsStoreErrorsWithLine) {
  EXPECT_EQ(errors_of(std::string(kDemoApi) +
                      "[store]\n"
                      "backend = redis\n"
                      "path = /nonexistent-ringway-dir/keys.db\n"
                      "cache_entries = 1\n"
                      "bcrypt_cost = 40\n"
                      "bcrypt_queue = 0\n"
                      "colour = blue\n"),
            (std::vector<std::string>{
                "5: [store] path /nonexistent-ringway-dir/keys.db: directory "
                "/nonexistent-ringway-dir does not exist",
                "6: [store] backend must be sqlite (the only backend of this build), got 'redis'",
                "8: [store] cache_entries must be between 16 and 10000000, got 1",
                "9: [store] bcrypt_cost must be between 4 and 16, got 40",
                "10: [store] bcrypt_queue must be between 1 and 65536, got 0",
                "11: [store] unknown key 'colour'"}));
}

TEST(ConfigLoader, ReportsAnEmptyStorePath) {
  std::vector<std::string> errors = errors_of(std::string(kDemoApi) + "[store]\npath =\n");
  EXPECT_NE(std::find(errors.begin(), errors.end(), "6: [store] path must not be empty"),
            errors.end());
}

TEST(ConfigLoader, ReportsAStoreDirectoryThatDoesNotExist) {
  // The directory is checked when the store will run (here: an API with token auth).
  EXPECT_EQ(errors_of("[api.t]\nlisten_path = /t\ntarget_url = http://127.0.0.1:9\n"
                      "use_standard_auth = true\n[store]\npath = /tmp/no-such-dir-xyz/k.db\n"),
            (std::vector<std::string>{"5: [store] path /tmp/no-such-dir-xyz/k.db: directory "
                                      "/tmp/no-such-dir-xyz does not exist"}));
}

TEST(ConfigLoader, ReportsContradictoryAuthModes) {
  EXPECT_EQ(errors_of("[api.a]\n"
                      "listen_path = /a\n"
                      "target_url = http://127.0.0.1:9000\n"
                      "use_keyless = true\n"
                      "use_standard_auth = true\n"
                      "[api.b]\n"
                      "listen_path = /b\n"
                      "target_url = http://127.0.0.1:9000\n"
                      "use_basic_auth = true\n"
                      "use_standard_auth = true\n"
                      "[api.c]\n"
                      "listen_path = /c\n"
                      "target_url = http://127.0.0.1:9000\n"
                      "use_basic_auth = true\n"
                      "auth_header = x-key\n"
                      "[api.d]\n"
                      "listen_path = /d\n"
                      "target_url = http://127.0.0.1:9000\n"
                      "use_standard_auth = true\n"
                      "auth_header = x key\n"),
            (std::vector<std::string>{
                "4: api a: use_keyless = true contradicts the authentication mode(s) also set; "
                "choose one",
                "10: api b: use_basic_auth and use_standard_auth would both read Authorization; "
                "set auth_header to another header",
                "15: api c: auth_header needs use_standard_auth = true (or enable_coprocess_auth, whose "
                "cache it keys)",
                "20: api d: auth_header: 'x key' is not a header name (letters, digits, '-', "
                "'_')"}));
}

TEST(ConfigLoader, StoreKeysOnlyChangeOnRestart) {
  auto running = load_ok(std::string(kDemoApi) + "[store]\npath = /tmp/a.db\n");
  ASSERT_NE(running, nullptr);
  auto loaded = std::make_shared<Config>(*load_ok(
      std::string(kDemoApi) + "[store]\npath = /tmp/b.db\ncache_ttl_ms = 20\nbcrypt_workers = 4\n"));
  std::vector<std::string> changed = keep_restart_only_values(*running, *loaded);
  EXPECT_EQ(changed, (std::vector<std::string>{"[store] path", "[store] cache_ttl_ms",
                                               "[store] bcrypt_workers"}));
  EXPECT_EQ(loaded->store.path, "/tmp/a.db");
  EXPECT_EQ(loaded->store.cache_ttl_ms, 10000u);
  EXPECT_EQ(loaded->store.bcrypt_workers, 2u);
}

TEST(ConfigLoader, BlockCacheBytesOnlyChangesOnRestart) {
  auto running = load_ok(std::string("[gateway]\nblock_cache_bytes = 65536\n") + kDemoApi);
  ASSERT_NE(running, nullptr);
  auto loaded = std::make_shared<Config>(
      *load_ok(std::string("[gateway]\nblock_cache_bytes = 0\n") + kDemoApi));
  EXPECT_EQ(keep_restart_only_values(*running, *loaded),
            std::vector<std::string>{"[gateway] block_cache_bytes"});
  EXPECT_EQ(loaded->gateway.block_cache_bytes, 65536u);
}

TEST(ConfigLoader, AcceptsUnsupportedAuthKeysWhenOff) {
  auto config = load_ok(std::string(kDemoApi) +
                        "use_basic_auth = false\n"
                        "use_standard_auth = no\n"
                        "use_mutual_tls_auth = off\n"
                        "enable_coprocess_auth = 0\n"
                        "auth_header =\n"
                        "pre =\n");
  EXPECT_NE(config, nullptr);
}

TEST(ConfigLoader, ReportsMissingAuthModeOnSectionLine) {
  const std::string message =
      "api open: no authentication mode set; set use_keyless = true, or one or more of "
      "use_basic_auth, use_standard_auth, use_mutual_tls_auth and enable_coprocess_auth";
  EXPECT_EQ(errors_of("[gateway]\n"
                      "[api.open]\n"
                      "listen_path = /open\n"
                      "target_url = http://127.0.0.1:9000\n"),
            (std::vector<std::string>{"2: " + message}));
  EXPECT_EQ(errors_of("[api.open]\n"
                      "listen_path = /open\n"
                      "target_url = http://127.0.0.1:9000\n"
                      "use_keyless = false\n"),
            (std::vector<std::string>{"1: " + message}));
}

TEST(ConfigLoader, ReportsDuplicateKeyWithLine) {
  EXPECT_EQ(errors_of("[gateway]\n"
                      "idle_timeout_ms = 1000\n"
                      "idle_timeout_ms = 2000\n" +
                      std::string(kDemoApi) + "listen_path = /other\n"),
            (std::vector<std::string>{
                "3: duplicate key 'idle_timeout_ms' (first set at line 2)",
                "8: api demo: duplicate key 'listen_path' (first set at line 5)"}));
}

TEST(ConfigLoader, ReportsDuplicateSectionWithLine) {
  EXPECT_EQ(errors_of("[gateway]\n" + std::string(kDemoApi) + "[gateway]\n" + kDemoApi),
            (std::vector<std::string>{"6: duplicate section [gateway] (first at line 1)",
                                      "7: duplicate section [api.demo] (first at line 2)"}));
}

TEST(ConfigLoader, ReportsBadListenAddressWithLine) {
  EXPECT_EQ(
      errors_of("[gateway]\n"
                "listen = 127.0.0.1\n"
                "[api.x]\nlisten_path = /x\ntarget_url = http://127.0.0.1:1\nuse_keyless = 1\n"
                "[gateway]\n"),
      (std::vector<std::string>{"2: listen: '127.0.0.1' has no port (expected host:port)",
                                "7: duplicate section [gateway] (first at line 1)"}));
  EXPECT_EQ(errors_of("[gateway]\n"
                      "listen = ::1:8080, [::1, :8080, 127.0.0.1:70000, 127.0.0.1:80,, "
                      "127.0.0.1:80, host name:80\n" +
                      std::string(kDemoApi)),
            (std::vector<std::string>{
                "2: listen: '::1:8080': write IPv6 addresses in brackets, e.g. [::1]:8080",
                "2: listen: '[::1' is missing the ']' that closes the IPv6 address",
                "2: listen: ':8080' has no host",
                "2: listen: '127.0.0.1:70000': port must be between 1 and 65535",
                "2: listen: empty address in '::1:8080, [::1, :8080, 127.0.0.1:70000, "
                "127.0.0.1:80,, 127.0.0.1:80, host name:80'",
                "2: listen: 127.0.0.1:80 is listed twice",
                "2: listen: 'host name' is not a valid host name or address"}));
}

TEST(ConfigLoader, ResolvesNamedListenAddress) {
  auto config = load_ok("[gateway]\nlisten = localhost:8090\n" + std::string(kDemoApi));
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->gateway.listen.size(), 1u);
  EXPECT_EQ(config->gateway.listen[0].text, "localhost:8090");
  std::string resolved = address_of(config->gateway.listen[0]);
  EXPECT_TRUE(resolved == "127.0.0.1:8090" || resolved == "[::1]:8090") << resolved;
}

TEST(ConfigLoader, ReportsUnresolvableTargetHost) {
  std::vector<std::string> errors = errors_of(
      "[api.gone]\n"
      "listen_path = /gone\n"
      "target_url = http://no-such-host.invalid:9000\n"
      "use_keyless = true\n");
  ASSERT_EQ(errors.size(), 1u);
  // The resolver's own wording follows; it differs between libc versions and setups.
  EXPECT_EQ(errors[0].rfind("3: api gone: target_url: cannot resolve 'no-such-host.invalid': ", 0),
            0u)
      << errors[0];
}

TEST(ConfigLoader, ReportsDuplicateListenPathAndHost) {
  EXPECT_EQ(errors_of("[api.a]\nlisten_path = /x\ntarget_url = http://127.0.0.1:1\nuse_keyless = 1\n"
                      "[api.b]\nlisten_path = /x\ntarget_url = http://127.0.0.1:2\nuse_keyless = 1\n"
                      "[api.c]\nlisten_path = /x\ntarget_url = http://127.0.0.1:3\nuse_keyless = 1\n"
                      "hosts = a.com, b.com\n"
                      "[api.d]\nlisten_path = /x\ntarget_url = http://127.0.0.1:4\nuse_keyless = 1\n"
                      "hosts = B.com\n"),
            (std::vector<std::string>{
                "5: api b: listen_path /x for any host is already routed to api a (line 1)",
                "14: api d: listen_path /x for host b.com is already routed to api c (line 9)"}));
}

TEST(ConfigLoader, AllowsSameListenPathOnDifferentHosts) {
  auto config = load_ok(
      "[api.a]\nlisten_path = /x\ntarget_url = http://127.0.0.1:1\nuse_keyless = 1\n"
      "[api.b]\nlisten_path = /x\ntarget_url = http://127.0.0.1:2\nuse_keyless = 1\n"
      "hosts = a.com\n"
      "[api.c]\nlisten_path = /x\ntarget_url = http://127.0.0.1:3\nuse_keyless = 1\n"
      "hosts = c.com\n");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->apis.size(), 3u);
}

TEST(ConfigLoader, ReportsBadHostsEntryWithLine) {
  EXPECT_EQ(errors_of(std::string(kDemoApi) + "hosts = a.com, , b.com:8080, [::1, bad/host, [::1]\n"),
            (std::vector<std::string>{
                "5: api demo: empty entry in hosts",
                "5: api demo: hosts entry 'b.com:8080' must not carry a port (hosts match any "
                "port; write IPv6 addresses in brackets)",
                "5: api demo: hosts entry '[::1' is not a bracketed IPv6 address",
                "5: api demo: hosts entry 'bad/host' is not a valid host name"}));
}

TEST(ConfigLoader, ReportsMissingApiSection) {
  EXPECT_EQ(errors_of("[gateway]\nlisten = 127.0.0.1:8080\n"),
            (std::vector<std::string>{"0: no [api.NAME] section: there is nothing to route"}));
  EXPECT_EQ(errors_of(""),
            (std::vector<std::string>{"0: no [api.NAME] section: there is nothing to route"}));
}

TEST(ConfigLoader, ReportsBadApiName) {
  EXPECT_EQ(errors_of("[api.my api]\nlisten_path = /x\ntarget_url = http://127.0.0.1:1\n"
                      "use_keyless = 1\n"),
            (std::vector<std::string>{
                "1: [api.my api]: API names use letters, digits, '-', '_' and '.' (1 to 128)"}));
}

TEST(ConfigLoader, ReportsSyntaxErrorsWithLine) {
  EXPECT_EQ(errors_of("orphan = 1\n"
                      "[gateway\n"
                      "[gateway] extra\n"
                      "just some words\n"
                      "= value\n" +
                      std::string(kDemoApi)),
            (std::vector<std::string>{
                "1: key 'orphan' appears before any [section]",
                "2: section header is missing its closing ']'",
                "3: unexpected text after section header: 'extra'",
                "4: expected 'key = value', a [section] header or a comment",
                "5: missing key name before '='"}));
}

TEST(ConfigLoader, CollectsEveryErrorInOnePassSortedByLine) {
  std::vector<std::string> errors = errors_of(
      "[gateway]\n"                                      // 1
      "ring_entries = 1\n"                               // 2
      "log_level = loud\n"                               // 3
      "[api.a]\n"                                        // 4
      "listen_path = /a\n"                               // 5
      "target_url = https://127.0.0.1\n"                 // 6
      "use_keyless = true\n"                             // 7
      "[api.b]\n"                                        // 8
      "target_url = http://127.0.0.1:1\n"                // 9
      "[tls]\n"                                          // 10
      "[gateway]\n"                                      // 11
      "access_log = relative.log\n");                    // 12 (ignored: duplicate section)
  EXPECT_EQ(errors,
            (std::vector<std::string>{
                "2: ring_entries must be between 64 and 32768, got 1",
                "3: log_level must be debug, info, warn or error, got 'loud'",
                "8: api b: listen_path is required",
                "8: api b: no authentication mode set; set use_keyless = true, or one or more of "
                "use_basic_auth, use_standard_auth, use_mutual_tls_auth and enable_coprocess_auth",
                "10: [tls] is set but [gateway] tls_listen is empty: nothing would use it",
                "10: [tls] cert_file is required",
                "10: [tls] key_file is required",
                "11: duplicate section [gateway] (first at line 1)"}));
}

TEST(ConfigLoader, ParsesAccessLogAndLogLevel) {
  auto config = load_ok("[gateway]\naccess_log = STDOUT\nlog_level = Warn\n" + std::string(kDemoApi));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->gateway.access_log, "stdout");
  EXPECT_EQ(config->gateway.log_level, LogLevel::Warn);
  EXPECT_EQ(errors_of("[gateway]\naccess_log = logs/access.log\n" + std::string(kDemoApi)),
            (std::vector<std::string>{
                "2: access_log must be off, stdout or an absolute file path, got "
                "'logs/access.log'"}));
}

TEST(ConfigLoader, ParsesHardeningLimits) {
  auto defaults = load_ok(std::string("[gateway]\nlisten = 127.0.0.1:8080\n") + kDemoApi);
  ASSERT_TRUE(defaults);
  EXPECT_EQ(defaults->gateway.send_queue_bytes, 1048576u);
  EXPECT_EQ(defaults->gateway.max_memory_bytes, 1073741824u);
  EXPECT_EQ(defaults->gateway.max_request_body_bytes, 0u);
  EXPECT_EQ(defaults->gateway.block_cache_bytes, 16777216u);
  EXPECT_TRUE(defaults->gateway.trusted_proxies.empty());

  auto config = load_ok(std::string(
                            "[gateway]\nlisten = 127.0.0.1:8080\n"
                            "send_queue_bytes = 65536\nsend_timeout_ms = 500\n"
                            "max_memory_bytes = 4294967295\nhttp2_max_glitches = 10\n"
                            "http2_glitch_refill_per_s = 0\nsettings_ack_timeout_ms = 200\n"
                            "upstream_read_timeout_ms = 300\nclient_body_timeout_ms = 400\n"
                            "max_request_body_bytes = 1000\nmax_chunk_extension_bytes = 0\n"
                            "trusted_proxies = 10.0.0.0/8, 127.0.0.1, fd00::/8, ::1\n"
                            "block_cache_bytes = 0\n") +
                        kDemoApi);
  ASSERT_TRUE(config);
  const GatewayConfig& gw = config->gateway;
  EXPECT_EQ(gw.send_queue_bytes, 65536u);
  EXPECT_EQ(gw.send_timeout_ms, 500u);
  EXPECT_EQ(gw.max_memory_bytes, 4294967295u);
  EXPECT_EQ(gw.http2_max_glitches, 10u);
  EXPECT_EQ(gw.http2_glitch_refill_per_s, 0u);
  EXPECT_EQ(gw.settings_ack_timeout_ms, 200u);
  EXPECT_EQ(gw.upstream_read_timeout_ms, 300u);
  EXPECT_EQ(gw.client_body_timeout_ms, 400u);
  EXPECT_EQ(gw.max_request_body_bytes, 1000u);
  EXPECT_EQ(gw.max_chunk_extension_bytes, 0u);
  EXPECT_EQ(gw.block_cache_bytes, 0u);
  ASSERT_EQ(gw.trusted_proxies.size(), 4u);
  EXPECT_TRUE(gw.trusted_proxies[0].contains("10.200.3.4"));
  EXPECT_FALSE(gw.trusted_proxies[0].contains("11.0.0.1"));
  EXPECT_TRUE(gw.trusted_proxies[0].contains("::ffff:10.1.2.3"));  // v4-mapped
  EXPECT_TRUE(gw.trusted_proxies[1].contains("127.0.0.1"));
  EXPECT_FALSE(gw.trusted_proxies[1].contains("127.0.0.2"));
  EXPECT_TRUE(gw.trusted_proxies[2].contains("fd12::1"));
  EXPECT_FALSE(gw.trusted_proxies[2].contains("fe80::1"));
  EXPECT_TRUE(gw.trusted_proxies[3].contains("::1"));
  EXPECT_FALSE(gw.trusted_proxies[3].contains("127.0.0.1"));
  EXPECT_FALSE(gw.trusted_proxies[3].contains("not an address"));
}

TEST(ConfigLoader, ReportsBadHardeningLimitsWithLine) {
  EXPECT_EQ(errors_of(std::string("[gateway]\nsend_queue_bytes = 100\n") + kDemoApi),
            std::vector<std::string>{
                "2: send_queue_bytes must be between 16384 and 268435456, got 100"});
  EXPECT_EQ(errors_of(std::string("[gateway]\nhttp2_max_glitches = 0\n") + kDemoApi),
            std::vector<std::string>{
                "2: http2_max_glitches must be between 1 and 1000000, got 0"});
  EXPECT_EQ(errors_of(std::string("[gateway]\nblock_cache_bytes = 2147483648\n") + kDemoApi),
            std::vector<std::string>{
                "2: block_cache_bytes must be between 0 and 1073741824, got 2147483648"});
  EXPECT_EQ(errors_of(std::string("[gateway]\nmax_memory_bytes = 4294967296\n") + kDemoApi),
            std::vector<std::string>{
                "2: max_memory_bytes must be between 1048576 and 4294967295, got "
                "4294967296"});
  EXPECT_EQ(errors_of(std::string("[gateway]\ntrusted_proxies = 10.0.0.1/8, nope, "
                                  "10.0.0.0/33, ::1/129\n") +
                      kDemoApi),
            (std::vector<std::string>{
                "2: trusted_proxies: '10.0.0.1/8' has bits set after the prefix length",
                "2: trusted_proxies: 'nope' is not an IP address or address/prefix-length",
                "2: trusted_proxies: '10.0.0.0/33': the prefix length must be 0..32",
                "2: trusted_proxies: '::1/129': the prefix length must be 0..128"}));
}

TEST(ConfigLoader, TlsListenNeedsTlsSection) {
  EXPECT_EQ(errors_of("[gateway]\ntls_listen = 0.0.0.0:8443\n" + std::string(kDemoApi)),
            (std::vector<std::string>{
                "2: tls_listen needs a [tls] section with cert_file and key_file"}));
}

// A self-signed certificate, a key that does not match it and a CA file, made once
// with the openssl CLI in a temporary directory.
class TlsConfigTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/ringway-config-tls-XXXXXX";
    dir_ = mkdtemp(tmpl);
    std::string cmd =
        "cd " + dir_ +
        " && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
        "-keyout key.pem -out cert.pem -days 2 -subj /CN=gw.test 2>/dev/null"
        " && openssl ecparam -name prime256v1 -genkey -noout -out other.pem 2>/dev/null";
    ASSERT_EQ(std::system(cmd.c_str()), 0);
  }
  static void TearDownTestSuite() { std::system(("rm -rf " + dir_).c_str()); }

  static std::string tls_section(const std::string& extra = "") {
    return "[tls]\ncert_file = " + dir_ + "/cert.pem\nkey_file = " + dir_ + "/key.pem\n" + extra;
  }

  static std::string dir_;
};
std::string TlsConfigTest::dir_;

TEST_F(TlsConfigTest, ParsesTlsSectionSniAndListeners) {
  auto config = load_ok("[gateway]\nlisten = 127.0.0.1:8080\ntls_listen = 127.0.0.1:8443, [::1]:8443\n" +
                        tls_section("client_ca_file = " + dir_ + "/cert.pem\n"
                                    "min_version = 1.3\n"
                                    "session_tickets = false\n"
                                    "session_ticket_rotation_s = 600\n"
                                    "handshake_timeout_ms = 2500\n"
                                    "record_warmup_bytes = 0\n"
                                    "record_idle_ms = 250\n") +
                        "[tls.other]\nserver_names = Sni.Test, *.wild.test\ncert_file = " + dir_ +
                        "/cert.pem\nkey_file = " + dir_ + "/key.pem\n" + std::string(kDemoApi));
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->gateway.tls_listen.size(), 2u);
  EXPECT_EQ(config->gateway.listen.size(), 1u);
  const TlsConfig& tls = config->tls;
  EXPECT_TRUE(tls.present);
  EXPECT_EQ(tls.cert_file, dir_ + "/cert.pem");
  EXPECT_EQ(tls.client_ca_file, dir_ + "/cert.pem");
  EXPECT_TRUE(tls.min_version_13);
  EXPECT_FALSE(tls.session_tickets);
  EXPECT_EQ(tls.session_ticket_rotation_s, 600u);
  EXPECT_EQ(tls.handshake_timeout_ms, 2500u);
  EXPECT_EQ(tls.record_warmup_bytes, 0u);
  EXPECT_EQ(tls.record_idle_ms, 250u);
  ASSERT_EQ(tls.sni.size(), 1u);
  EXPECT_EQ(tls.sni[0].server_names, (std::vector<std::string>{"sni.test", "*.wild.test"}));
}

TEST_F(TlsConfigTest, TlsListenAloneNeedsNoCleartextListener) {
  auto config = load_ok("[gateway]\ntls_listen = 127.0.0.1:8443\n" + tls_section() +
                        std::string(kDemoApi));
  ASSERT_NE(config, nullptr);
  EXPECT_TRUE(config->gateway.listen.empty());
}

TEST_F(TlsConfigTest, RelativePathsAreRelativeToTheConfigFile) {
  ConfigLoadResult r = load_config_text(
      "[gateway]\ntls_listen = 127.0.0.1:8443\n[tls]\ncert_file = cert.pem\nkey_file = key.pem\n" +
          std::string(kDemoApi),
      dir_ + "/ringway.ini");
  ASSERT_TRUE(r.errors.empty()) << r.errors[0].message;
  EXPECT_EQ(r.config->tls.key_file, dir_ + "/key.pem");
}

TEST_F(TlsConfigTest, ReportsBadCertificateFilesOnTheirLines) {
  std::vector<std::string> errors = errors_of(
      "[gateway]\ntls_listen = 127.0.0.1:8443\n"  // 1-2
      "[tls]\n"                                    // 3
      "cert_file = " + dir_ + "/missing.pem\n"     // 4
      "key_file = " + dir_ + "/key.pem\n" +         // 5
      std::string(kDemoApi));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("4: [tls] cert_file " + dir_ + "/missing.pem: No such file", 0), 0u)
      << errors[0];

  errors = errors_of("[gateway]\ntls_listen = 127.0.0.1:8443\n[tls]\ncert_file = " + dir_ +
                     "/cert.pem\nkey_file = " + dir_ + "/other.pem\n" + std::string(kDemoApi));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("5: [tls] key_file " + dir_ + "/other.pem does not match cert_file", 0),
            0u)
      << errors[0];

  errors = errors_of("[gateway]\ntls_listen = 127.0.0.1:8443\n" + tls_section() +
                     "[tls.x]\nserver_names = a.test\ncert_file = " + dir_ +
                     "/cert.pem\nkey_file = " + dir_ + "/nope.pem\n" + std::string(kDemoApi));
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("9: [tls.x] key_file " + dir_ + "/nope.pem: No such file", 0), 0u)
      << errors[0];
}

TEST_F(TlsConfigTest, ReportsBadTlsValues) {
  EXPECT_EQ(errors_of("[gateway]\ntls_listen = 127.0.0.1:8443\n" +
                      tls_section("min_version = 1.1\nhandshake_timeout_ms = 1\nbogus = 1\n") +
                      "[tls.y]\nserver_names = bad name!\n" + std::string(kDemoApi)),
            (std::vector<std::string>{
                "6: [tls] min_version must be 1.2 or 1.3, got '1.1'",
                "7: [tls] handshake_timeout_ms must be between 10 and 600000, got 1",
                "8: [tls] unknown key 'bogus'",
                "9: [tls.y] server_names is required",
                "9: [tls.y] cert_file is required",
                "9: [tls.y] key_file is required",
                "10: [tls.y] server_names: 'bad name!' is not a host name or *.domain wildcard"}));
}

TEST_F(TlsConfigTest, MutualTlsNeedsClientCaAndValidFingerprints) {
  const std::string fp = "AB:cd:" + std::string(60, 'e');
  auto config = load_ok("[gateway]\ntls_listen = 127.0.0.1:8443\n" +
                        tls_section("client_ca_file = " + dir_ + "/cert.pem\n") +
                        "[api.m]\nlisten_path = /m\ntarget_url = http://127.0.0.1:9\n"
                        "use_mutual_tls_auth = true\nclient_certificates = " + fp + ", " + fp + "\n");
  ASSERT_NE(config, nullptr);
  EXPECT_TRUE(config->apis[0].use_mutual_tls_auth);
  EXPECT_EQ(config->apis[0].client_certificates,
            (std::vector<std::string>{"abcd" + std::string(60, 'e')}));

  EXPECT_EQ(errors_of("[api.m]\n"                             // 1
                      "listen_path = /m\n"                    // 2
                      "target_url = http://127.0.0.1:9\n"     // 3
                      "use_mutual_tls_auth = true\n"          // 4
                      "client_certificates = 12:34\n"         // 5
                      "[api.n]\n"                             // 6
                      "listen_path = /n\n"                    // 7
                      "target_url = http://127.0.0.1:9\n"     // 8
                      "use_keyless = true\n"                  // 9
                      "client_certificates = " + fp + "\n"),  // 10
            (std::vector<std::string>{
                "4: api m: use_mutual_tls_auth needs [tls] client_ca_file (and tls_listen)",
                "5: api m: client_certificates: '12:34' is not a SHA-256 fingerprint (64 hex "
                "digits, ':' allowed)",
                "10: api n: client_certificates needs use_mutual_tls_auth = true"}));
}

TEST_F(TlsConfigTest, ChecksUpstreamTlsFiles) {
  auto config = load_ok("[api.u]\nlisten_path = /u\ntarget_url = https://127.0.0.1:9443\n"
                        "use_keyless = true\nupstream_ca_file = " + dir_ + "/cert.pem\n"
                        "upstream_cert_file = " + dir_ + "/cert.pem\nupstream_key_file = " + dir_ +
                        "/key.pem\n");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->apis[0].upstream_key_file, dir_ + "/key.pem");

  std::vector<std::string> errors =
      errors_of("[api.u]\nlisten_path = /u\ntarget_url = https://127.0.0.1:9443\n"
                "use_keyless = true\nupstream_ca_file = " + dir_ + "/none.pem\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("5: api u: upstream_ca_file " + dir_ + "/none.pem: No such file", 0), 0u)
      << errors[0];

  errors = errors_of("[api.u]\nlisten_path = /u\ntarget_url = https://127.0.0.1:9443\n"
                     "use_keyless = true\nupstream_cert_file = " + dir_ + "/cert.pem\n"
                     "upstream_key_file = " + dir_ + "/other.pem\n");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0].rfind("6: api u: upstream_key_file " + dir_ + "/other.pem does not match", 0),
            0u)
      << errors[0];

  EXPECT_EQ(errors_of("[api.u]\nlisten_path = /u\ntarget_url = http://127.0.0.1:9443\n"
                      "use_keyless = true\ntls_insecure_skip_verify = true\n"),
            (std::vector<std::string>{"5: api u: tls_insecure_skip_verify and upstream_*_file "
                                      "apply to https:// targets only"}));
}

TEST(ConfigLoader, HandlesCommentsWhitespaceCrlfAndBom) {
  auto config = load_ok(
      "\xEF\xBB\xBF; comment\r\n"
      "# another comment\r\n"
      "  [gateway]   ; trailing comment\r\n"
      "\tlisten = 127.0.0.1:8085 ; inline comment\r\n"
      "[api.demo]\r\n"
      "  listen_path = /demo\r\n"  // indented: not a continuation of the previous key
      "  target_url = http://127.0.0.1:9090\r\n"
      "use_keyless=true\r\n");
  ASSERT_NE(config, nullptr);
  EXPECT_EQ(config->gateway.listen[0].text, "127.0.0.1:8085");
  EXPECT_EQ(config->apis[0].listen_path, "/demo");
  EXPECT_EQ(config->apis[0].target.port, 9090);
}

TEST(ConfigLoader, AcceptsLinesLongerThanTheIniParserBuffer) {
  std::string hosts;
  for (int i = 0; i < 40; ++i) hosts += (i ? ", " : "") + std::string("host") + std::to_string(i) + ".example.com";
  ASSERT_GT(hosts.size(), 400u);
  auto config = load_ok(std::string(kDemoApi) + "hosts = " + hosts + " ; forty hosts\n");
  ASSERT_NE(config, nullptr);
  ASSERT_EQ(config->apis[0].hosts.size(), 40u);
  EXPECT_EQ(config->apis[0].hosts.back(), "host39.example.com");
  // Line numbers stay right after a long line.
  EXPECT_EQ(errors_of(std::string(kDemoApi) + "hosts = " + hosts + "\nbogus = 1\n"),
            (std::vector<std::string>{"6: api demo: unknown key 'bogus'"}));
}

TEST(ConfigLoader, ShortAndLongLinesFollowTheSameCommentRules) {
  // Long lines bypass inih's 200-byte buffer; they must still read as inih reads them.
  for (const std::string& dir : {std::string("/var/log"), "/var/log/" + std::string(300, 'd')}) {
    SCOPED_TRACE(dir.size());
    auto config = load_ok("[gateway]\naccess_log = " + dir + "/a;b.log ; comment\n" + kDemoApi);
    ASSERT_NE(config, nullptr);
    EXPECT_EQ(config->gateway.access_log, dir + "/a;b.log");
    EXPECT_EQ(errors_of("[gateway]\naccess_log = " + dir + "\nbad ;key = 1\n" + kDemoApi),
              (std::vector<std::string>{
                  "3: expected 'key = value', a [section] header or a comment"}));
  }
}

TEST(ConfigLoader, FormatsErrorsAsFileLineMessage) {
  EXPECT_EQ(format_config_error("/etc/ringway.ini", {12, "unknown key 'x' in [gateway]"}),
            "/etc/ringway.ini:12: unknown key 'x' in [gateway]");
  EXPECT_EQ(format_config_error("/etc/ringway.ini", {0, "cannot open file: No such file"}),
            "/etc/ringway.ini: cannot open file: No such file");
}

TEST(ConfigLoader, ReportsUnreadableFile) {
  ConfigLoadResult result = load_config("/nonexistent/ringway.ini");
  EXPECT_EQ(result.config, nullptr);
  ASSERT_EQ(result.errors.size(), 1u);
  EXPECT_EQ(result.errors[0].line, 0);
  EXPECT_EQ(result.errors[0].message, "cannot open file: No such file or directory");
}

}  // namespace
}  // namespace ringway
