// The codec against itself (every message round-trips) and against an
// independent encoder's bytes and hostile input (it never throws, and says
// what is wrong).

#include "shared/codec.h"

#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace drover {
namespace {

template <typename T>
T RoundTrip(const T& value) {
  const std::string bytes = EncodeMessage(Message(value));
  Result<Message> back = DecodeMessage(bytes);
  REQUIRE_MESSAGE(back.ok(), back.status().message());
  REQUIRE(std::holds_alternative<T>(back.value()));
  return std::get<T>(back.value());
}

TEST_CASE("every message type survives a round trip") {
  Task task;
  task.key = {JobId(42), StepIndex(7), Attempt(3)};
  task.step_id = "compile";
  task.argv = {"/bin/sh", "-c", "echo hi"};
  task.env = {{"A", "1"}, {"B", "two"}};
  task.cwd = "/tmp";
  task.stdin_data.bytes = std::string("bin\0ary", 7);
  task.timeout_ms = 1500;
  task.slots = 2;
  Dispatch d = RoundTrip(Dispatch{{task, task}});
  REQUIRE(d.tasks.size() == 2);
  CHECK(d.tasks[1].key == task.key);
  CHECK(d.tasks[1].argv == task.argv);
  CHECK(d.tasks[1].env == task.env);
  CHECK(d.tasks[1].stdin_data == task.stdin_data);
  CHECK(d.tasks[1].timeout_ms == 1500);

  RunResult run;
  run.outcome = Outcome::kSignaled;
  run.signal = 9;
  run.started_ms = 1700000000000;
  run.ended_ms = 1700000000123;
  run.max_rss_kb = 2048;
  TaskResults r = RoundTrip(TaskResults{{TaskResult{task.key, run}}});
  CHECK(r.results[0].run.outcome == Outcome::kSignaled);
  CHECK(r.results[0].run.ended_ms == 1700000000123);

  CHECK(RoundTrip(WorkerHello{kProtocolVersion, "w1", "host", 8, {"gpu"}, 123, 0, "inst", "prev",
                              {TaskKey{JobId(2), StepIndex(3), Attempt(4)}}})
            .held.at(0)
            .step == StepIndex(3));
  CHECK(RoundTrip(Welcome{kProtocolVersion, WorkerId(5), 250}).worker == WorkerId(5));
  CHECK(RoundTrip(ErrorReply{ErrorCode::kUnknownJob, "no job 9"}).message == "no job 9");
  CHECK(RoundTrip(TaskOutput{task.key, Stream::kStderr, Blob{"x\n"}}).stream == Stream::kStderr);
  CHECK(RoundTrip(OutputCredit{1 << 30}).consumed == 1 << 30);
  CHECK(RoundTrip(JobAccepted{JobId(3), "diamond", {"a", "b"}}).step_ids.size() == 2);
  CHECK(RoundTrip(JobRejected{{"steps[0].id: bad"}}).problems.size() == 1);
  CHECK(RoundTrip(EventsAck{JobId(3), 999}).offset == 999);
  const TaskInput input = RoundTrip(TaskInput{task.key, 1ull << 33, Blob{"in"}, true});
  CHECK((input.key == task.key && input.offset == 1ull << 33 && input.data.bytes == "in" &&
         input.eof));
  const InputCredit credit = RoundTrip(InputCredit{task.key, 5, 9, true, false});
  CHECK((credit.consumed == 5 && credit.received == 9 && credit.resume && !credit.closed));
  run.stdout_bytes = 1ull << 40;
  CHECK(RoundTrip(TaskResults{{TaskResult{task.key, run}}}).results[0].run.stdout_bytes ==
        1ull << 40);
  RoundTrip(Heartbeat{});
  RoundTrip(Goodbye{});
  RoundTrip(StatusRequest{});
}

TEST_CASE("the bulk encoders write exactly what EncodeMessage writes") {
  const TaskKey key{JobId(1ull << 40), StepIndex(70000), Attempt(3)};
  for (const std::string& data : {std::string(), std::string("line\n"), std::string(100000, 'x')}) {
    std::string direct;
    EncodeTaskOutput(key, Stream::kStderr, data, 1ull << 33, &direct);
    CHECK(direct == EncodeMessage(TaskOutput{key, Stream::kStderr, Blob{data}, 1ull << 33}));
    direct.clear();
    for (bool last : {false, true}) {
      direct.clear();
      EncodeJobEvents(JobId(9), 123456789, data, last, &direct);
      CHECK(direct == EncodeMessage(JobEvents{JobId(9), 123456789, Blob{data}, last}));
      direct.clear();
      EncodeTaskInput(key, 1ull << 35, data, last, &direct);
      CHECK(direct == EncodeMessage(TaskInput{key, 1ull << 35, Blob{data}, last}));
    }
  }
}

TEST_CASE("a dispatch encoded from its steps is the Dispatch of their copies") {
  StepSpec plain;
  plain.id = "compile";
  plain.argv = {"cc", "-c", "a.c"};
  plain.env = {{"CC", "gcc"}, {"LANG", "C"}};
  plain.cwd = "/src";
  plain.timeout_ms = 70000;
  plain.slots = 2;
  StepSpec shell;
  shell.id = "s";
  shell.argv = {"echo hi | wc -c"};
  shell.shell = true;
  const std::string input(70000, 'i');  // a bin 32 length
  const ResourceList wants = {{"gpus", 2}, {"mem", 4ull << 30}};
  const std::vector<TaskRef> refs = {
      {.key = TaskKey{JobId(1ull << 40), StepIndex(70000), Attempt(3)}, .step = &plain,
       .stdin_data = input, .lease_ms = 30000, .resources = &wants},
      // No stdin: a view with no data pointer (the sink must not memcpy from it).
      {.key = TaskKey{JobId(2), StepIndex(1), Attempt(1)}, .step = &shell,
       .stdin_data = std::string_view(), .lease_ms = 1u << 31, .after_step = StepIndex(0),
       .after_attempt = Attempt(2), .stdin_stream = true},
  };
  Dispatch copies;
  copies.results_acked = 1ull << 35;
  for (const TaskRef& ref : refs) {
    Task task;
    task.key = ref.key;
    task.step_id = ref.step->id;
    task.argv = ref.step->shell ? std::vector<std::string>{"/bin/sh", "-c", ref.step->argv[0]}
                                : ref.step->argv;
    task.env = ref.step->env;
    task.cwd = ref.step->cwd;
    task.stdin_data.bytes = std::string(ref.stdin_data);
    task.timeout_ms = ref.step->timeout_ms;
    task.slots = ref.step->slots;
    task.after_step = ref.after_step;
    task.after_attempt = ref.after_attempt;
    task.lease_ms = ref.lease_ms;
    if (ref.resources != nullptr) task.resources = *ref.resources;
    task.stdin_stream = ref.stdin_stream;
    copies.tasks.push_back(std::move(task));
  }
  const std::string expected = EncodeMessage(copies);
  std::string direct = "prefix";
  EncodeDispatch(refs.data(), refs.size(), copies.results_acked, &direct);
  CHECK(direct == "prefix" + expected);
  CHECK(EncodedTaskBytes(refs[0]) + EncodedTaskBytes(refs[1]) >= expected.size());
  Result<Message> decoded = DecodeMessage(expected);
  REQUIRE(decoded.ok());
  const Dispatch& back = std::get<Dispatch>(decoded.value());
  REQUIRE(back.tasks.size() == 2);
  CHECK(back.tasks[0].env == plain.env);
  CHECK(back.tasks[0].resources == wants);
  CHECK(back.tasks[1].resources.empty());
  CHECK(back.tasks[1].argv == std::vector<std::string>{"/bin/sh", "-c", "echo hi | wc -c"});
  CHECK(back.tasks[1].follows());
  CHECK(back.tasks[1].stdin_stream);
  CHECK_FALSE(back.tasks[0].stdin_stream);
  std::string empty;
  EncodeDispatch(nullptr, 0, 0, &empty);
  CHECK(empty == EncodeMessage(Dispatch{}));
}

TEST_CASE("event records are framed and decode in order") {
  std::string log;
  AppendEventRecord(StepStarted{StepIndex(1), Attempt(1), "w1"}, &log);
  AppendEventRecord(StepOutput{StepIndex(1), Attempt(1), Stream::kStdout, Blob{"hello\n"}}, &log);
  AppendEventRecord(StepEnded{StepIndex(1), Attempt(1), StepState::kSucceeded, "", "w1", RunResult{}},
                    &log);
  AppendEventRecord(JobEnded{JobState::kSucceeded, {0, 0, 0, 1}}, &log);
  Result<std::vector<Event>> events = DecodeEventRecords(log);
  REQUIRE(events.ok());
  REQUIRE(events->size() == 4);
  CHECK(std::get<StepOutput>(events.value()[1]).data.bytes == "hello\n");
  CHECK(std::get<StepEnded>(events.value()[2]).run.has_value());
  CHECK(WholeRecordsPrefix(log) == log.size());
  CHECK(WholeRecordsPrefix(std::string_view(log).substr(0, log.size() - 1)) < log.size());
  CHECK_FALSE(DecodeEventRecords(std::string_view(log).substr(0, log.size() - 1)).ok());
}

TEST_CASE("StepStarted carries when it was dispatched, and an older log's decodes to 0") {
  std::string log;
  AppendEventRecord(StepStarted{StepIndex(2), Attempt(3), "w1", 1'700'000'000'123}, &log);
  // [1, [step, attempt, worker]]: a record written before at_ms was kept.
  const std::string old("\x92\x01\x93\x02\x01\xa2w2", 8);
  const uint32_t size = static_cast<uint32_t>(old.size());
  log += std::string{static_cast<char>(size), 0, 0, 0} + old;
  Result<std::vector<Event>> events = DecodeEventRecords(log);
  REQUIRE_MESSAGE(events.ok(), events.status().message());
  REQUIRE(events->size() == 2);
  CHECK(std::get<StepStarted>(events.value()[0]).at_ms == 1'700'000'000'123);
  const StepStarted& before = std::get<StepStarted>(events.value()[1]);
  CHECK(before.worker == "w2");
  CHECK(before.attempt == Attempt(1));
  CHECK(before.at_ms == 0);
}

TEST_CASE("hostile bytes give an error, never an exception or a huge allocation") {
  const std::vector<std::string> inputs = {
      "",
      std::string("\xdd\xff\xff\xff\xff", 5),  // array of 4G elements
      std::string("\xdf\xff\xff\xff\xff", 5),  // map of 4G pairs
      std::string("\xc6\xff\xff\xff\xff", 5),  // bin of 4 GiB
      "\x92\x01",                              // truncated
      "\x92\xcc\xff\x90",                      // unknown type 255
      "\x92\x14\x91\x91\x91",                  // Dispatch with garbage tasks
      std::string(100, '\x91') + '\x00',        // nested 100 deep
      std::string("\x92\x0c\x93\xa1x\x00\x00", 7),  // Welcome with a string version
      "\xc1",                                  // never-used byte
      std::string("\x92\x01\x90\x00", 4),     // stray trailing byte
  };
  for (const std::string& in : inputs) {
    CAPTURE(in);
    Result<Message> m = DecodeMessage(in);
    REQUIRE_FALSE(m.ok());
    CHECK_FALSE(m.status().message().empty());
  }
}

TEST_CASE("a hostile count is refused by the scan, before msgpack-c allocates for it") {
  // 1M elements pass msgpack-c's own limit (max_array) and would cost 16 MB
  // or more a level; nested, gigabytes.
  std::string nested = "\x92\x05";
  for (int i = 0; i < 15; ++i) nested += std::string("\xdd\x00\x0f\xff\xff", 5);
  Result<Message> m = DecodeMessage(nested);
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().message() ==
        "the array at offset 2 declares 1048575 elements but only 70 bytes remain");

