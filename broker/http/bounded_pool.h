// BoundedPool: the broker's task queue for cpp-httplib: a fixed number of
// threads, at the lowest priority (nice 19: on a busy machine the broker's
// loop runs first), and a bounded queue of accepted connections. When the queue is
// full, enqueue() blocks the accepting thread, so further connections wait
// in the kernel's listen backlog rather than holding descriptors of the
// broker's: a flood of connections cannot make the broker run out of file
// descriptors (and so stop journaling).
//
// shutdown() lets the threads finish what they hold, waiting at most
// `grace`: a client that trickles a byte at a time can keep a thread past
// any read timeout. Threads still busy then are left to end with the
// process, and `*stuck` is set: the httplib::Server their requests use
// must then never be destroyed (HttpServer keeps it). The threads share
// their state with the pool, so the pool itself may go.
#pragma once

#include <httplib.h>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>

namespace drover::broker::http {

class BoundedPool : public httplib::TaskQueue {
 public:
  BoundedPool(size_t threads, size_t queued, std::chrono::milliseconds grace,
              std::shared_ptr<std::atomic<bool>> stuck);
  ~BoundedPool() override;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

 private:
  struct State;
  std::shared_ptr<State> state_;
  std::chrono::milliseconds grace_;
  std::shared_ptr<std::atomic<bool>> stuck_;
};

}  // namespace drover::broker::http
