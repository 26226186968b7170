// Writes the seed corpus of the fuzz targets: tests/fuzz/corpus/<target>/.
// Usage: drover_fuzz_seeds SOURCE_DIR (the repository; the corpus is
// rewritten in place and committed). Each seed's name says what it is:
// valid-<type> is one valid encoding of that type; hostile-* and truncated-*
// are what an attacker or a torn write would send.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <variant>

#include "broker/recovery.h"
#include "shared/codec.h"
#include "shared/job_load.h"

namespace drover {
namespace {

namespace fs = std::filesystem;

void Write(const fs::path& dir, const std::string& name, const std::string& bytes) {
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary) << bytes;
}

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Calls f(T{}) for every alternative T of Variant.
template <typename Variant, typename F>
void ForEachAlternative(F f) {
  [&]<size_t... I>(std::index_sequence<I...>) {
    (f(std::variant_alternative_t<I, Variant>{}), ...);
  }
  (std::make_index_sequence<std::variant_size_v<Variant>>{});
}

// Hostile MessagePack that every decoder must refuse cheaply.
void WriteHostile(const fs::path& dir) {
  Write(dir, "hostile-array32-4G", std::string("\xdd\xff\xff\xff\xff", 5));
  Write(dir, "hostile-map32-4G", std::string("\xdf\xff\xff\xff\xff", 5));
  Write(dir, "hostile-array32-1M", std::string("\xdd\x00\x0f\xff\xff", 5));
  Write(dir, "hostile-bin32-4G", std::string("\xc6\xff\xff\xff\xff", 5));
  Write(dir, "hostile-str32-4G", std::string("\xdb\xff\xff\xff\xff", 5));
  std::string nested;
  for (int i = 0; i < 16; ++i) nested += std::string("\xdd\x00\x0f\xff\xff", 5);
  Write(dir, "hostile-nested-1M-arrays", nested);
  Write(dir, "hostile-deep-arrays", std::string(1000, '\x91') + '\x00');
  Write(dir, "hostile-deep-maps", [] {
    std::string s;
    for (int i = 0; i < 1000; ++i) s += "\x81\xa1k";
    return s + '\x00';
  }());
  Write(dir, "hostile-ext", std::string("\x92\x01\xd4\x01\x00", 5));
  Write(dir, "hostile-never-used-byte", "\xc1");
  Write(dir, "hostile-empty", "");
}

// The first half of `bytes`, and all but its last byte.
void WriteTruncated(const fs::path& dir, const std::string& name, const std::string& bytes) {
  if (bytes.size() < 2) return;
  Write(dir, "truncated-half-" + name, bytes.substr(0, bytes.size() / 2));
  Write(dir, "truncated-last-" + name, bytes.substr(0, bytes.size() - 1));
}

int Run(const fs::path& source) {
  const fs::path corpus = source / "tests/fuzz/corpus";
  const std::string diamond = ReadAll(source / "examples/diamond.msgpack");

  Task task;
  task.key = {JobId(3), StepIndex(1), Attempt(2)};
  task.step_id = "compile";
  task.argv = {"/bin/sh", "-c", "make"};
  task.env = {{"LANG", "C"}};
  task.cwd = "/src";
  task.stdin_data.bytes = "input";
  task.timeout_ms = 60000;
  task.resources = {{"gpus", 1}};
  TaskResult result;
  result.key = task.key;
  result.run.error = "exec failed";

  const fs::path message = corpus / "message";
  ForEachAlternative<Message>([&](auto value) {
    using T = decltype(value);
    if constexpr (std::is_same_v<T, Dispatch>) value.tasks = {task, task};
    if constexpr (std::is_same_v<T, TaskResults>) value.results = {result};
    if constexpr (std::is_same_v<T, SubmitJob>) value.job.bytes = diamond;
    if constexpr (std::is_same_v<T, Retract> || std::is_same_v<T, RetractDeclined>) {
      value.keys = {task.key, result.key};
    }
    if constexpr (std::is_same_v<T, WorkerHello>) {
      value.name = "worker-a";
      value.labels = {"x86"};
      value.held = {task.key};
      value.resources = {{"gpus", 2}, {"mem", 8ull << 30}};
    }
    if constexpr (std::is_same_v<T, JobEvents>) {
      AppendEventRecord(StepStarted{StepIndex(0), Attempt(1), "w"}, &value.records.bytes);
    }
    const std::string name = MessageTypeName(T::kType);
    const std::string bytes = EncodeMessage(Message(value));
    Write(message, "valid-" + name, bytes);
    WriteTruncated(message, name, bytes);
  });
  WriteHostile(message);

  const fs::path events = corpus / "event_records";
  std::string all_events;
  ForEachAlternative<Event>([&](auto value) {
    using T = decltype(value);
    if constexpr (std::is_same_v<T, StepEnded>) value.run = result.run;
    if constexpr (std::is_same_v<T, StepOutput>) value.data.bytes = "hello\n";
    if constexpr (std::is_same_v<T, StepWaiting>) value.reason = "no worker has mem 8G";
    std::string bytes;
    AppendEventRecord(Event(value), &bytes);
    const std::string name = "event" + std::to_string(static_cast<int>(T::kType));
    Write(events, "valid-" + name, bytes);
    WriteTruncated(events, name, bytes);
    all_events += bytes;
  });
  Write(events, "valid-all", all_events);
  Write(events, "hostile-length-4G", std::string("\xff\xff\xff\xff\x92\x01\x90", 7));
  Write(events, "hostile-array32-4G", std::string("\x05\x00\x00\x00\xdd\xff\xff\xff\xff", 9));

  const fs::path journal = corpus / "journal_record";
  ForEachAlternative<broker::Record>([&](auto value) {
    using T = decltype(value);
    if constexpr (std::is_same_v<T, broker::JobRecord> ||
                  std::is_same_v<T, broker::RunningRecord>) {
      value.job_file.bytes = diamond;
    }
    if constexpr (std::is_same_v<T, broker::ResultRecord>) value.result = result;
    if constexpr (std::is_same_v<T, broker::ResultsRecord>) {
      value.message.bytes = EncodeMessage(Message(TaskResults{{result}, 1}));
    }
    if constexpr (std::is_same_v<T, broker::DispatchesRecord>) {
      value.entries.push_back({result.key, StepIndex(), Attempt()});
    }
    std::string bytes;
    broker::EncodeRecord(broker::Record(value), &bytes);
    const std::string name = "record" + std::to_string(static_cast<int>(T::kType));
    Write(journal, "valid-" + name, bytes);
    WriteTruncated(journal, name, bytes);
  });
  WriteHostile(journal);

  const fs::path job_msgpack = corpus / "job_msgpack";
  const fs::path job_json = corpus / "job_json";
  for (const char* example : {"diamond", "pipeline", "sweep"}) {
    const std::string packed = ReadAll(source / "examples" / (std::string(example) + ".msgpack"));
    const std::string text = ReadAll(source / "examples" / (std::string(example) + ".json"));
    Write(job_msgpack, std::string("valid-") + example, packed);
    WriteTruncated(job_msgpack, example, packed);
    Write(job_json, std::string("valid-") + example, text);
    WriteTruncated(job_json, example, text);
  }
  WriteHostile(job_msgpack);
  Write(job_json, "hostile-deep-arrays", std::string(5000, '[') + std::string(5000, ']'));
  Write(job_json, "hostile-deep-objects", [] {
    std::string s;
    for (int i = 0; i < 2000; ++i) s += "{\"a\":";
    return s + "1" + std::string(2000, '}');
  }());
  Write(job_json, "hostile-key-twice", R"({"steps": [{"id": "a", "cmd": "x", "cmd": "y"}]})");
  Write(job_json, "hostile-huge-number",
        R"({"steps": [{"id": "a", "cmd": "x", "timeout": 1e999}]})");
  Write(job_json, "hostile-bad-utf8", "{\"name\": \"\xff\xfe\", \"steps\": []}");
  return 0;
}

}  // namespace
}  // namespace drover

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: drover_fuzz_seeds SOURCE_DIR\n");
    return 2;
  }
  return drover::Run(argv[1]);
}
