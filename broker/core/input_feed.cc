#include "broker/core/input_feed.h"

#include <algorithm>

namespace drover::broker {

void InputFeeds::Open(const TaskKey& key, WorkerId worker, std::vector<uint64_t> sizes,
                      uint64_t from, bool growing) {
  if (auto it = feeds_.find(key); it != feeds_.end()) Erase(it);
  Feed feed;
  feed.worker = worker;
  feed.growing = growing && sizes.size() == 1;
  feed.sizes = std::move(sizes);
  for (uint64_t size : feed.sizes) feed.total += size;
  // What it has, it has written or will: counted as consumed, so that the
  // window starts from there.
  // (A growing source may not hold all that yet: what is sent again then
  // the worker drops, as it keeps its input by offset.)
  feed.sent = feed.consumed = std::min(from, feed.total);
  feeds_.emplace(key, std::move(feed));
  outstanding_[worker];  // an entry while it has a feed (invariant 2)
}

InputFeeds::Feeds::iterator InputFeeds::Erase(Feeds::iterator it) {
  const Feed& feed = it->second;
  auto w = outstanding_.find(feed.worker);
  w->second -= feed.sent - feed.consumed;
  all_outstanding_ -= feed.sent - feed.consumed;
  const WorkerId worker = feed.worker;
  it = feeds_.erase(it);
  const bool more = std::any_of(feeds_.begin(), feeds_.end(),
                                [&](const auto& f) { return f.second.worker == worker; });
  if (!more) outstanding_.erase(w);
  return it;
}

void InputFeeds::OnCredit(const TaskKey& key, WorkerId worker, uint64_t consumed,
                          uint64_t received, bool resume, bool closed) {
  auto it = feeds_.find(key);
  if (it == feeds_.end() || it->second.worker != worker) return;
  if (closed) {
    Erase(it);
    return;
  }
  Feed& feed = it->second;
  uint64_t& out = outstanding_[worker];
  out -= feed.sent - feed.consumed;
  all_outstanding_ -= feed.sent - feed.consumed;
  // A worker's numbers come over the wire: each is kept within what was
  // credited before and what was sent (consumed <= sent always holds).
  if (resume) {
    feed.sent = std::clamp(received, feed.consumed, feed.sent);
    feed.eof_sent = false;
  }
  feed.consumed = std::clamp(consumed, feed.consumed, feed.sent);
  out += feed.sent - feed.consumed;
  all_outstanding_ += feed.sent - feed.consumed;
  // All of it written: nothing more will be asked of this feed.
  if (feed.eof_sent && feed.consumed == feed.total) Erase(it);
}

void InputFeeds::Grow(const TaskKey& key, uint64_t size, bool complete) {
  auto it = feeds_.find(key);
  if (it == feeds_.end() || !it->second.growing) return;
  Feed& feed = it->second;
  if (size > feed.total) feed.sizes[0] = feed.total = size;
  feed.growing = !complete;
}

void InputFeeds::Close(const TaskKey& key) {
  if (auto it = feeds_.find(key); it != feeds_.end()) Erase(it);
}

uint64_t InputFeeds::PlanFeed(const TaskKey& key, Feed& feed, uint64_t budget,
                              std::vector<InputPiece>* out) {
  if (feed.eof_sent) return 0;
  uint64_t& worker_out = outstanding_[feed.worker];
  uint64_t planned = 0;
  for (;;) {
    if (feed.sent == feed.total && feed.growing) return planned;  // more may come
    if (feed.sent == feed.total) {
      // The end, on the last piece or on a piece of its own.
      if (!out->empty() && out->back().key == key && out->back().offset + out->back().length ==
                                                         feed.total) {
        out->back().eof = true;
      } else {
        out->push_back(InputPiece{key, feed.worker, 0, 0, feed.total, 0, true});
      }
      feed.eof_sent = true;
      return planned;
    }
    const uint64_t in_window = feed.sent - feed.consumed;
    if (in_window >= kWindowBytes || worker_out >= kWorkerBytes ||
        all_outstanding_ >= kAllBytes || planned >= budget) {
      return planned;
    }
    // The source holding byte `sent`: from the last one found, moving
    // back only after a resume, so that a fan-in of many small sources
    // costs no scan per piece. A piece may run on into the next sources.
    if (feed.cursor_start > feed.sent) feed.cursor = feed.cursor_start = 0;
    while (feed.cursor_start + feed.sizes[feed.cursor] <= feed.sent) {
      feed.cursor_start += feed.sizes[feed.cursor++];
    }
    const uint64_t room = std::min({kWindowBytes - in_window, kWorkerBytes - worker_out,
                                    kAllBytes - all_outstanding_, budget - planned,
                                    uint64_t{kPieceBytes}, feed.total - feed.sent});
    out->push_back(InputPiece{key, feed.worker, feed.cursor, feed.sent - feed.cursor_start,
                              feed.sent, static_cast<uint32_t>(room), false});
    feed.sent += room;
    worker_out += room;
    all_outstanding_ += room;
    planned += room;
  }
}

std::vector<InputPiece> InputFeeds::Plan() {
  std::vector<InputPiece> pieces;
  if (feeds_.empty()) return pieces;
  // From the feed after the one served first last turn, around: each feed
  // in its turn comes first.
  auto first = feeds_.upper_bound(cursor_);
  if (first == feeds_.end()) first = feeds_.begin();
  cursor_ = first->first;
  uint64_t budget = kTurnBytes;
  auto it = first;
  do {
    budget -= PlanFeed(it->first, it->second, budget, &pieces);
    if (++it == feeds_.end()) it = feeds_.begin();
  } while (it != first && budget > 0);
  return pieces;
}

bool InputFeeds::Ready() const {
  for (const auto& [key, feed] : feeds_) {
    if (feed.eof_sent) continue;
    if (feed.sent == feed.total) {
      if (feed.growing) continue;  // waits for its source
      return true;                 // its end is due
    }
    if (feed.sent - feed.consumed < kWindowBytes &&
        outstanding_.at(feed.worker) < kWorkerBytes && all_outstanding_ < kAllBytes) {
      return true;
    }
  }
  return false;
}

std::string InputFeeds::CheckInvariants() const {
  std::map<WorkerId, uint64_t> expected;
  for (const auto& [key, feed] : feeds_) {
    uint64_t total = 0;
    for (uint64_t size : feed.sizes) total += size;
    if (total != feed.total) return "feed " + ToString(key) + ": total is not its sources' sum";
    if (!(feed.consumed <= feed.sent && feed.sent <= feed.total)) {
      return "feed " + ToString(key) + ": consumed <= sent <= total does not hold";
    }
    if (feed.eof_sent && (feed.sent != feed.total || feed.growing)) {
      return "feed " + ToString(key) + ": eof sent before the end";
    }
    expected[feed.worker] += feed.sent - feed.consumed;
  }
  if (expected != outstanding_) return "outstanding bytes per worker are off";
  uint64_t all = 0;
  for (const auto& [worker, bytes] : expected) all += bytes;
  if (all != all_outstanding_) return "outstanding bytes in all are off";
  return "";
}

}  // namespace drover::broker
