#include "pipeline/access_log.h"

#include <cstdio>
#include <cstring>
#include <ctime>

#include <unistd.h>

#include "base/log.h"

namespace ringway {

AccessLog::AccessLog(Loop* loop, int shard_index, int fd, bool owns_fd, uint32_t buffer_bytes)
    : loop_(loop), shard_index_(shard_index), fd_(fd), owns_fd_(owns_fd),
      buffer_bytes_(buffer_bytes) {
  write_op_.complete = on_write_complete;
  write_op_.owner = this;
  filling_.reserve(buffer_bytes);
  writing_.reserve(buffer_bytes);
}

AccessLog::~AccessLog() {
  // The shard drains the log (idle()) before destroying it; write what is left
  // synchronously as a last resort at exit.
  if (!filling_.empty() && !write_in_flight_) {
    ssize_t rc = ::write(fd_, filling_.data(), filling_.size());
    (void)rc;
  }
  if (owns_fd_) ::close(fd_);
}

void AccessLog::write(const AccessLogEntry& e) {
  char line[2048];
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm tm_utc;
  gmtime_r(&ts.tv_sec, &tm_utc);
  size_t n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm_utc);
  // Paths are truncated to keep a line bounded; quoting is unnecessary because the
  // codecs reject spaces and control characters in request targets.
  int path_len = e.path.size() > 1024 ? 1024 : static_cast<int>(e.path.size());
  int m = snprintf(line + n, sizeof(line) - n, ".%03ldZ %d %.*s %.*s %.*s %.*s %d %llu %.3f %s\n",
                   ts.tv_nsec / 1000000, shard_index_, static_cast<int>(e.client.size()),
                   e.client.data(), static_cast<int>(e.method.size()), e.method.data(), path_len,
                   e.path.data(), static_cast<int>(e.api.size()), e.api.data(), e.status,
                   static_cast<unsigned long long>(e.bytes), static_cast<double>(e.duration_us) / 1000.0,
                   e.flag);
  if (m < 0) return;
  n += static_cast<size_t>(m);
  if (n > sizeof(line)) n = sizeof(line);
  if (filling_.size() + n > buffer_bytes_) {
    ++dropped_;
    return;
  }
  filling_.append(line, n);
  loop_->queue_flush(this);
}

void AccessLog::flush() {
  if (write_in_flight_ || filling_.empty()) return;
  writing_.swap(filling_);
  filling_.clear();
  written_ = 0;
  write_in_flight_ = true;
  // Offset -1: use (and advance) the file position, which O_APPEND places at the end.
  loop_->ring().write(fd_, writing_.data(), static_cast<uint32_t>(writing_.size()),
                      static_cast<uint64_t>(-1), &write_op_);
}

void AccessLog::on_write_complete(Op* op, int32_t res, uint32_t) {
  auto* log = static_cast<AccessLog*>(op->owner);
  if (res < 0) {
    RW_LOG(Warn, "access log write failed: %s; %zu bytes lost", strerror(-res),
           log->writing_.size() - log->written_);
    log->write_in_flight_ = false;
    log->writing_.clear();
  } else {
    log->written_ += static_cast<size_t>(res);
    if (log->written_ < log->writing_.size() && res > 0) {
      log->loop_->ring().write(log->fd_, log->writing_.data() + log->written_,
                               static_cast<uint32_t>(log->writing_.size() - log->written_),
                               static_cast<uint64_t>(-1), &log->write_op_);
      return;
    }
    log->write_in_flight_ = false;
    log->writing_.clear();
  }
  if (!log->filling_.empty()) log->loop_->queue_flush(log);
}

}  // namespace ringway
