#include "admin/admin_handler.h"

#include <algorithm>
#include <ctime>

#include "base/hex.h"
#include "http/local_reply.h"
#include "store/session.h"

namespace ringway {
namespace {

constexpr char kJson[] = "application/json";
constexpr char kPrometheusText[] = "text/plain; version=0.0.4; charset=utf-8";

// The path without its query; the query's block=true flag.
std::string_view path_only(std::string_view target) { return target.substr(0, target.find('?')); }

bool query_flag(std::string_view target, std::string_view name) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) return false;
  std::string_view query = target.substr(q + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view item = query.substr(0, amp);
    size_t eq = item.find('=');
    if (item.substr(0, eq) == name) {
      std::string_view value = eq == std::string_view::npos ? "" : item.substr(eq + 1);
      return value == "true" || value == "1";
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return false;
}

// "%41b" -> "Ab"; false on an invalid escape.
bool percent_decode(std::string_view in, std::string* out) {
  out->clear();
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i] != '%') {
      out->push_back(in[i]);
      continue;
    }
    int hi = i + 1 < in.size() ? hex_digit_value(in[i + 1]) : -1;
    int lo = i + 2 < in.size() ? hex_digit_value(in[i + 2]) : -1;
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

// Compares without an early exit, so the time taken does not tell how much of the
// secret a guess got right. An empty secret matches nothing.
bool constant_time_equals(std::string_view given, std::string_view secret) {
  if (secret.empty()) return false;
  unsigned char diff = given.size() == secret.size() ? 0 : 1;
  size_t n = given.size() < secret.size() ? given.size() : secret.size();
  for (size_t i = 0; i < n; ++i) diff |= static_cast<unsigned char>(given[i] ^ secret[i]);
  return diff == 0;
}

std::string rfc3339_now() {
  time_t now = time(nullptr);
  tm utc;
  gmtime_r(&now, &utc);
  char buf[32];
  strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &utc);
  return buf;
}

}  // namespace

RequestHandler* AdminHandlerFactory::new_request(ServerStream* stream, const DownstreamInfo&) {
  return new AdminHandler(backend_, stream);
}

AdminHandler::AdminHandler(AdminBackend* backend, ServerStream* stream)
    : backend_(backend), down_(stream) {}

AdminHandler::~AdminHandler() = default;

void AdminHandler::on_request_head(RequestHead&& head, bool end_stream) {
  request_ = std::move(head);
  if (end_stream) on_request_end(nullptr);
}

void AdminHandler::on_request_data(Slice data) {
  if (!down_) return;
  // Read (for the key API) up to [admin] max_body_bytes; more is 413.
  if (body_.size() + data.size() > backend_->admin_config().max_body_bytes) {
    too_large_ = true;
    body_.clear();
  } else if (!too_large_) {
    body_.append(data.data(), data.size());
  }
  down_->consume_request_bytes(data.size());
}

void AdminHandler::on_request_end(const HeaderList*) {
  if (request_ended_) return;
  request_ended_ = true;
  if (!down_) return;
  if (too_large_) {
    reply_error(413, "request body too large");
    return;
  }
  dispatch();
}

void AdminHandler::on_request_error() {
  if (down_ && !replied_) {
    reply_error(400, "malformed request");
    return;
  }
  maybe_destroy();
}

void AdminHandler::on_downstream_reset() {
  down_ = nullptr;
  if (waiting_ == Waiting::kMetrics) backend_->cancel_metrics(this);
  if (waiting_ == Waiting::kReload) backend_->cancel_reload(this);
  if (waiting_ == Waiting::kKeyApi) backend_->cancel_key_api(this);
  waiting_ = Waiting::kNothing;
  maybe_destroy();
}

void AdminHandler::dispatch() {
  std::string_view path = path_only(request_.path);
  bool get = request_.method == "GET" || request_.method == "HEAD";
  if (path == "/hello") {
    if (!get) return reply_error(405, "method not allowed", "GET, HEAD");
    AdminStatus st = backend_->status();
    std::string now = rfc3339_now();
    std::string body = "{\"status\": \"pass\", \"version\": ";
    append_json_string(body, st.version);
    body += ", \"description\": \"Ringway API gateway\", \"details\": {";
    body += "\"shards\": {\"status\": \"pass\", \"componentType\": \"system\", \"time\": \"" +
            now + "\", \"observedValue\": " + std::to_string(st.shards) + "}, ";
    body += "\"config\": {\"status\": \"pass\", \"componentType\": \"system\", \"time\": \"" +
            now + "\", \"observedValue\": " + std::to_string(st.generation) + "}}}";
    return reply(200, kJson, std::move(body));
  }
  if (path == "/metrics") {
    if (!get) return reply_error(405, "method not allowed", "GET, HEAD");
    waiting_ = Waiting::kMetrics;
    backend_->collect_metrics(this);  // may answer at once
    return;
  }
  if (path == "/tyk" || path.rfind("/tyk/", 0) == 0) {
    const AdminConfig& admin = backend_->admin_config();
    const Header* key = find_header(request_.headers, "x-tyk-authorization");
    if (!key || !constant_time_equals(key->value, admin.secret)) {
      return reply_error(403, "Attempted administrative access with invalid or missing key!");
    }
    if (path == "/tyk/reload" || path == "/tyk/reload/" || path == "/tyk/reload/group") {
      if (!get) return reply_error(405, "method not allowed", "GET");
      bool block = query_flag(request_.path, "block");
      if (block) waiting_ = Waiting::kReload;
      if (!backend_->request_reload(block ? this : nullptr)) {
        waiting_ = Waiting::kNothing;
        return reply_error(503, "a reload is already queued; try again");
      }
      if (!block) return reply(200, kJson, "{\"status\": \"ok\", \"message\": \"\"}");
      return;  // on_reload_done answers
    }
    if (path == "/tyk/keys" || path.rfind("/tyk/keys/", 0) == 0) {
      return dispatch_keys(path.substr(9));
    }
    return reply_error(404, "Not found");
  }
  return reply_error(404, "Not found");
}

