#pragma once
// Request paths are normalised before anything decides on them (routing,
// authentication, logs, the upstream), the way Envoy's normalize_path and
// merge_slashes do, so "/x/../secure", "/%73ecure" or "//secure" cannot reach an API
// past its checks:
//  1. percent-encoded unreserved characters (ALPHA DIGIT - . _ ~) are decoded; other
//     escapes stay encoded with upper-case hex; an invalid escape is an error;
//  2. a backslash becomes '/' (as browsers and Envoy treat it);
//  3. with merge_slashes, runs of '/' become one;
//  4. dot-segments are removed (RFC 3986 §5.2.4).
// Only the path is touched; a query ("?...") is kept byte for byte. Encoded slashes
// (%2F, %5C, any case) are left encoded and reported, so the caller can refuse them
// unless the API allows them.

#include <cstdint>
#include <string>
#include <string_view>

namespace ringway {

struct PathNormalizeOptions {
  bool merge_slashes = true;
};

enum class PathStatus : uint8_t {
  kOk,
  kInvalidEncoding,  // '%' not followed by two hex digits
  kNotOriginForm,    // does not start with '/'
};

struct PathNormalizeResult {
  PathStatus status = PathStatus::kOk;
  bool changed = false;        // |target| was rewritten
  bool encoded_slash = false;  // %2F or %5C remains in the path
};

// Normalises |target| (origin-form: "/path?query") in place. Allocation-free when
// nothing needs changing (the common case), which a scan decides first.
PathNormalizeResult normalize_request_path(std::string& target,
                                           const PathNormalizeOptions& options);

// RFC 3986 §5.2.4 on a path (no query): "/a/b/c/./../../g" -> "/a/g".
std::string remove_dot_segments(std::string_view path);

}  // namespace ringway
