// InputFeeds: the stdin of running steps, streamed to their workers from
// stdout the spool captured (`stdin_from` too large to travel inside the
// dispatch). Plain data: it decides which pieces of which capture go where,
// and the broker's shell reads them from disk and sends them (TaskInput).
//
// A feed belongs to one attempt on one worker and reads its sources (the
// captures of the steps it reads, in order, each of a size known once its
// producer succeeded) as one stream. It is opened when the worker first
// speaks of it (InputCredit): when the child has started, or, after a
// broker restart or a broken connection, with what the worker already has
// (`received`), so that feeds need no journal: they follow from the
// attempts that run.
//
// A feed opened after a restart counts what the worker says it holds as
// consumed, so a worker may then hold up to that plus a window.
//
// Flow control: a feed sends at most kWindowBytes past what the worker has
// written to the child (`consumed`), a worker's feeds together at most
// kWorkerBytes, all feeds together at most kAllBytes, and one turn at most
// kTurnBytes in pieces of at most kPieceBytes, taking turns between feeds.
// What the broker holds of input (read, or queued in sockets) is then at
// most kAllBytes, and a worker's is its feeds' windows.
//
// Invariants (CheckInvariants):
//   1. For each feed, consumed <= sent <= total, where total is the sum of
//      its sources; eof_sent implies sent == total.
//   2. outstanding_[w] == the sum of (sent - consumed) over w's feeds, and
//      w has an entry exactly while it has a feed; all_outstanding_ is the
//      sum over all feeds.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "shared/ids.h"
#include "shared/protocol.h"

namespace drover::broker {

// One piece to read from a capture and send.
struct InputPiece {
  TaskKey key;
  WorkerId worker;
  uint32_t source = 0;         // which of the feed's sources it starts in
  uint64_t source_offset = 0;  // where in it; the piece runs on into the next
                               // sources (empty ones skipped) when it is longer
  uint64_t offset = 0;         // where in the attempt's stdin
  uint32_t length = 0;         // 0 only for an eof of its own
  bool eof = false;            // the last piece: the worker closes stdin after it
};

class InputFeeds {
 public:
  // A window covers a round trip at about 1 GB/s across hosts; eight
  // windows per worker, 32 in all, keep the broker's input memory near
  // its other buffers (the output window, a follower's); a turn's 8 MiB
  // keeps other work in the loop moving; a piece of 256 KiB makes a
  // message cheap to encode and well under every size limit.
  static constexpr uint64_t kWindowBytes = kInputWindowBytes;
  static constexpr uint64_t kWorkerBytes = 16 << 20;
  static constexpr uint64_t kAllBytes = 64 << 20;
  static constexpr uint64_t kTurnBytes = 8 << 20;
  static constexpr uint32_t kPieceBytes = 256 << 10;

  // Feeds `key` on `worker` from sources of `sizes` bytes, in order, from
  // byte `from` on (what the worker has already). Replaces a feed of `key`.
  // `growing`: its one source is still being written (a streamed
  // stdin_from whose producer runs): `sizes` is what it holds so far, Grow
  // says more, and the end is sent only once Grow says it is complete.
  void Open(const TaskKey& key, WorkerId worker, std::vector<uint64_t> sizes, uint64_t from,
            bool growing = false);
  // The growing source of `key`'s feed now holds `size` bytes (never less
  // than before); `complete`: that is all of it. Ignored for other feeds.
  void Grow(const TaskKey& key, uint64_t size, bool complete);
  bool Has(const TaskKey& key) const { return feeds_.count(key) > 0; }
  // The worker of `key`'s feed. REQUIRES: Has(key).
  WorkerId WorkerOf(const TaskKey& key) const { return feeds_.at(key).worker; }

  // The worker's word on its feed of `key` (ignored from another worker):
  // it has written `consumed` bytes to the child and holds all up to
  // `received`. `resume`: what was sent past `received` may be lost (a
  // broken connection), send it again. `closed`: the child wants no more;
  // the feed ends, as it does once all of it is consumed. Numbers from the
  // wire are clamped: consumed and received to between what was consumed
  // before and what was sent.
  void OnCredit(const TaskKey& key, WorkerId worker, uint64_t consumed, uint64_t received,
                bool resume, bool closed);

  // Ends the feed of `key` (its attempt ended, or went elsewhere).
  void Close(const TaskKey& key);
  // Ends every feed for which `keep(key, worker)` is false.
  template <typename Keep>
  void Retain(Keep keep) {
    for (auto it = feeds_.begin(); it != feeds_.end();) {
      if (keep(it->first, it->second.worker)) {
        ++it;
      } else {
        it = Erase(it);
      }
    }
  }

  // The pieces to send now, within the windows and the turn's bytes; each
  // counts as sent.
  std::vector<InputPiece> Plan();

  size_t size() const { return feeds_.size(); }
  // Whether Plan would give something now.
  bool Ready() const;
  // Bytes sent and not yet written to a child, over all feeds.
  uint64_t outstanding() const { return all_outstanding_; }
  // Empty if the invariants hold, else what is wrong.
  std::string CheckInvariants() const;

 private:
  struct Feed {
    WorkerId worker;
    std::vector<uint64_t> sizes;
    uint64_t total = 0;
    uint64_t sent = 0;
    uint64_t consumed = 0;
    bool eof_sent = false;
    bool growing = false;       // its one source may hold more later
    uint32_t cursor = 0;        // a source at or before the one holding `sent`
    uint64_t cursor_start = 0;  // where it starts in the stream
  };
  using Feeds = std::map<TaskKey, Feed>;
  Feeds::iterator Erase(Feeds::iterator it);
  // Appends `feed`'s next pieces within `budget` bytes; returns bytes planned.
  uint64_t PlanFeed(const TaskKey& key, Feed& feed, uint64_t budget,
                    std::vector<InputPiece>* out);

  Feeds feeds_;
  std::map<WorkerId, uint64_t> outstanding_;  // by worker: sum of sent - consumed
  uint64_t all_outstanding_ = 0;
  TaskKey cursor_{};  // the feed served first next turn is the one after this
};

}  // namespace drover::broker
