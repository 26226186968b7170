#include "shared/client_socket.h"

namespace drover {

ClientSocket::ClientSocket(zmq::context_t& ctx, const std::string& endpoint, int linger_ms,
                           const ClientKeys* keys, int64_t max_message_bytes)
    : socket_(NewDealer(ctx, linger_ms, keys, max_message_bytes)),
      watch_(ctx, socket_, keys != nullptr) {
  socket_.connect(endpoint);
}

}  // namespace drover
