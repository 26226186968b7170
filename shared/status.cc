#include "shared/status.h"

#include <cstring>

namespace drover {

Status ErrnoStatus(std::string_view what, int err) {
  std::string message(what);
  message += ": ";
  message += std::strerror(err);
  Status status = Status::Error(std::move(message));
  status.errno_ = err;
  return status;
}

}  // namespace drover