  std::string records("\x05\x00\x00\x00\xdd\x00\x0f\xff\xff", 9);
  Result<std::vector<Event>> events = DecodeEventRecords(records);
  REQUIRE_FALSE(events.ok());
  CHECK(events.status().message() ==
        "event record: the array at offset 0 declares 1048575 elements but only 0 bytes remain");

  m = DecodeMessage(std::string("\x92\x01\xd4\x01\x00", 5));
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().message() == "an ext value (type byte 0xd4) at offset 2: ext types are not accepted");
}

TEST_CASE("the fuzz corpus's valid messages still decode") {
  // tests/fuzz/make_seeds.cc wrote them; if the protocol changes, rerun it.
  const std::filesystem::path dir = DROVER_SOURCE_DIR "/tests/fuzz/corpus/message";
  size_t seen = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CAPTURE(name);
    const bool valid = name.rfind("valid-", 0) == 0;
    CHECK(DecodeMessage(bytes).ok() == valid);
    seen += valid;
  }
  CHECK(seen == std::variant_size_v<Message>);
}

TEST_CASE("an enum value out of range is refused") {
  std::string bytes = EncodeMessage(TaskOutput{{JobId(1), StepIndex(0), Attempt(1)}, Stream::kStderr, Blob{"x"}});
  // [type, [job, step, attempt, stream, data]]: the stream byte precedes the bin header.
  const size_t at = bytes.find('\xc4') - 1;
  REQUIRE(bytes[at] == 1);
  bytes[at] = 7;
  Result<Message> m = DecodeMessage(bytes);
  CHECK_FALSE(m.ok());
}

