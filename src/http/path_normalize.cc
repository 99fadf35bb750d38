// Path normalisation: one read-only scan decides whether the path needs any work and
// validates every escape (so an invalid target is never half rewritten). When it
// does, two in-place passes follow, each writing at or behind where it reads (every
// step keeps or shortens the path): decode/upper-case escapes, map '\' and merge
// slashes; then remove dot-segments. Neither allocates.

#include "http/path_normalize.h"

#include "base/hex.h"

#include <cstring>

namespace ringway {
namespace {

constexpr char upper_hex(char c) { return (c >= 'a' && c <= 'f') ? char(c - 'a' + 'A') : c; }

// RFC 3986 §2.3: ALPHA DIGIT "-" "." "_" "~".
constexpr bool is_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
         c == '-' || c == '.' || c == '_' || c == '~';
}

// p[i] is '/': is the segment after it exactly "." or ".."?
bool dot_segment_follows(const char* p, size_t i, size_t n) {
  if (i + 1 >= n || p[i + 1] != '.') return false;
  if (i + 2 == n || p[i + 2] == '/') return true;
  return p[i + 2] == '.' && (i + 3 == n || p[i + 3] == '/');
}

struct Scan {
  bool valid = true;
  bool needs_work = false;
  bool encoded_slash = false;
};

Scan scan_path(const char* p, size_t n, bool merge_slashes) {
  Scan s;
  for (size_t i = 0; i < n; ++i) {
    char c = p[i];
    if (c == '%') {
      int hi = i + 2 < n ? hex_digit_value(p[i + 1]) : -1;
      int lo = i + 2 < n ? hex_digit_value(p[i + 2]) : -1;
      if (hi < 0 || lo < 0) {
        s.valid = false;
        return s;
      }
      unsigned char v = static_cast<unsigned char>(hi * 16 + lo);
      if (is_unreserved(v) || upper_hex(p[i + 1]) != p[i + 1] || upper_hex(p[i + 2]) != p[i + 2]) {
        s.needs_work = true;
      }
      if (v == '/' || v == '\\') s.encoded_slash = true;
      i += 2;
    } else if (c == '\\') {
      s.needs_work = true;
    } else if (c == '/') {
      if ((merge_slashes && i + 1 < n && p[i + 1] == '/') || dot_segment_follows(p, i, n)) {
        s.needs_work = true;
      }
    }
  }
  return s;
}

// Steps 1-3 on a scanned (valid) path; returns the new length.
size_t decode_and_merge(char* p, size_t n, bool merge_slashes) {
  size_t w = 0;
  for (size_t i = 0; i < n;) {
    char c = p[i];
    if (c == '%') {
      char h = p[i + 1];
      char l = p[i + 2];
      unsigned char v = static_cast<unsigned char>(hex_digit_value(h) * 16 + hex_digit_value(l));
      if (is_unreserved(v)) {
        p[w++] = static_cast<char>(v);
      } else {
        p[w++] = '%';
        p[w++] = upper_hex(h);
        p[w++] = upper_hex(l);
      }
      i += 3;
      continue;
    }
    ++i;
    if (c == '\\') c = '/';
    // A decoded escape is never '/' (%2F stays encoded), so only the output's last
    // character can start a run.
    if (c == '/' && merge_slashes && w > 0 && p[w - 1] == '/') continue;
    p[w++] = c;
  }
  return w;
}

// RFC 3986 §5.2.4 with the input buffer being p[r, n) and the output buffer p[0, w);
// w <= r throughout, so output never overwrites unread input. Returns the new length.
size_t remove_dot_segments_in_place(char* p, size_t n) {
  size_t r = 0;
  size_t w = 0;
  auto starts = [&](std::string_view s) {
    return n - r >= s.size() && std::memcmp(p + r, s.data(), s.size()) == 0;
  };
  auto rest_is = [&](std::string_view s) {
    return n - r == s.size() && std::memcmp(p + r, s.data(), s.size()) == 0;
  };
  // Removes the output's last segment and the '/' before it, if any.
  auto pop_segment = [&] {
    while (w > 0 && p[--w] != '/') {
    }
  };
  while (r < n) {
    if (starts("../")) {  // A
      r += 3;
    } else if (starts("./")) {  // A
      r += 2;
    } else if (starts("/./")) {  // B: "/./" -> "/"
      r += 2;
    } else if (rest_is("/.")) {  // B: "/." -> "/", which E then moves to the output
      p[w++] = '/';
      r = n;
    } else if (starts("/../")) {  // C: "/../" -> "/"
      r += 3;
      pop_segment();
    } else if (rest_is("/..")) {  // C: "/.." -> "/"
      pop_segment();
      p[w++] = '/';
      r = n;
    } else if (rest_is(".") || rest_is("..")) {  // D
      r = n;
    } else {  // E
      size_t start = r;
      if (p[r] == '/') ++r;
      while (r < n && p[r] != '/') ++r;
      std::memmove(p + w, p + start, r - start);
      w += r - start;
    }
  }
  return w;
}

// Every '%' in a normalised path starts a valid escape with upper-case hex.
bool has_encoded_slash(const char* p, size_t n) {
  for (size_t i = 0; i + 2 < n; ++i) {
    if (p[i] != '%') continue;
    if ((p[i + 1] == '2' && p[i + 2] == 'F') || (p[i + 1] == '5' && p[i + 2] == 'C')) return true;
    i += 2;
  }
  return false;
}

}  // namespace

PathNormalizeResult normalize_request_path(std::string& target,
                                           const PathNormalizeOptions& options) {
  PathNormalizeResult result;
  if (target.empty() || target[0] != '/') {
    result.status = PathStatus::kNotOriginForm;
    return result;
  }
  size_t size = target.size();
  size_t path_len = std::string_view(target).find('?');
  if (path_len == std::string_view::npos) path_len = size;

  char* p = target.data();
  Scan scan = scan_path(p, path_len, options.merge_slashes);
  if (!scan.valid) {
    result.status = PathStatus::kInvalidEncoding;
    return result;
  }
  if (!scan.needs_work) {
    result.encoded_slash = scan.encoded_slash;
    return result;
  }

  // Every trigger the scan looks for shortens the path or rewrites a byte that no
  // later step restores (a decoded escape, upper-cased hex, '\' -> '/', a merged
  // slash, a removed dot-segment), so the target does change.
  size_t len = decode_and_merge(p, path_len, options.merge_slashes);
  len = remove_dot_segments_in_place(p, len);
  if (len != path_len) {
    std::memmove(p + len, p + path_len, size - path_len);
    target.resize(len + size - path_len);
  }
  result.changed = true;
  // An encoded slash can only have gone (with a removed segment), never appeared.
  result.encoded_slash = scan.encoded_slash && has_encoded_slash(p, len);
  return result;
}

std::string remove_dot_segments(std::string_view path) {
  std::string out(path);
  out.resize(remove_dot_segments_in_place(out.data(), out.size()));
  return out;
}

}  // namespace ringway
