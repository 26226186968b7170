// BoundedPool (bounded_pool.h).

#include "broker/http/bounded_pool.h"

#include <sys/resource.h>

#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

namespace drover::broker::http {

struct BoundedPool::State {
  std::mutex mu;
  std::condition_variable work;   // a task queued, or shutting down
  std::condition_variable room;   // a task taken from a full queue
  std::condition_variable ended;  // a thread ended
  std::deque<std::function<void()>> queue;
  size_t capacity = 0;
  size_t running = 0;  // threads not yet ended
  bool shutting_down = false;
};

BoundedPool::BoundedPool(size_t threads, size_t queued, std::chrono::milliseconds grace,
                         std::shared_ptr<std::atomic<bool>> stuck)
    : state_(std::make_shared<State>()), grace_(grace), stuck_(std::move(stuck)) {
  state_->capacity = queued;
  state_->running = threads;
  for (size_t i = 0; i < threads; ++i) {
    // Detached, holding the state: see shutdown().
    std::thread([state = state_] {
      // Lowest priority (Linux: nice is per thread): a busy broker's loop
      // gets the CPU first, and the HTTP side what is left.
      (void)setpriority(PRIO_PROCESS, 0, 19);
      std::unique_lock<std::mutex> lock(state->mu);
      for (;;) {
        state->work.wait(lock, [&] { return state->shutting_down || !state->queue.empty(); });
        if (state->queue.empty()) break;  // shutting down, nothing left
        std::function<void()> task = std::move(state->queue.front());
        state->queue.pop_front();
        state->room.notify_one();
        lock.unlock();
        task();  // serves one connection, and closes it
        lock.lock();
      }
      --state->running;
      state->ended.notify_all();
    }).detach();
  }
}

BoundedPool::~BoundedPool() { shutdown(); }

void BoundedPool::enqueue(std::function<void()> fn) {
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->room.wait(
      lock, [&] { return state_->queue.size() < state_->capacity || state_->shutting_down; });
  state_->queue.push_back(std::move(fn));
  state_->work.notify_one();
}

void BoundedPool::shutdown() {
  std::unique_lock<std::mutex> lock(state_->mu);
  if (!state_->shutting_down) {
    state_->shutting_down = true;
    state_->work.notify_all();
    state_->room.notify_all();
  }
  if (!state_->ended.wait_for(lock, grace_, [&] { return state_->running == 0; })) {
    stuck_->store(true);
  }
}

}  // namespace drover::broker::http
