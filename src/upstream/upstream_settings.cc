#include "upstream/upstream_settings.h"

#include <sys/stat.h>

namespace ringway {
namespace {

void add_file_identity(std::string& out, const std::string& path) {
  if (path.empty()) return;
  struct stat st {};
  out += path;
  if (stat(path.c_str(), &st) == 0) {
    out += ':' + std::to_string(st.st_dev) + ':' + std::to_string(st.st_ino) + ':' +
           std::to_string(st.st_size) + ':' + std::to_string(st.st_mtim.tv_sec) + '.' +
           std::to_string(st.st_mtim.tv_nsec);
  }
  out += '\n';
}

}  // namespace

UpstreamSettings upstream_settings_for(const ApiConfig& api, const Config& config) {
  const GatewayConfig& gw = config.gateway;
  UpstreamSettings s;
  s.api = api.name;
  s.target = api.target;
  s.ca_file = api.upstream_ca_file;
  s.cert_file = api.upstream_cert_file;
  s.key_file = api.upstream_key_file;
  s.insecure_skip_verify = api.tls_insecure_skip_verify;
  if (api.target.tls) {
    add_file_identity(s.tls_files_identity, s.ca_file);
    add_file_identity(s.tls_files_identity, s.cert_file);
    add_file_identity(s.tls_files_identity, s.key_file);
  }
  s.record_warmup_bytes = config.tls.record_warmup_bytes;
  s.record_idle_ms = config.tls.record_idle_ms;
  s.limits.connect_timeout_ms = gw.upstream_connect_timeout_ms;
  s.limits.idle_timeout_ms = gw.idle_timeout_ms;
  s.limits.max_header_bytes = gw.max_header_bytes;
  s.limits.stream_buffer_bytes = gw.stream_buffer_bytes;
  s.limits.connection_window_bytes = gw.connection_window_bytes;
  s.limits.send_queue_bytes = gw.send_queue_bytes;
  s.limits.send_timeout_ms = gw.send_timeout_ms;
  s.limits.http2_max_glitches = gw.http2_max_glitches;
  s.limits.http2_glitch_refill_per_s = gw.http2_glitch_refill_per_s;
  s.max_connections = gw.upstream_max_connections;
  s.max_idle_connections = gw.upstream_max_idle_connections;
  s.reconnect_backoff_ms = gw.upstream_reconnect_backoff_ms;
  s.reconnect_backoff_max_ms = gw.upstream_reconnect_backoff_max_ms;
  s.buffer_size = gw.buffer_size;
  return s;
}

std::string UpstreamSettings::key() const {
  std::string k;
  k.reserve(256);
  auto add = [&k](const std::string& v) {
    k += std::to_string(v.size());
    k += ':';
    k += v;
  };
  auto num = [&k](uint64_t v) {
    k += std::to_string(v);
    k += ',';
  };
  add(api);
  add(target.address.text);
  // The address resolved at load time: a name that resolves elsewhere after a
  // reload gets a new pool.
  add(std::string(reinterpret_cast<const char*>(&target.address.storage), target.address.len));
  add(target.host);
  add(target.authority);
  num(static_cast<uint64_t>(target.protocol));
  num(target.tls);
  num(target.port);
  add(ca_file);
  add(cert_file);
  add(key_file);
  num(insecure_skip_verify);
  add(tls_files_identity);
  num(record_warmup_bytes);
  num(record_idle_ms);
  num(limits.connect_timeout_ms);
  num(limits.idle_timeout_ms);
  num(limits.max_header_bytes);
  num(limits.stream_buffer_bytes);
  num(limits.connection_window_bytes);
  num(limits.send_queue_bytes);
  num(limits.send_timeout_ms);
  num(limits.http2_max_glitches);
  num(limits.http2_glitch_refill_per_s);
  num(max_connections);
  num(max_idle_connections);
  num(reconnect_backoff_ms);
  num(reconnect_backoff_max_ms);
  num(buffer_size);
  return k;
}

}  // namespace ringway
