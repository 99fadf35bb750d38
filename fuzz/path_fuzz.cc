// The path normaliser on arbitrary request targets, with and without merge_slashes.
// Invariants from path_normalize.h (a violation traps):
//  - kNotOriginForm iff the target does not start with '/'; kInvalidEncoding iff a
//    '%' in the path part is not followed by two hex digits; the target is untouched
//    on either;
//  - on success the result starts with '/', the query is kept byte for byte, the path
//    has no '\', no dot-segments, no "//" with merge_slashes, only upper-case escapes
//    of reserved bytes; |changed| and |encoded_slash| tell the truth; and normalising
//    the result again changes nothing (idempotence);
//  - remove_dot_segments() agrees with a plain RFC 3986 §5.2.4 written with strings.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "http/path_normalize.h"

using namespace ringway;

namespace {

void check(bool ok) {
  if (!ok) __builtin_trap();
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

bool valid_escapes(std::string_view path) {
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') continue;
    if (i + 2 >= path.size()) return false;
    if (hex_value(path[i + 1]) < 0 || hex_value(path[i + 2]) < 0) return false;
    i += 2;
  }
  return true;
}

// RFC 3986 §5.2.4, step by step on two strings.
std::string reference_remove_dot_segments(std::string in) {
  std::string out;
  auto pop_last = [&out] {
    size_t slash = out.rfind('/');
    out.erase(slash == std::string::npos ? 0 : slash);
  };
  while (!in.empty()) {
    if (in.rfind("../", 0) == 0) {
      in.erase(0, 3);
    } else if (in.rfind("./", 0) == 0) {
      in.erase(0, 2);
    } else if (in.rfind("/./", 0) == 0) {
      in.replace(0, 3, "/");
    } else if (in == "/.") {
      in = "/";
    } else if (in.rfind("/../", 0) == 0) {
      in.replace(0, 4, "/");
      pop_last();
    } else if (in == "/..") {
      in = "/";
      pop_last();
    } else if (in == "." || in == "..") {
      in.clear();
    } else {
      size_t end = in.find('/', in[0] == '/' ? 1 : 0);
      if (end == std::string::npos) end = in.size();
      out += in.substr(0, end);
      in.erase(0, end);
    }
  }
  return out;
}

bool has_dot_segment(std::string_view path) {
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '/') continue;
    size_t end = path.find('/', i + 1);
    std::string_view seg = path.substr(i + 1, end == std::string_view::npos ? end : end - i - 1);
    if (seg == "." || seg == "..") return true;
  }
  return false;
}

void check_normalize(const std::string& input, bool merge) {
  PathNormalizeOptions options{merge};
  std::string target = input;
  PathNormalizeResult r = normalize_request_path(target, options);
  size_t q = input.find('?');
  std::string_view in_path = std::string_view(input).substr(0, q);
  if (input.empty() || input[0] != '/') {
    check(r.status == PathStatus::kNotOriginForm && target == input);
    return;
  }
  if (!valid_escapes(in_path)) {
    check(r.status == PathStatus::kInvalidEncoding && target == input);
    return;
  }
  check(r.status == PathStatus::kOk);
  check(r.changed == (target != input));
  check(!target.empty() && target[0] == '/');

  size_t out_q = target.find('?');
  std::string_view path = std::string_view(target).substr(0, out_q);
  std::string_view query = out_q == std::string::npos ? std::string_view()
                                                      : std::string_view(target).substr(out_q);
  std::string_view in_query = q == std::string::npos ? std::string_view()
                                                     : std::string_view(input).substr(q);
  check(query == in_query);
  check(path.find('\\') == std::string_view::npos);
  check(!has_dot_segment(path));
  if (merge) check(path.find("//") == std::string_view::npos);
  bool slash = false;
  for (size_t i = 0; i < path.size(); ++i) {
    if (path[i] != '%') continue;
    check(i + 2 < path.size());
    char h = path[i + 1], l = path[i + 2];
    check(hex_value(h) >= 0 && hex_value(l) >= 0);
    check(!(h >= 'a' && h <= 'f') && !(l >= 'a' && l <= 'f'));
    unsigned char v = static_cast<unsigned char>(hex_value(h) * 16 + hex_value(l));
    check(!unreserved(v));
    if (v == '/' || v == '\\') slash = true;
    i += 2;
  }
  check(r.encoded_slash == slash);

  std::string again = target;
  PathNormalizeResult r2 = normalize_request_path(again, options);
  check(r2.status == PathStatus::kOk && !r2.changed && again == target);
  check(r2.encoded_slash == r.encoded_slash);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return -1;
  std::string input(reinterpret_cast<const char*>(data), size);
  check_normalize(input, true);
  check_normalize(input, false);
  // The dot-segment step alone, on any text (also relative references).
  check(remove_dot_segments(input) == reference_remove_dot_segments(input));
  return 0;
}
