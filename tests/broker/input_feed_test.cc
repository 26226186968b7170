// InputFeeds, the pure core of streamed stdin: windows, budgets, turns
// between feeds, resuming after a broken connection or a restart, and the
// end of a feed. Invariants are checked after every step.
#include "broker/core/input_feed.h"

#include <doctest/doctest.h>

#include <map>
#include <random>

namespace drover::broker {
namespace {

const WorkerId kW1(1);
const WorkerId kW2(2);
constexpr uint64_t kMiB = 1 << 20;

TaskKey Key(uint32_t step, uint32_t attempt = 1) {
  return TaskKey{JobId(1), StepIndex(step), Attempt(attempt)};
}

std::vector<InputPiece> Plan(InputFeeds& feeds) {
  std::vector<InputPiece> pieces = feeds.Plan();
  const std::string problem = feeds.CheckInvariants();
  REQUIRE_MESSAGE(problem.empty(), problem);
  return pieces;
}

uint64_t Bytes(const std::vector<InputPiece>& pieces) {
  uint64_t n = 0;
  for (const InputPiece& p : pieces) n += p.length;
  return n;
}

TEST_CASE("input feed: a window's worth, then more only as the worker writes it") {
  InputFeeds feeds;
  feeds.Open(Key(1), kW1, {10 * kMiB}, 0);
  std::vector<InputPiece> pieces = Plan(feeds);
  CHECK(Bytes(pieces) == InputFeeds::kWindowBytes);
  uint64_t at = 0;
  for (const InputPiece& p : pieces) {
    CHECK(p.offset == at);
    CHECK(p.source_offset == at);
    CHECK(p.length <= InputFeeds::kPieceBytes);
    CHECK_FALSE(p.eof);
    at += p.length;
  }
  CHECK(Plan(feeds).empty());  // the window is full
  feeds.OnCredit(Key(1), kW1, kMiB, 2 * kMiB, false, false);
  pieces = Plan(feeds);
  CHECK(Bytes(pieces) == kMiB);
  CHECK(pieces.front().offset == 2 * kMiB);
  // From another worker (an old attempt's), a credit changes nothing.
  feeds.OnCredit(Key(1), kW2, 3 * kMiB, 3 * kMiB, false, false);
  CHECK(Plan(feeds).empty());
}

TEST_CASE("input feed: a growing source is sent as it grows, and ends only when complete") {
  InputFeeds feeds;
  feeds.Open(Key(1), kW1, {0}, 0, /*growing=*/true);
  CHECK_FALSE(feeds.Ready());  // nothing yet, and no end either
  CHECK(Plan(feeds).empty());
  feeds.Grow(Key(1), 1000, false);
  CHECK(feeds.Ready());
  std::vector<InputPiece> pieces = Plan(feeds);
  CHECK(Bytes(pieces) == 1000);
  CHECK_FALSE(pieces.back().eof);
  CHECK_FALSE(feeds.Ready());
  feeds.Grow(Key(1), 500, false);  // never less than before
  CHECK(Plan(feeds).empty());
  feeds.Grow(Key(1), 3 * kMiB, false);
  pieces = Plan(feeds);
  CHECK(pieces.front().offset == 1000);
  CHECK(Bytes(pieces) == InputFeeds::kWindowBytes - 1000);        // the window holds as ever
  feeds.OnCredit(Key(1), kW1, 3 * kMiB, 3 * kMiB, false, false);  // clamped to what was sent
  feeds.Grow(Key(1), 3 * kMiB, true);
  pieces = Plan(feeds);
  REQUIRE_FALSE(pieces.empty());
  CHECK(pieces.back().eof);
  CHECK(pieces.back().offset + pieces.back().length == 3 * kMiB);
  // A feed that is not growing ignores Grow.
  feeds.Open(Key(2), kW1, {10}, 0);
  feeds.Grow(Key(2), 20, false);
  pieces = Plan(feeds);
  CHECK(Bytes(pieces) == 10);
  CHECK(pieces.back().eof);
}

TEST_CASE("input feed: sources are read in order as one stream, and the last piece says eof") {
  InputFeeds feeds;
  feeds.Open(Key(1), kW1, {100, 0, 300 * 1024, 5}, 0);
  std::vector<InputPiece> pieces = Plan(feeds);
  // Pieces run on from one source into the next (the empty one adds
  // nothing): 256 KiB from source 0's start, then the rest from where that
  // left source 2, with the end.
  const uint64_t total = 100 + 300 * 1024 + 5;
  REQUIRE(pieces.size() == 2);
  CHECK((pieces[0].source == 0 && pieces[0].source_offset == 0 && pieces[0].offset == 0 &&
         pieces[0].length == InputFeeds::kPieceBytes && !pieces[0].eof));
  CHECK((pieces[1].source == 2 && pieces[1].source_offset == InputFeeds::kPieceBytes - 100 &&
         pieces[1].offset == InputFeeds::kPieceBytes &&
         pieces[1].length == total - InputFeeds::kPieceBytes && pieces[1].eof));
  CHECK(Plan(feeds).empty());  // the end is said once
}

TEST_CASE("input feed: many small sources cost no more pieces than their bytes need") {
  InputFeeds feeds;
  feeds.Open(Key(1), kW1, std::vector<uint64_t>(100'000, 10), 0);  // 1,000,000 bytes
  std::vector<InputPiece> pieces = Plan(feeds);
  REQUIRE(pieces.size() == 4);
  CHECK(pieces[1].source == InputFeeds::kPieceBytes / 10);
  CHECK(pieces[1].source_offset == InputFeeds::kPieceBytes % 10);
  CHECK(pieces.back().eof);
  // A resume from the middle finds its source again.
  feeds.OnCredit(Key(1), kW1, 5, 55, true, false);
  pieces = Plan(feeds);
  REQUIRE(!pieces.empty());
  CHECK((pieces[0].offset == 55 && pieces[0].source == 5 && pieces[0].source_offset == 5));
}

TEST_CASE("input feed: a feed ends once its worker has written all of it") {
  InputFeeds feeds;
  feeds.Open(Key(1), kW1, {1000}, 0);
  CHECK(Plan(feeds).back().eof);
  feeds.OnCredit(Key(1), kW1, 1000, 1000, false, false);
  CHECK_FALSE(feeds.Has(Key(1)));
  CHECK(feeds.outstanding() == 0);
}

TEST_CASE("input feed: an empty input is an eof alone") {
  InputFeeds feeds;
  feeds.Open(Key(1), kW1, {0}, 0);
  std::vector<InputPiece> pieces = Plan(feeds);
  REQUIRE(pieces.size() == 1);
  CHECK((pieces[0].eof && pieces[0].length == 0 && pieces[0].offset == 0));
}

TEST_CASE("input feed: a resume sends again from what the worker has") {
  InputFeeds feeds;
  feeds.Open(Key(1), kW1, {kMiB}, 0);
  std::vector<InputPiece> pieces = Plan(feeds);
  CHECK(pieces.back().eof);
  // The connection broke: the worker has 300,000 bytes, wrote 100,000.
  feeds.OnCredit(Key(1), kW1, 100'000, 300'000, true, false);
  pieces = Plan(feeds);
  REQUIRE(!pieces.empty());
  CHECK(pieces.front().offset == 300'000);
  CHECK(Bytes(pieces) == kMiB - 300'000);
  CHECK(pieces.back().eof);
  SUBCASE("numbers past what was sent are kept within it") {
    feeds.OnCredit(Key(1), kW1, 5 * kMiB, 5 * kMiB, false, false);
    CHECK(feeds.outstanding() == 0);
    CHECK(feeds.CheckInvariants().empty());
  }
}

TEST_CASE("input feed: opened after a restart from what the worker has") {
  InputFeeds feeds;
  feeds.Open(Key(1), kW1, {3 * kMiB}, 2 * kMiB + 5);
  std::vector<InputPiece> pieces = Plan(feeds);
  CHECK(pieces.front().offset == 2 * kMiB + 5);
  CHECK(Bytes(pieces) == kMiB - 5);
  CHECK(pieces.back().eof);
}

TEST_CASE("input feed: the child closing its stdin, or its attempt ending, ends the feed") {
  InputFeeds feeds;
  feeds.Open(Key(1), kW1, {10 * kMiB}, 0);
  feeds.Open(Key(2), kW1, {10 * kMiB}, 0);
  (void)Plan(feeds);
  feeds.OnCredit(Key(1), kW1, 1000, 1000, false, true);
  CHECK_FALSE(feeds.Has(Key(1)));
  CHECK(feeds.CheckInvariants().empty());
  feeds.Retain([](const TaskKey&, WorkerId) { return false; });
  CHECK(feeds.size() == 0);
  CHECK(feeds.outstanding() == 0);
  CHECK(feeds.CheckInvariants().empty());
}

TEST_CASE("input feed: a turn's bytes are bounded, and feeds take turns coming first") {
  InputFeeds feeds;
  // Eight feeds on four workers: 16 MiB of windows, twice a turn's bytes.
  for (uint32_t i = 0; i < 8; ++i) feeds.Open(Key(i), WorkerId(i / 2 + 1), {100 * kMiB}, 0);
  std::map<uint32_t, uint64_t> first_turn;
  std::vector<InputPiece> pieces = Plan(feeds);
  CHECK(Bytes(pieces) == InputFeeds::kTurnBytes);
  for (const InputPiece& p : pieces) first_turn[p.key.step.value] += p.length;
  CHECK(first_turn.size() == 4);  // four full windows
  pieces = Plan(feeds);
  CHECK(Bytes(pieces) == InputFeeds::kTurnBytes);
  for (const InputPiece& p : pieces) CHECK(first_turn.count(p.key.step.value) == 0);
}

TEST_CASE("input feed: one worker's feeds share its bytes") {
  InputFeeds feeds;
  for (uint32_t i = 0; i < 20; ++i) feeds.Open(Key(i), kW1, {100 * kMiB}, 0);
  uint64_t sent = 0;
  for (int turn = 0; turn < 5; ++turn) sent += Bytes(Plan(feeds));
  CHECK(sent == InputFeeds::kWorkerBytes);
  CHECK(feeds.outstanding() == InputFeeds::kWorkerBytes);
}

TEST_CASE("input feed: all feeds together hold at most kAllBytes") {
  InputFeeds feeds;
  // 40 workers' worth of windows: 80 MiB, past the 64 MiB for all.
  for (uint32_t i = 0; i < 40; ++i) feeds.Open(Key(i), WorkerId(i + 1), {100 * kMiB}, 0);
  uint64_t sent = 0;
  for (int turn = 0; turn < 20; ++turn) sent += Bytes(Plan(feeds));
  CHECK(sent == InputFeeds::kAllBytes);
  CHECK_FALSE(feeds.Ready());
  feeds.OnCredit(Key(0), WorkerId(1), kMiB, 2 * kMiB, false, false);
  CHECK(feeds.Ready());
  CHECK(Bytes(Plan(feeds)) == kMiB);
}

TEST_CASE("input feed: random credits, resumes and closes keep the invariants") {
  std::mt19937 random(7);
  InputFeeds feeds;
  for (int round = 0; round < 2000; ++round) {
    const TaskKey key = Key(random() % 6);
    const WorkerId worker(random() % 2 + 1);
    switch (random() % 5) {
      case 0:
        feeds.Open(key, worker, {random() % (3 * kMiB), random() % kMiB}, random() % kMiB);
        break;
      case 1:
        feeds.OnCredit(key, worker, random() % (4 * kMiB), random() % (4 * kMiB),
                       random() % 4 == 0, random() % 10 == 0);
        break;
      case 2:
        feeds.Close(key);
        break;
      default:
        (void)feeds.Plan();
    }
    const std::string problem = feeds.CheckInvariants();
    REQUIRE_MESSAGE(problem.empty(), "round " << round << ": " << problem);
  }
}

}  // namespace
}  // namespace drover::broker
