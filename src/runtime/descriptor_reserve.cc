#include "runtime/descriptor_reserve.h"

#include <cerrno>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

namespace ringway {

DescriptorReserve::~DescriptorReserve() {
  if (fd_ >= 0) close(fd_);
}

bool DescriptorReserve::open() {
  if (fd_ < 0) fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  return fd_ >= 0;
}

DescriptorReserve::ShedResult DescriptorReserve::shed(int listen_fd, uint32_t max) {
  ShedResult r;
  if (fd_ >= 0) {
    close(fd_);
    fd_ = -1;
  }
  for (uint32_t i = 0; i < max; ++i) {
    int fd = accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd >= 0) {
      close(fd);
      ++r.shed;
      continue;
    }
    // Gone before it was taken, or a signal: try the next one.
    if (errno == ECONNABORTED || errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      r.backlog_empty = true;
    } else {
      r.error = errno;
    }
    break;
  }
  open();
  return r;
}

}  // namespace ringway