TEST_CASE("messages with extra trailing fields still decode (forward compatibility)") {
  // Welcome is [12, [version, worker, heartbeat_ms, liveness]]; a newer peer
  // adds a field.
  const std::string bytes("\x92\x0c\x95\x01\x05\xcd\x03\xe8\x05\xa5" "extra", 15);
  Result<Message> m = DecodeMessage(bytes);
  REQUIRE_MESSAGE(m.ok(), m.status().message());
  CHECK(std::get<Welcome>(m.value()).heartbeat_ms == 1000);
}

TEST_CASE("cancelling without cleanup and resuming with an edited file round-trip") {
  CHECK(RoundTrip(CancelJob{JobId(4), true}).now);
  CHECK(RoundTrip(CancelAccepted{JobId(4), 2}).cleanup_left == 2);
  const Blob file{std::string("\x81\0", 2)};
  CHECK(RoundTrip(ResumeJob{JobId(4), true, "k", file}).job_file == file);
  JobAccepted accepted{JobId(7), "j", {"fetch", "build", "clean"}};
  accepted.cleanup_steps = {2};
  accepted.resumed_from = JobId(4);
  accepted.carried = {0, 1};
  accepted.dropped = {"lint"};
  const JobAccepted back = RoundTrip(accepted);
  CHECK(back.cleanup_steps == std::vector<uint32_t>{2});
  CHECK(back.resumed_from == JobId(4));
  CHECK(back.carried == std::vector<uint32_t>{0, 1});
  CHECK(back.dropped == std::vector<std::string>{"lint"});
}

