#pragma once
// Per-shard access log. Lines are formatted into a bounded buffer and written with
// one ring write at a time (never a blocking write on the loop); while a write is in
// flight new lines go to the second buffer. Lines that do not fit are counted as
// dropped rather than blocking or growing without bound.
//
// Line format (space separated, one request per line):
//   TIME SHARD CLIENT METHOD PATH API STATUS BYTES DURATION_MS FLAG
// TIME is RFC 3339 UTC with milliseconds; PATH is the path as the client sent it;
// API is the matched API name or "-"; STATUS the status sent to the client (499 when
// the client went away first); BYTES the response body bytes; DURATION_MS with
// microsecond precision; FLAG says why the gateway answered (or cut the response)
// itself — NR no route, UF upstream connect failure, UR upstream reset, UPE upstream
// protocol error, UO upstream overloaded, UT upstream timeout, DE gRPC deadline, DC
// client gone, UA/PD authentication, DPE bad request, TL too large, RT request
// timeout, SD shutting down — or "-" when the upstream answered in full (modelled on
// Envoy's response flags).

#include <cstdint>
#include <string>
#include <string_view>

#include "io/loop.h"

namespace ringway {

struct AccessLogEntry {
  std::string_view client;
  std::string_view method;
  std::string_view path;
  std::string_view api;
  int status = 0;
  uint64_t bytes = 0;
  uint64_t duration_us = 0;
  const char* flag = "-";
};

class AccessLog : private Flushable {
 public:
  // |fd| is an open file (append mode) or stdout; not owned unless |owns_fd|.
  AccessLog(Loop* loop, int shard_index, int fd, bool owns_fd, uint32_t buffer_bytes);
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  void write(const AccessLogEntry& entry);
  uint64_t dropped_lines() const { return dropped_; }
  bool idle() const { return !write_in_flight_ && filling_.empty(); }

 private:
  static void on_write_complete(Op* op, int32_t res, uint32_t flags);
  void flush() override;

  Loop* loop_;
  int shard_index_;
  int fd_;
  bool owns_fd_;
  uint32_t buffer_bytes_;
  std::string filling_;   // lines being added
  std::string writing_;   // lines owned by the write in flight
  size_t written_ = 0;    // bytes of writing_ already written
  bool write_in_flight_ = false;
  uint64_t dropped_ = 0;
  Op write_op_;
};

}  // namespace ringway