void AdminHandler::dispatch_keys(std::string_view rest) {
  const std::string& method = request_.method;
  auto call = std::make_unique<KeyApiRequest>();
  call->hashed = query_flag(request_.path, "hashed");
  call->suppress_reset = query_flag(request_.path, "suppress_reset");
  if (rest.empty() || rest == "/") {
    if (method == "GET") {
      call->op = KeyApiOp::kList;
    } else if (method == "POST") {
      call->op = KeyApiOp::kCreate;
    } else {
      return reply_error(405, "method not allowed", "GET, POST");
    }
  } else {
    std::string_view name = rest.substr(1);
    if (!name.empty() && name.back() == '/') name.remove_suffix(1);
    if (name == "create") {
      if (method != "POST") return reply_error(405, "method not allowed", "POST");
      call->op = KeyApiOp::kCreate;
    } else {
      // A key name is text (it is echoed in JSON replies): valid UTF-8 without
      // control characters or '/'.
      if (!percent_decode(name, &call->key) || call->key.empty() ||
          !is_valid_utf8(call->key) ||
          std::any_of(call->key.begin(), call->key.end(), [](char c) {
            return static_cast<unsigned char>(c) < 0x20 || c == 0x7f || c == '/';
          })) {
        return reply_error(400, "the key in the path is not valid");
      }
      if (method == "GET" || method == "HEAD") {
        call->op = KeyApiOp::kGet;
      } else if (method == "POST") {
        call->op = KeyApiOp::kAdd;
      } else if (method == "PUT") {
        call->op = KeyApiOp::kUpdate;
      } else if (method == "DELETE") {
        call->op = KeyApiOp::kDelete;
      } else {
        return reply_error(405, "method not allowed", "GET, POST, PUT, DELETE");
      }
    }
  }
  if (call->op == KeyApiOp::kCreate || call->op == KeyApiOp::kAdd ||
      call->op == KeyApiOp::kUpdate) {
    std::string why;
    if (!parse_session_json(body_, &call->session, &why)) {
      // Nothing is written: the body is checked before the store sees it.
      return reply_error(400, "Request malformed: " + why);
    }
  }
  waiting_ = Waiting::kKeyApi;
  const char* why = "";
  if (!backend_->key_api(std::move(call), this, &why)) {
    waiting_ = Waiting::kNothing;
    return reply_error(503, why);
  }
  // on_key_api_done answers.
}

void AdminHandler::on_key_api_done(int status, std::string body) {
  waiting_ = Waiting::kNothing;
  if (!down_) return maybe_destroy();
  reply(status, kJson, std::move(body));
}

void AdminHandler::on_metrics(std::string text) {
  waiting_ = Waiting::kNothing;
  if (!down_) return maybe_destroy();
  reply(200, kPrometheusText, std::move(text));
}

void AdminHandler::on_metrics_failed(const char* why) {
  waiting_ = Waiting::kNothing;
  if (!down_) return maybe_destroy();
  reply_error(503, why);
}

void AdminHandler::on_reload_done(bool ok, std::string_view message) {
  waiting_ = Waiting::kNothing;
  if (!down_) return maybe_destroy();
  if (ok) return reply(200, kJson, "{\"status\": \"ok\", \"message\": \"\"}");
  reply_error(500, message);
}

void AdminHandler::reply_error(int status, std::string_view message, const char* allow) {
  std::string body = "{\"status\": \"error\", \"message\": ";
  append_json_string(body, message);
  body += '}';
  reply(status, kJson, std::move(body), allow);
}

void AdminHandler::reply(int status, std::string_view content_type, std::string body,
                         const char* allow) {
  if (!down_ || replied_) return;
  replied_ = true;
  ResponseHead head;
  head.status = status;
  head.content_length = static_cast<int64_t>(body.size());
  head.headers.push_back({"content-type", std::string(content_type)});
  head.headers.push_back({"content-length", std::to_string(body.size())});
  head.headers.push_back({"cache-control", "no-store"});
  if (allow) head.headers.push_back({"allow", allow});
  ServerStream* down = down_;
  down_ = nullptr;
  // HEAD gets the head only; the codec drops the body for HEAD requests.
  down->send_local_reply(head, Slice::copy_of(body.data(), static_cast<uint32_t>(body.size())));
  maybe_destroy();
}

void AdminHandler::maybe_destroy() {
  if (down_ || waiting_ != Waiting::kNothing) return;
  delete this;
}

}  // namespace ringway