TEST_CASE("an older peer's messages, without the fields added since, decode to the defaults") {
  // CancelJob [42, [job]]: a cancel with cleanup.
  Result<Message> cancel = DecodeMessage(std::string("\x92\x2a\x91\x05", 4));
  REQUIRE_MESSAGE(cancel.ok(), cancel.status().message());
  CHECK(std::get<CancelJob>(cancel.value()).job == JobId(5));
  CHECK_FALSE(std::get<CancelJob>(cancel.value()).now);
  // ResumeJob [45, [job, follow, key]]: the job's own file.
  Result<Message> resume = DecodeMessage(std::string("\x92\x2d\x93\x05\xc3\xa1k", 7));
  REQUIRE_MESSAGE(resume.ok(), resume.status().message());
  CHECK(std::get<ResumeJob>(resume.value()).job_file.bytes.empty());
  // JobAccepted [50, [job, name, step_ids]]: not resumed, no cleanup steps.
  Result<Message> accepted = DecodeMessage(std::string("\x92\x32\x93\x07\xa1j\x91\xa1\x61", 9));
  REQUIRE_MESSAGE(accepted.ok(), accepted.status().message());
  CHECK(std::get<JobAccepted>(accepted.value()).resumed_from == JobId());
  CHECK(std::get<JobAccepted>(accepted.value()).cleanup_steps.empty());
}

TEST_CASE("a run's duration from a worker's times is never negative and never overflows") {
  // The times arrive over the wire: decode them as a hostile worker would
  // send them, then ask how long the attempt ran.
  auto duration = [](int64_t started, int64_t ended) {
    RunResult run;
    run.started_ms = started;
    run.ended_ms = ended;
    TaskResults sent;
    sent.results.push_back(TaskResult{{JobId(1), StepIndex(0), Attempt(1)}, run});
    return RoundTrip(sent).results.at(0).run.duration_ms();
  };
  CHECK(duration(1'700'000'000'000, 1'700'000'000'250) == 250);
  CHECK(duration(1'700'000'000'250, 1'700'000'000'000) == 0);  // clock stepped back
  CHECK(duration(0, 1'700'000'000'000) == 0);                  // never started
  CHECK(duration(INT64_MIN, INT64_MAX) == 0);                  // would overflow
  CHECK(duration(1, INT64_MAX) == INT64_MAX - 1);
}

}  // namespace
}  // namespace drover
