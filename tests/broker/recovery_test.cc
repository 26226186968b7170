// The journal's records (broker/recovery.h): each round-trips through its
// codec, and records written before worker numbers existed still decode.
#include "broker/recovery.h"

#include <doctest/doctest.h>
#include <msgpack.hpp>

#include <string>

namespace drover::broker {
namespace {

template <typename T>
T RoundTrip(const T& record) {
  std::string bytes;
  EncodeRecord(record, &bytes);
  Result<Record> decoded = DecodeRecord(bytes);
  REQUIRE_MESSAGE(decoded.ok(), decoded.status().message());
  REQUIRE(std::holds_alternative<T>(decoded.value()));
  return std::get<T>(decoded.value());
}

TEST_CASE("worker, dispatch and result records round-trip") {
  const WorkerRecord w = RoundTrip(WorkerRecord{7, std::string(32, 'i'), "node-3"});
  CHECK(w.number == 7);
  CHECK(w.instance == std::string(32, 'i'));
  CHECK(w.name == "node-3");

  const TaskKey key{JobId(4), StepIndex(12), Attempt(2)};
  const DispatchRecord d = RoundTrip(DispatchRecord{key, "", "", Attempt(1), StepIndex(11), 7});
  CHECK(d.key == key);
  CHECK(d.worker_number == 7);
  CHECK(d.instance.empty());
  CHECK(d.after_attempt == Attempt(1));
  CHECK(d.after_step == StepIndex(11));

  RunResult run;
  run.exit_code = 3;
  run.started_ms = 1'700'000'000'000;
  run.ended_ms = 1'700'000'000'042;
  const ResultRecord r = RoundTrip(ResultRecord{"", TaskResult{key, run}, 7});
  CHECK(r.worker_number == 7);
  CHECK(r.result.key == key);
  CHECK(r.result.run.exit_code == 3);
  CHECK(r.result.run.ended_ms == 1'700'000'000'042);
}

TEST_CASE("dispatches and results records round-trip, the results as the message's bytes") {
  const TaskKey a{JobId(4), StepIndex(12), Attempt(2)};
  const TaskKey b{JobId(4), StepIndex(13), Attempt(1)};
  const DispatchesRecord d = RoundTrip(DispatchesRecord{
      7, {DispatchEntry{a, StepIndex(), Attempt()}, DispatchEntry{b, StepIndex(12), Attempt(2)}}});
  CHECK(d.worker_number == 7);
  REQUIRE(d.entries.size() == 2);
  CHECK(d.entries[0].key == a);
  CHECK(d.entries[0].after_attempt == Attempt());
  CHECK(d.entries[1].key == b);
  CHECK(d.entries[1].after_step == StepIndex(12));
  CHECK(d.entries[1].after_attempt == Attempt(2));

  RunResult run;
  run.exit_code = 3;
  const std::string message = EncodeMessage(Message(TaskResults{{TaskResult{a, run}}, 5}));
  // The encoder from a view writes what the struct's codec writes.
  std::string from_view, from_struct;
  EncodeResultsRecord(9, message, &from_view);
  EncodeRecordOf(ResultsRecord{9, Blob{message}}, &from_struct);
  CHECK(from_view == from_struct);
  const ResultsRecord r = RoundTrip(ResultsRecord{9, Blob{message}});
  CHECK(r.worker_number == 9);
  CHECK(r.message.bytes == message);
}

TEST_CASE("dispatch and result records without a worker number (older brokers) decode") {
  // As the broker wrote them before WorkerRecord: the worker inline, no
  // trailing number.
  auto encode = [](auto&& fill) {
    msgpack::sbuffer buffer;
    msgpack::packer<msgpack::sbuffer> packer(buffer);
    fill(packer);
    return std::string(buffer.data(), buffer.size());
  };
  const std::string dispatch = encode([](auto& p) {
    p.pack_array(2);
    p.pack(static_cast<uint8_t>(RecordType::kDispatch));
    p.pack_array(5);
    p.pack(TaskKey{JobId(1), StepIndex(2), Attempt(3)});
    p.pack(std::string("instance-a"));
    p.pack(std::string("w1"));
    p.pack(uint32_t{0});
    p.pack(uint32_t{0});
  });
  Result<Record> d = DecodeRecord(dispatch);
  REQUIRE_MESSAGE(d.ok(), d.status().message());
  const auto& dr = std::get<DispatchRecord>(d.value());
  CHECK(dr.instance == "instance-a");
  CHECK(dr.worker == "w1");
  CHECK(dr.worker_number == 0);
  CHECK(dr.key == TaskKey{JobId(1), StepIndex(2), Attempt(3)});

  const std::string result = encode([](auto& p) {
    p.pack_array(2);
    p.pack(static_cast<uint8_t>(RecordType::kResult));
    p.pack_array(2);
    p.pack(std::string("instance-a"));
    p.pack(TaskResult{TaskKey{JobId(1), StepIndex(2), Attempt(3)}, RunResult{}});
  });
  Result<Record> r = DecodeRecord(result);
  REQUIRE_MESSAGE(r.ok(), r.status().message());
  CHECK(std::get<ResultRecord>(r.value()).instance == "instance-a");
  CHECK(std::get<ResultRecord>(r.value()).worker_number == 0);
}

}  // namespace
}  // namespace drover::broker
