#include "shared/job_load.h"

#include <doctest/doctest.h>

#include <msgpack.hpp>
#include <nlohmann/json.hpp>
#include <random>
#include <span>
#include <string>
#include <vector>

namespace drover {
namespace {

std::string ToMsgpack(std::string_view json) {
  Result<std::string> bytes = JsonToMsgpack(json);
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().message());
  return *bytes;
}

LoadedJob LoadJson(std::string_view json, const JobLimits& limits = {}) {
  return LoadJob(ToMsgpack(json), limits);
}

std::vector<std::string> Problems(const LoadedJob& loaded) {
  std::vector<std::string> lines;
  for (const Problem& p : loaded.problems) lines.push_back(FormatProblem(p));
  return lines;
}

// The one problem with `json`; fails the test if there is not exactly one.
std::string OnlyProblem(std::string_view json, const JobLimits& limits = {}) {
  const LoadedJob loaded = LoadJson(json, limits);
  const std::vector<std::string> lines = Problems(loaded);
  REQUIRE_MESSAGE(lines.size() == 1, doctest::toString(lines));
  CHECK_FALSE(loaded.spec.has_value());
  return lines[0];
}

std::string OnlyProblemInBytes(std::string_view bytes) {
  const LoadedJob loaded = LoadJob(bytes);
  REQUIRE(loaded.problems.size() == 1);
  CHECK_FALSE(loaded.spec.has_value());
  return FormatProblem(loaded.problems[0]);
}

// A copy, so `const JobSpec& job = Spec(LoadJson(...))` stays valid.
JobSpec Spec(const LoadedJob& loaded) {
  REQUIRE_MESSAGE(loaded.spec.has_value(), doctest::toString(Problems(loaded)));
  return *loaded.spec;
}

template <typename Fill>
std::string Pack(Fill fill) {
  msgpack::sbuffer buffer;
  msgpack::packer<msgpack::sbuffer> packer(buffer);
  fill(packer);
  return std::string(buffer.data(), buffer.size());
}

// {"steps": [{"id": "s0", "cmd": "true"}, {"id": "s1", "cmd": "true", "after": [...]}, ...]}
// where step i comes after the steps edges(i) returns.
template <typename Edges>
std::string GeneratedJob(uint32_t count, Edges edges) {
  return Pack([&](auto& p) {
    p.pack_map(1);
    p.pack(std::string("steps"));
    p.pack_array(count);
    for (uint32_t i = 0; i < count; ++i) {
      const std::vector<uint32_t> after = edges(i);
      p.pack_map(after.empty() ? 2 : 3);
      p.pack(std::string("id"));
      p.pack("s" + std::to_string(i));
      p.pack(std::string("cmd"));
      p.pack(std::string("true"));
      if (after.empty()) continue;
      p.pack(std::string("after"));
      p.pack_array(static_cast<uint32_t>(after.size()));
      for (uint32_t a : after) p.pack("s" + std::to_string(a));
    }
  });
}

std::vector<uint32_t> Indices(std::span<const StepIndex> after) {
  std::vector<uint32_t> out;
  for (StepIndex s : after) out.push_back(s.value);
  return out;
}

}  // namespace

TEST_CASE("a minimal job gets every default") {
  const LoadedJob loaded = LoadJson(R"({"steps": [{"id": "hello", "cmd": "echo hi"}]})");
  CHECK(loaded.problems.empty());
  const JobSpec& job = Spec(loaded);
  CHECK(job.name.empty());
  CHECK(job.max_parallel == 0);
  REQUIRE(job.steps.size() == 1);
  const StepSpec& s = job.steps[0];
  CHECK(s.id == "hello");
  CHECK(s.shell);
  CHECK(s.argv == std::vector<std::string>{"echo hi"});
  CHECK(s.retry_delay_ms == 0);
  CHECK(s.after.empty());
  CHECK(s.when == When::kSuccess);
  CHECK_FALSE(s.stdin_data.has_value());
  CHECK(s.StdinFrom().empty());
  CHECK(s.env.empty());
  CHECK(s.cwd.empty());
  CHECK(s.timeout_ms == 0);
  CHECK(s.retries == 0);
  CHECK(s.slots == 1);
  CHECK(s.requires_labels.empty());
  CHECK(s.priority == 0);
}

TEST_CASE("every step field is read") {
  const LoadedJob loaded = LoadJson(R"({
    "name": "nightly", "max_parallel": 4,
    "steps": [
      {"id": "a", "argv": ["printf", "%s\n", "x y"], "cwd": "/tmp", "timeout": 1.5,
       "retries": 2, "slots": 3, "requires": ["gpu", "arch=x86_64", "gpu", "a:b+c"],
       "priority": -7, "env": {"B": "2", "A": "1"}, "stdin": "input\n"},
      {"id": "b.2", "cmd": "cat", "after": ["a"], "when": "always", "timeout": 0.0001},
      {"id": "c_3", "cmd": "cat", "after": ["b.2", "a"], "when": "failure", "timeout": 30}
    ]})");
  const JobSpec& job = Spec(loaded);
  CHECK(job.name == "nightly");
  CHECK(job.max_parallel == 4);
  const StepSpec& a = job.steps[0];
  CHECK(a.argv == std::vector<std::string>{"printf", "%s\n", "x y"});
  CHECK_FALSE(a.shell);
  CHECK(a.cwd == "/tmp");
  CHECK(a.timeout_ms == 1500);
  CHECK(a.retries == 2);
  CHECK(a.slots == 3);
  CHECK(a.requires_labels == std::vector<std::string>{"a:b+c", "arch=x86_64", "gpu"});
  CHECK(a.priority == -7);
  CHECK(a.env == EnvList{{"B", "2"}, {"A", "1"}});
  CHECK(a.stdin_data == "input\n");
  CHECK(job.steps[1].when == When::kAlways);
  CHECK(job.steps[1].timeout_ms == 1);  // rounded up, never to "no timeout"
  CHECK(Indices(job.steps[1].after) == std::vector<uint32_t>{0});
  CHECK(job.steps[2].when == When::kFailure);
  CHECK(job.steps[2].timeout_ms == 30000);
  CHECK(Indices(job.steps[2].after) == std::vector<uint32_t>{1, 0});
}

TEST_CASE("WhenName") {
  CHECK(std::string(WhenName(When::kSuccess)) == "success");
  CHECK(std::string(WhenName(When::kAlways)) == "always");
  CHECK(std::string(WhenName(When::kFailure)) == "failure");
}

TEST_CASE("after keeps the order listed and collapses repeats") {
  const JobSpec& job = Spec(LoadJson(R"({"steps": [
    {"id": "x", "cmd": "true"}, {"id": "y", "cmd": "true"}, {"id": "z", "cmd": "true"},
    {"id": "w", "cmd": "true", "after": ["z", "x", "z", "y", "x"]}]})"));
  CHECK(Indices(job.steps[3].after) == std::vector<uint32_t>{2, 0, 1});
}

TEST_CASE("stdin_from implies after") {
  const LoadedJob loaded = LoadJson(R"({"steps": [
    {"id": "gen", "cmd": "seq 3"},
    {"id": "other", "cmd": "true"},
    {"id": "sum", "cmd": "paste -sd+", "stdin_from": "gen", "after": ["other"]},
    {"id": "again", "cmd": "cat", "after": ["gen", "other"], "stdin_from": "gen"}]})");
  const JobSpec& job = Spec(loaded);
  CHECK(Indices(job.steps[2].StdinFrom()) == std::vector<uint32_t>{0});
  // The stdin_from steps lead `after` (job_spec.h invariant 3).
  CHECK(Indices(job.steps[2].after) == std::vector<uint32_t>{0, 1});
  CHECK(job.steps[2].stdin_from_count == 1);
  CHECK(Indices(job.steps[3].after) == std::vector<uint32_t>{0, 1});
  CHECK(job.steps[3].stdin_from_count == 1);
  CHECK(job.steps[1].stdin_from_count == 0);
}

TEST_CASE("defaults apply unless a step sets the field, and env merges") {
  const JobSpec& job = Spec(LoadJson(R"({
    "defaults": {"timeout": 60, "retries": 1, "slots": 2, "when": "always", "cwd": "/srv",
                 "requires": ["linux"], "priority": 5, "stdin": "default input",
                 "env": {"LANG": "C", "MODE": "fast"}},
    "steps": [
      {"id": "plain", "cmd": "true"},
      {"id": "own", "cmd": "true", "timeout": 5, "retries": 0, "slots": 1, "when": "success",
       "cwd": "/", "requires": [], "priority": 0, "stdin": "",
       "env": {"MODE": "slow", "EXTRA": "1"}},
      {"id": "piped", "cmd": "cat", "stdin_from": "plain"}]})"));
  const StepSpec& plain = job.steps[0];
  CHECK(plain.timeout_ms == 60000);
  CHECK(plain.retries == 1);
  CHECK(plain.slots == 2);
  CHECK(plain.when == When::kAlways);
  CHECK(plain.cwd == "/srv");
  CHECK(plain.requires_labels == std::vector<std::string>{"linux"});
  CHECK(plain.priority == 5);
  CHECK(plain.stdin_data == "default input");
  CHECK(plain.env == EnvList{{"LANG", "C"}, {"MODE", "fast"}});

  const StepSpec& own = job.steps[1];
  CHECK(own.timeout_ms == 5000);
  CHECK(own.retries == 0);
  CHECK(own.slots == 1);
  CHECK(own.when == When::kSuccess);
  CHECK(own.cwd == "/");
  CHECK(own.requires_labels.empty());
  CHECK(own.priority == 0);
  CHECK(own.stdin_data == "");
  CHECK(own.env == EnvList{{"LANG", "C"}, {"MODE", "slow"}, {"EXTRA", "1"}});

  // A step that reads another's output does not also get the default stdin.
  CHECK_FALSE(job.steps[2].stdin_data.has_value());
  CHECK(job.steps[2].StdinFrom().size() == 1);
}

TEST_CASE("defaults may not say what a step runs or where it sits") {
  const LoadedJob loaded = LoadJson(R"({
    "defaults": {"cmd": "true", "argv": ["true"], "id": "x", "after": [], "stdin_from": "x",
                 "retires": 1},
    "steps": [{"id": "a", "cmd": "true"}]})");
  CHECK(Problems(loaded) ==
        std::vector<std::string>{
            "defaults.cmd: not allowed in defaults (each step says what it runs)",
            "defaults.argv: not allowed in defaults (each step says what it runs)",
            "defaults.id: not allowed in defaults (each step has its own id)",
            "defaults.after: not allowed in defaults (each step lists its own)",
            "defaults.stdin_from: not allowed in defaults (each step names its own)",
            "defaults.retires: unknown field (did you mean \"retries\"?)",
        });
}

TEST_CASE("a bad default is reported once, not once per step") {
  const LoadedJob loaded = LoadJson(R"({
    "defaults": {"timeout": "10s", "env": {"A": 1}},
    "steps": [{"id": "a", "cmd": "true"}, {"id": "b", "cmd": "true"},
              {"id": "c", "cmd": "true", "env": {"B": "2"}}]})");
  CHECK(Problems(loaded) ==
        std::vector<std::string>{
            "defaults.timeout: expected a number of seconds, got string \"10s\"",
            "defaults.env.A: expected a string, got integer 1",
        });
}

TEST_CASE("unknown steps get a hint when one is close") {
  CHECK(OnlyProblem(R"({"steps": [
    {"id": "fetch", "cmd": "true"}, {"id": "build", "cmd": "true"},
    {"id": "lint", "cmd": "true"},
    {"id": "test", "cmd": "true", "after": ["biuld"]}]})") ==
        "steps[3] (id \"test\").after[0]: unknown step \"biuld\" (did you mean \"build\"?)");
  CHECK(OnlyProblem(R"({"steps": [
    {"id": "generate", "cmd": "true"},
    {"id": "sum", "cmd": "true", "stdin_from": "genrate"}]})") ==
        "steps[1] (id \"sum\").stdin_from: unknown step \"genrate\" (did you mean \"generate\"?)");
  CHECK(OnlyProblem(R"({"steps": [
    {"id": "build", "cmd": "true"},
    {"id": "test", "cmd": "true", "after": ["deploy"]}]})") ==
        "steps[1] (id \"test\").after[0]: unknown step \"deploy\"");
  // One letter off a one-letter id is no evidence of a typo.
  CHECK(OnlyProblem(R"({"steps": [
    {"id": "a", "cmd": "true"}, {"id": "c", "cmd": "true", "after": ["b"]}]})") ==
        "steps[1] (id \"c\").after[0]: unknown step \"b\"");
}

TEST_CASE("ids are unique") {
  CHECK(OnlyProblem(R"({"steps": [
    {"id": "fetch", "cmd": "true"}, {"id": "build", "cmd": "true"},
    {"id": "lint", "cmd": "true"}, {"id": "test", "cmd": "true"},
    {"id": "build", "cmd": "true"}]})") ==
        "steps[4].id: duplicate id \"build\" (also steps[1].id)");
}

TEST_CASE("ids follow the id rules") {
  CHECK(OnlyProblem(R"({"steps": [{"id": "a b", "cmd": "true"}]})") ==
        "steps[0].id: invalid id \"a b\" (use only letters, digits, \"_\", \".\" and \"-\")");
  CHECK(OnlyProblem(R"({"steps": [{"id": "", "cmd": "true"}]})") ==
        "steps[0].id: must not be empty");
  const std::string long_id(129, 'x');
  CHECK(OnlyProblem(R"({"steps": [{"id": ")" + long_id + R"(", "cmd": "true"}]})") ==
        "steps[0].id: is 129 characters long, more than the limit of 128");
  CHECK(Spec(LoadJson(R"({"steps": [{"id": ")" + std::string(128, 'x') + R"(", "cmd": "true"}]})"))
            .steps.size() == 1);
  CHECK(OnlyProblem(R"({"steps": [{"cmd": "true"}]})") == "steps[0]: missing \"id\"");
  CHECK(OnlyProblem(R"({"steps": [{"id": 7, "cmd": "true"}]})") ==
        "steps[0].id: expected a string, got integer 7");
}

TEST_CASE("a bad id still resolves, so its dependents are not also reported") {
  CHECK(OnlyProblem(R"({"steps": [
    {"id": "a/b", "cmd": "true"}, {"id": "c", "cmd": "true", "after": ["a/b"]}]})") ==
        "steps[0].id: invalid id \"a/b\" (use only letters, digits, \"_\", \".\" and \"-\")");
}

TEST_CASE("cycles are reported once, in dependency order from the first step in the file") {
  CHECK(OnlyProblem(R"({"steps": [
    {"id": "a", "cmd": "true", "after": ["c"]},
    {"id": "b", "cmd": "true", "after": ["a"]},
    {"id": "c", "cmd": "true", "after": ["b"]}]})") ==
        "steps[0] (id \"a\").after[0]: dependency cycle: a -> c -> b -> a (\"->\" reads \"comes "
        "after\")");

  // Two separate cycles: two problems, each pointing at its own first step.
  const LoadedJob two = LoadJson(R"({"steps": [
    {"id": "ok", "cmd": "true"},
    {"id": "x", "cmd": "true", "after": ["ok", "y"]},
    {"id": "y", "cmd": "true", "after": ["x"]},
    {"id": "p", "cmd": "true", "after": ["q"]},
    {"id": "q", "cmd": "true", "stdin_from": "p"}]})");
  CHECK(Problems(two) == std::vector<std::string>{
                             "steps[1] (id \"x\").after[1]: dependency cycle: x -> y -> x (\"->\" "
                             "reads \"comes after\")",
                             "steps[3] (id \"p\").after[0]: dependency cycle: p -> q -> p (\"->\" "
                             "reads \"comes after\")",
                         });

  // Cycles sharing steps form one knot, reported once with its shortest cycle.
  CHECK(
      OnlyProblem(R"({"steps": [
    {"id": "a", "cmd": "true", "after": ["b", "c"]},
    {"id": "b", "cmd": "true", "after": ["c"]},
    {"id": "c", "cmd": "true", "after": ["a"]}]})") ==
      "steps[0] (id \"a\").after[1]: dependency cycle: a -> c -> a (\"->\" reads \"comes after\")");
}

TEST_CASE("a step cannot depend on itself") {
  CHECK(OnlyProblem(R"({"steps": [
    {"id": "a", "cmd": "true"}, {"id": "b", "cmd": "true"},
    {"id": "c", "cmd": "true", "after": ["c"]}]})") ==
        "steps[2] (id \"c\").after[0]: a step cannot come after itself");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "true", "stdin_from": "a"}]})") ==
        "steps[0] (id \"a\").stdin_from: a step cannot read its own output");
}

TEST_CASE("cycle detection runs on the references that resolved") {
  CHECK(Problems(LoadJson(R"({"steps": [
    {"id": "a", "cmd": "true", "after": ["b", "nope"]},
    {"id": "b", "cmd": "true", "after": ["a"]}]})")) ==
        std::vector<std::string>{
            "steps[0] (id \"a\").after[0]: dependency cycle: a -> b -> a (\"->\" reads \"comes "
            "after\")",
            "steps[0] (id \"a\").after[1]: unknown step \"nope\"",
        });
}

TEST_CASE("a step runs exactly one of argv or cmd") {
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "true"}, {"id": "b", "cmd": "true"},
    {"id": "c", "cmd": "true", "argv": ["true"]}]})") ==
        "steps[2] (id \"c\"): needs exactly one of \"argv\" or \"cmd\", found both");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "true"}, {"id": "b", "cmd": "true"},
    {"id": "c"}]})") ==
        "steps[2] (id \"c\"): needs exactly one of \"argv\" or \"cmd\", found neither");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "argv": []}]})") ==
        "steps[0] (id \"a\").argv: must not be empty (it starts with the program to run)");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "argv": ["", "x"]}]})") ==
        "steps[0] (id \"a\").argv[0]: the program to run must not be empty");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "argv": ["echo", 3]}]})") ==
        "steps[0] (id \"a\").argv[1]: expected a string, got integer 3");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": ""}]})") ==
        "steps[0] (id \"a\").cmd: must not be empty");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": ["echo"]}]})") ==
        "steps[0] (id \"a\").cmd: expected a string, got an array");
}

TEST_CASE("strings that exec receives carry no NUL byte") {
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "argv": ["echo", "a\u0000b"]}]})") ==
        "steps[0] (id \"a\").argv[1]: contains a NUL byte, which a command line cannot carry");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "echo \u0000"}]})") ==
        "steps[0] (id \"a\").cmd: contains a NUL byte, which a command line cannot carry");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "pwd", "cwd": "/tmp\u0000"}]})") ==
        "steps[0] (id \"a\").cwd: contains a NUL byte, which a directory name cannot carry");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "pwd", "cwd": ""}]})") ==
        "steps[0] (id \"a\").cwd: must not be empty");
}

TEST_CASE("wrong types say what was expected and what was found") {
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x"}, {"id": "b", "cmd": "x"},
    {"id": "c", "cmd": "x"}, {"id": "d", "cmd": "x", "retries": "3"}]})") ==
        "steps[3] (id \"d\").retries: expected an integer, got string \"3\"");
  CHECK(OnlyProblem(R"({"steps": {"a": {"cmd": "x"}}})") ==
        "steps: expected an array of steps, got a map");
  CHECK(OnlyProblem(R"({"steps": [["a"]]})") ==
        "steps[0]: expected a map of step fields, got an array");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "retries": 1.5}]})") ==
        "steps[0] (id \"a\").retries: expected an integer, got number 1.5");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "slots": null}]})") ==
        "steps[0] (id \"a\").slots: expected an integer, got null");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "priority": true}]})") ==
        "steps[0] (id \"a\").priority: expected an integer, got boolean true");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "after": "b"}]})") ==
        "steps[0] (id \"a\").after: expected an array of step ids, got string \"b\"");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "after": [1]}]})") ==
        "steps[0] (id \"a\").after[0]: expected a step id (a string), got integer 1");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "env": ["A=1"]}]})") ==
        "steps[0] (id \"a\").env: expected a map of variable names to values, got an array");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "stdin": 5}]})") ==
        "steps[0] (id \"a\").stdin: expected a string or binary data, got integer 5");
  CHECK(OnlyProblem(R"({"name": ["x"], "steps": [{"id": "a", "cmd": "x"}]})") ==
        "name: expected a string, got an array");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "requires": "gpu"}]})") ==
        "steps[0] (id \"a\").requires: expected an array of labels, got string \"gpu\"");
  // Long values are shortened.
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "retries": ")" + std::string(100, 'z') +
                    R"("}]})") ==
        "steps[0] (id \"a\").retries: expected an integer, got string \"" + std::string(40, 'z') +
            "...\"");
}

TEST_CASE("the file itself must be a map with steps") {
  const LoadedJob loaded = LoadJson(R"([1, 2])");
  REQUIRE(loaded.problems.size() == 1);
  CHECK(loaded.problems[0].path.empty());
  CHECK(FormatProblem(loaded.problems[0]) ==
        "expected a map of job fields (a JSON object), got an array");
  CHECK(OnlyProblem(R"({"name": "x"})") == "missing \"steps\" (the list of steps to run)");
  CHECK(OnlyProblem(R"({"steps": []})") == "steps: needs at least one step");
}

TEST_CASE("unknown fields get a hint") {
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x"}, {"id": "b", "cmd": "x"},
    {"id": "c", "cmdd": "x", "argv": ["x"]}]})") ==
        "steps[2] (id \"c\").cmdd: unknown field (did you mean \"cmd\"?)");
  CHECK(Problems(LoadJson(R"({"stpes": []})")) ==
        std::vector<std::string>{
            "missing \"steps\" (the list of steps to run)",
            "stpes: unknown field (did you mean \"steps\"?)",
        });
  CHECK(OnlyProblem(R"({"retries": 2, "steps": [{"id": "a", "cmd": "x"}]})") ==
        "retries: unknown field (\"retries\" is a step field: set it in each step, or in "
        "\"defaults\")");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "colour": "red"}]})") ==
        "steps[0] (id \"a\").colour: unknown field");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "my field": 1}]})") ==
        "steps[0] (id \"a\")[\"my field\"]: unknown field");
}

TEST_CASE("numbers out of range name the range") {
  CHECK(
      OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x"}, {"id": "b", "cmd": "x", "slots": 0}]})") ==
      "steps[1] (id \"b\").slots: must be between 1 and 65536, got 0");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "slots": 65537}]})") ==
        "steps[0] (id \"a\").slots: must be between 1 and 65536, got 65537");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "retries": -1}]})") ==
        "steps[0] (id \"a\").retries: must be between 0 and 100, got -1");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "retries": 101}]})") ==
        "steps[0] (id \"a\").retries: must be between 0 and 100, got 101");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "priority": 2147483648}]})") ==
        "steps[0] (id \"a\").priority: must be between -2147483648 and 2147483647, got 2147483648");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "retries": 18446744073709551615}]})") ==
        "steps[0] (id \"a\").retries: must be between 0 and 100, got 18446744073709551615");
  CHECK(OnlyProblem(R"({"max_parallel": 0, "steps": [{"id": "a", "cmd": "x"}]})") ==
        "max_parallel: must be between 1 and 1000000, got 0");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "timeout": 0}]})") ==
        "steps[0] (id \"a\").timeout: must be more than 0 and at most 2592000 seconds (30 days), "
        "got 0");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "timeout": -2.5}]})") ==
        "steps[0] (id \"a\").timeout: must be more than 0 and at most 2592000 seconds (30 days), "
        "got -2.5");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "timeout": 2592001}]})") ==
        "steps[0] (id \"a\").timeout: must be more than 0 and at most 2592000 seconds (30 days), "
        "got 2592001");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "duration": 0}]})") ==
        "steps[0] (id \"a\").duration: must be more than 0 and at most 2592000 seconds (30 days), "
        "got 0");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "duration": "1h"}]})") ==
        "steps[0] (id \"a\").duration: expected a number of seconds, got string \"1h\"");
  CHECK(Spec(LoadJson(R"({"defaults": {"duration": 90}, "steps": [
            {"id": "a", "cmd": "x", "duration": 0.25}, {"id": "b", "cmd": "x"}]})"))
            .steps[1]
            .duration_ms == 90'000u);
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "time_request": -1}]})") ==
        "steps[0] (id \"a\").time_request: must be more than 0 and at most 2592000 seconds (30 "
        "days), got -1");
  const JobSpec timed = Spec(LoadJson(R"({"defaults": {"time_request": 3600}, "steps": [
            {"id": "a", "cmd": "x", "time_request": 1.5}, {"id": "b", "cmd": "x"}]})"));
  CHECK(timed.steps[0].time_request_ms == 1'500u);
  CHECK(timed.steps[1].time_request_ms == 3'600'000u);
  CHECK(Spec(LoadJson(R"({"steps": [{"id": "a", "cmd": "x", "timeout": 2592000}]})"))
            .steps[0]
            .timeout_ms == 2'592'000'000u);
  CHECK(Spec(LoadJson(R"({"steps": [{"id": "a", "cmd": "x", "priority": -2147483648}]})"))
            .steps[0]
            .priority == INT32_MIN);
}

TEST_CASE("when is one of three words") {
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "when": "sucess"}]})") ==
        "steps[0] (id \"a\").when: must be \"success\", \"always\" or \"failure\", got string "
        "\"sucess\" "
        "(did you mean \"success\"?)");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "when": 1}]})") ==
        "steps[0] (id \"a\").when: must be \"success\", \"always\" or \"failure\", got integer 1");
}

TEST_CASE("retry policies, leases and aborts") {
  const JobSpec job = Spec(LoadJson(R"({
    "lease": 12.5, "abort_on_exit": [42, 7, 42],
    "defaults": {"retry_delay": 0.5, "retry_unless_exit": 2},
    "steps": [
      {"id": "a", "cmd": "x"},
      {"id": "b", "cmd": "x", "retry_delay": 3, "retry_unless_exit": [3, 1, 3]},
      {"id": "c", "cmd": "x", "retry_delay": 0}
    ]})"));
  CHECK(job.lease_ms == 12'500);
  CHECK(job.abort_on_exit == std::vector<uint8_t>{7, 42});
  CHECK(job.steps[0].retry_delay_ms == 500);
  CHECK(job.steps[0].retry_unless_exit == std::vector<uint8_t>{2});
  CHECK(job.steps[1].retry_delay_ms == 3000);
  CHECK(job.steps[1].retry_unless_exit == std::vector<uint8_t>{1, 3});
  CHECK(job.steps[2].retry_delay_ms == 0);  // turns off the default's delay
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "retry_unless_exit": [2, 0]}]})") ==
        "steps[0] (id \"a\").retry_unless_exit[1]: must be between 1 and 255, got 0");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "retry_unless_exit": "2"}]})") ==
        "steps[0] (id \"a\").retry_unless_exit: expected an exit code or an array of them, got "
        "string \"2\"");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "retry_delay": -0.5}]})") ==
        "steps[0] (id \"a\").retry_delay: must be at least 0 and at most 86400 seconds (1 day), "
        "got -0.5");
  CHECK(OnlyProblem(R"({"lease": -1, "steps": [{"id": "a", "cmd": "x"}]})") ==
        "lease: must be more than 0 and at most 86400 seconds (1 day), got -1");
  CHECK(OnlyProblem(R"({"abort_on_exit": 256, "steps": [{"id": "a", "cmd": "x"}]})") ==
        "abort_on_exit: must be between 1 and 255, got 256");
}

TEST_CASE("a failure step needs something to follow") {
  CHECK(OnlyProblem(R"({"steps": [{"id": "alert", "cmd": "x", "when": "failure"}]})") ==
        "steps[0] (id \"alert\").when: a \"failure\" step needs an \"after\" list: with nothing to "
        "follow, "
        "it could never run");
  CHECK(Problems(LoadJson(R"({"steps": [{"id": "a", "cmd": "x"},
    {"id": "alert", "cmd": "x", "when": "failure", "after": ["a"]},
    {"id": "tidy", "cmd": "x", "when": "always"}]})")).empty());
}

TEST_CASE("stdin and stdin_from exclude each other") {
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x"},
    {"id": "b", "cmd": "x", "stdin": "hi", "stdin_from": "a"}]})") ==
        "steps[1] (id \"b\"): needs at most one of \"stdin\" or \"stdin_from\", found both");
}

TEST_CASE("env names and values") {
  CHECK(Problems(LoadJson(R"({"steps": [{"id": "a", "cmd": "x",
    "env": {"": "1", "A=B": "2", "OK": "3", "V": "x\u0000y", "N": 4, "a.b": "\u0000"}}]})")) ==
        std::vector<std::string>{
            "steps[0] (id \"a\").env[\"\"]: variable names must not be empty",
            "steps[0] (id \"a\").env[\"A=B\"]: variable names cannot contain \"=\"",
            "steps[0] (id \"a\").env.V: contains a NUL byte, which an environment cannot carry",
            "steps[0] (id \"a\").env.N: expected a string, got integer 4",
            "steps[0] (id \"a\").env[\"a.b\"]: contains a NUL byte, which an environment cannot "
            "carry",
        });
}

TEST_CASE("requires holds labels") {
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "requires": ["gpu", "big disk"]}]})") ==
        "steps[0] (id \"a\").requires[1]: invalid label \"big disk\" (use only letters, digits and "
        "\"_.:=+-\")");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "requires": [""]}]})") ==
        "steps[0] (id \"a\").requires[0]: invalid label \"\" (use only letters, digits and "
        "\"_.:=+-\")");
}

TEST_CASE("resources: amounts by name, shared lists, defaults a step can override") {
  const JobSpec& job = Spec(LoadJson(R"({
    "defaults": {"resources": {"mem": "4G"}},
    "steps": [
      {"id": "plain", "cmd": "x"},
      {"id": "gpu", "cmd": "x", "resources": {"gpus": 2, "mem": "1.5G", "licence": 0}},
      {"id": "none", "cmd": "x", "resources": {}},
      {"id": "again", "cmd": "x", "resources": {"mem": 4294967296}}]})"));
  CHECK(job.ResourcesOf(job.steps[0]) == ResourceList{{"mem", 4ull << 30}});
  // Sorted by name; an amount of 0 asks for nothing.
  CHECK(job.ResourcesOf(job.steps[1]) == ResourceList{{"gpus", 2}, {"mem", 3ull << 29}});
  CHECK(job.ResourcesOf(job.steps[2]).empty());
  CHECK(job.steps[2].resources == 0);
  // The same list as the defaults': one entry for both.
  CHECK(job.steps[3].resources == job.steps[0].resources);
  CHECK(job.resource_requests.size() == 2);
}

TEST_CASE("resources: bad names and amounts are named, all of them") {
  const LoadedJob loaded = LoadJson(R"({"steps": [
      {"id": "a", "cmd": "x", "resources": {"Mem": "4G", "gpus": -1, "mem": "4 gigs",
                                            "licence": 1.5, "disk": [1]}},
      {"id": "b", "cmd": "x", "resources": ["mem"]},
      {"id": "c", "cmd": "x", "resources": {"gpus": "1.5"}}]})");
  CHECK(Problems(loaded) ==
        std::vector<std::string>{
            "steps[0] (id \"a\").resources.Mem: \"Mem\" is not a resource name (a lowercase "
            "letter, then "
            "lowercase letters, digits or _ (at most 32))",
            "steps[0] (id \"a\").resources.gpus: expected an amount: a whole number, or a size "
            "such as \"4G\", "
            "got integer -1",
            "steps[0] (id \"a\").resources.mem: expected a whole number, or a size such as \"4G\" "
            "or \"512M\", "
            "got \"4 gigs\"",
            "steps[0] (id \"a\").resources.licence: expected an amount: a whole number, or a size "
            "such as "
            "\"4G\", got number 1.5",
            "steps[0] (id \"a\").resources.disk: expected an amount: a whole number, or a size "
            "such as \"4G\", "
            "got an array",
            "steps[1] (id \"b\").resources: expected a map of resource names to amounts (e.g. "
            "{\"mem\": \"4G\", "
            "\"gpus\": 1}), got an array",
            "steps[2] (id \"c\").resources.gpus: a count must be a whole number, got \"1.5\""});
}

TEST_CASE("resources: at most 1024 kinds of step and 64 resource names in a job") {
  nlohmann::json steps = nlohmann::json::array();
  for (int i = 0; i < 1030; ++i) {
    steps.push_back({{"id", "s" + std::to_string(i)}, {"cmd", "x"},
                     {"resources", {{"mem", std::to_string(i + 1) + "M"}}}});
  }
  CHECK(OnlyProblem(nlohmann::json{{"steps", steps}}.dump()) ==
        "steps[1024] (id \"s1024\"): more than 1024 different combinations of slots, requires and "
        "resources "
        "in one job (give steps that need about the same the same amounts: mem rounded to "
        "whole G, say)");
  steps = nlohmann::json::array();
  for (int i = 0; i < 70; ++i) {
    steps.push_back({{"id", "s" + std::to_string(i)}, {"cmd", "x"},
                     {"resources", {{"r" + std::to_string(i), 1}}}});
  }
  CHECK(OnlyProblem(nlohmann::json{{"steps", steps}}.dump()) ==
        "steps[64] (id \"s64\").resources: more than 64 different resource names in one job");
  // The same few kinds, however many steps: fine.
  steps = nlohmann::json::array();
  for (int i = 0; i < 5000; ++i) {
    steps.push_back({{"id", "s" + std::to_string(i)}, {"cmd", "x"},
                     {"resources", {{"mem", std::to_string(i % 3 + 1) + "G"}}}});
  }
  CHECK(Spec(LoadJson(nlohmann::json{{"steps", steps}}.dump())).resource_requests.size() == 3);
}

TEST_CASE("limits name the limit and the value") {
  JobLimits limits;
  limits.max_steps = 2;
  limits.max_argv_bytes = 10;
  limits.max_env_bytes = 10;
  limits.max_stdin_bytes = 4;
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x"}, {"id": "b", "cmd": "x"},
    {"id": "c", "cmd": "x"}]})",
                    limits) == "steps: has 3 steps, more than the limit of 2");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "echo hello!"}]})", limits) ==
        "steps[0] (id \"a\").cmd: is 11 bytes, more than the limit of 10 bytes for a command line");
  // Each argument counts with its terminating NUL: 5 + 6.
  CHECK(
      OnlyProblem(R"({"steps": [{"id": "a", "argv": ["echo", "hello"]}]})", limits) ==
      "steps[0] (id \"a\").argv: is 11 bytes, more than the limit of 10 bytes for a command line");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "stdin": "12345"}]})", limits) ==
        "steps[0] (id \"a\").stdin: is 5 bytes, more than the limit of 4 bytes for inline stdin");
  // "ABCD=1234\0" is 10 bytes: at the limit. One more is over.
  CHECK(Spec(LoadJson(R"({"steps": [{"id": "a", "cmd": "x", "env": {"ABCD": "1234"}}]})", limits))
            .steps.size() == 1);
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "env": {"ABCD": "12345"}}]})", limits) ==
        "steps[0] (id \"a\").env: is 11 bytes, more than the limit of 10 bytes for a step's "
        "environment");
  // The merged environment counts: "A=1\0" and "BB=22\0" fit, "BB=222\0" does not.
  CHECK(Spec(LoadJson(R"({"defaults": {"env": {"A": "1"}},
    "steps": [{"id": "a", "cmd": "x", "env": {"BB": "22"}}]})",
                      limits))
            .steps.size() == 1);
  CHECK(OnlyProblem(R"({"defaults": {"env": {"A": "1"}},
    "steps": [{"id": "a", "cmd": "x", "env": {"BB": "222"}}]})",
                    limits) ==
        "steps[0] (id \"a\").env: is 11 bytes, more than the limit of 10 bytes for a step's "
        "environment "
        "(with the variables from defaults.env)");
  CHECK(OnlyProblem(R"({"defaults": {"stdin": "too long"},
    "steps": [{"id": "a", "cmd": "x"}, {"id": "b", "cmd": "x"}]})",
                    limits) ==
        "defaults.stdin: is 8 bytes, more than the limit of 4 bytes for inline stdin");
}

TEST_CASE("limits on what a hostile file could make big") {
  JobLimits limits;
  limits.max_env_vars = 2;
  limits.max_after = 2;
  CHECK(
      OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "env": {"A": "1", "B": "2", "C": "3"}}]})",
                  limits) == "steps[0] (id \"a\").env: has 3 variables, more than the limit of 2");
  // Merged with defaults.env: 2 + 1 variables.
  CHECK(OnlyProblem(R"({"defaults": {"env": {"A": "1", "B": "2"}},
    "steps": [{"id": "a", "cmd": "x", "env": {"C": "3"}}]})",
                    limits) ==
        "steps[0] (id \"a\").env: has 3 variables (with those from defaults.env), more than the "
        "limit of 2");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x"}, {"id": "b", "cmd": "x"},
    {"id": "c", "cmd": "x"}, {"id": "d", "cmd": "x", "after": ["a", "b", "c"]}]})",
                    limits) ==
        "steps[3] (id \"d\").after: has 3 entries, more than the limit of 2");
  // Fixed limits: the job's name, cwd, labels, exit code lists, ids.
  CHECK(OnlyProblem(R"({"name": ")" + std::string(257, 'n') +
                    R"(", "steps": [{"id": "a", "cmd": "x"}]})") ==
        "name: is 257 bytes long, more than the limit of 256");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "cwd": "/)" + std::string(4096, 'd') +
                    R"("}]})") ==
        "steps[0] (id \"a\").cwd: is 4097 bytes long, more than the limit of 4096");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "requires": [")" + std::string(129, 'l') +
                    R"("]}]})") ==
        "steps[0] (id \"a\").requires[0]: is 129 bytes long, more than the limit of 128");
  std::string labels;
  for (int i = 0; i < 65; ++i) labels += (i ? ", \"l" : "\"l") + std::to_string(i) + "\"";
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "requires": [)" + labels + "]}]}") ==
        "steps[0] (id \"a\").requires: has 65 labels, more than the limit of 64");
  std::string codes;
  for (int i = 0; i < 256; ++i) codes += (i ? ", " : "") + std::to_string(i % 255 + 1);
  CHECK(
      OnlyProblem(R"({"abort_on_exit": [)" + codes + R"(], "steps": [{"id": "a", "cmd": "x"}]})") ==
      "abort_on_exit: has 256 exit codes, more than the limit of 255");
  CHECK(OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "retry_unless_exit": [)" + codes +
                    "]}]}") ==
        "steps[0] (id \"a\").retry_unless_exit: has 256 exit codes, more than the limit of 255");
  // A 10 MB step id is reported by its length, without copying it into the message.
  const std::string huge_id(10'000'000, 'i');
  const std::string problem =
      OnlyProblem(R"({"steps": [{"id": ")" + huge_id + R"(", "cmd": "x"}]})");
  CHECK(problem == "steps[0].id: is 10000000 characters long, more than the limit of 128");
  // ... and so is a huge reference to a step, shortened in the message.
  const std::string ref =
      OnlyProblem(R"({"steps": [{"id": "a", "cmd": "x", "after": [")" + huge_id + R"("]}]})");
  CHECK(ref.find("steps[0] (id \"a\").after[0]: unknown step") == 0);
  CHECK(ref.size() < 200);
}

TEST_CASE("the whole file has a size limit, checked before it is decoded") {
  JobLimits limits;
  const std::string bytes = ToMsgpack(R"({"steps": [{"id": "a", "cmd": "x"}]})");
  limits.max_job_bytes = bytes.size();
  CHECK(LoadJob(bytes, limits).spec.has_value());
  limits.max_job_bytes = bytes.size() - 1;
  const LoadedJob loaded = LoadJob(bytes, limits);
  REQUIRE(loaded.problems.size() == 1);
  CHECK(FormatProblem(loaded.problems[0]) ==
        "the job file is " + std::to_string(bytes.size()) +
            " bytes (as MessagePack), more than the limit of " + std::to_string(bytes.size() - 1));
}

TEST_CASE("every problem is reported at once, in file order") {
  const LoadedJob loaded = LoadJson(R"({
    "steps": [
      {"id": "a", "cmd": "x", "retries": "3"},
      {"id": "b", "cmd": "x", "after": ["c1"]},
      {"id": "c"},
      {"id": "b", "cmd": "x", "slots": 0}
    ],
    "max_parallel": -1
  })");
  CHECK_FALSE(loaded.spec.has_value());
  CHECK(Problems(loaded) ==
        std::vector<std::string>{
            "steps[0] (id \"a\").retries: expected an integer, got string \"3\"",
            "steps[1] (id \"b\").after[0]: unknown step \"c1\" (did you mean \"c\"?)",
            "steps[2] (id \"c\"): needs exactly one of \"argv\" or \"cmd\", found neither",
            "steps[3].id: duplicate id \"b\" (also steps[1].id)",
            "steps[3] (id \"b\").slots: must be between 1 and 65536, got 0",
            "max_parallel: must be between 1 and 1000000, got -1",
        });
}

TEST_CASE("MessagePack specifics: bin stdin, non-string keys, repeated keys") {
  const std::string bin_job = Pack([](auto& p) {
    p.pack_map(1);
    p.pack(std::string("steps"));
    p.pack_array(1);
    p.pack_map(3);
    p.pack(std::string("id"));
    p.pack(std::string("a"));
    p.pack(std::string("cmd"));
    p.pack(std::string("od -c"));
    p.pack(std::string("stdin"));
    const std::string bytes("\x00\xff\x01", 3);
    p.pack_bin(3);
    p.pack_bin_body(bytes.data(), 3);
  });
  const JobSpec& job = Spec(LoadJob(bin_job));
  CHECK(job.steps[0].stdin_data == std::string("\x00\xff\x01", 3));

  const std::string int_keys = Pack([](auto& p) {
    p.pack_map(2);
    p.pack(std::string("steps"));
    p.pack_array(2);
    p.pack_map(2);
    p.pack(std::string("id"));
    p.pack(std::string("a"));
    p.pack(std::string("cmd"));
    p.pack(std::string("x"));
    p.pack_map(3);
    p.pack(std::string("id"));
    p.pack(std::string("b"));
    p.pack(std::string("cmd"));
    p.pack(std::string("x"));
    p.pack(7);
    p.pack(std::string("x"));
    p.pack(true);
    p.pack(1);
  });
  CHECK(Problems(LoadJob(int_keys)) ==
        std::vector<std::string>{
            "steps[1] (id \"b\"): field names must be strings, got an integer",
            "field names must be strings, got a boolean",
        });

  const std::string twice = Pack([](auto& p) {
    p.pack_map(1);
    p.pack(std::string("steps"));
    p.pack_array(1);
    p.pack_map(3);
    p.pack(std::string("id"));
    p.pack(std::string("a"));
    p.pack(std::string("cmd"));
    p.pack(std::string("x"));
    p.pack(std::string("cmd"));
    p.pack(std::string("y"));
  });
  CHECK(OnlyProblemInBytes(twice) == "steps[0] (id \"a\").cmd: field given twice");
}

TEST_CASE("bytes that are not a MessagePack job file") {
  CHECK(OnlyProblemInBytes("") == "not a MessagePack job file: the file is empty");
  CHECK(OnlyProblemInBytes("\x85") ==
        "not a MessagePack job file: the map at offset 0 declares 5 pairs but only 0 bytes remain");
  CHECK(OnlyProblemInBytes("\xdd\xff\xff\xff\xff") ==
        "not a MessagePack job file: the array at offset 0 declares 4294967295 elements but only 0 "
        "bytes remain");
  CHECK(OnlyProblemInBytes("\xdf\xff\xff\xff\xff") ==
        "not a MessagePack job file: the map at offset 0 declares 4294967295 pairs but only 0 bytes "
        "remain");
  CHECK(OnlyProblemInBytes(std::string("\x81\xa5steps\xdd\x00\x0f\xff\xff", 12)) ==
        "not a MessagePack job file: the array at offset 7 declares 1048575 elements but only 0 "
        "bytes remain");
  CHECK(OnlyProblemInBytes("\x81\xa5steps\x92\x91\x01") ==
        "not a MessagePack job file: truncated: a value should start at offset 10");
  CHECK(OnlyProblemInBytes(std::string("\x81\xa5steps\xd4\x01\x00", 10)) ==
        "not a MessagePack job file: an ext value (type byte 0xd4) at offset 7: ext types are not "
        "accepted");
  CHECK(OnlyProblemInBytes("\xc1") == "not a MessagePack job file: invalid byte 0xc1 at offset 0");
  CHECK(OnlyProblemInBytes("\x80\x80") ==
        "not a MessagePack job file: 1 stray bytes after the end of the job map");
  CHECK(OnlyProblemInBytes(std::string(40, '\x91') + "\xc0") ==
        "not a MessagePack job file: nested more than 32 levels deep at offset 32");
  CHECK(OnlyProblemInBytes("{\"steps\": []}") ==
        "not a MessagePack job file: 12 stray bytes after the end of the job map");
  CHECK(OnlyProblemInBytes("\x81\xa5steps\x90") == "steps: needs at least one step");
}

TEST_CASE("no input makes LoadJob throw or crash") {
  const std::string valid = ToMsgpack(R"({"name": "n", "defaults": {"env": {"A": "1"}},
    "steps": [{"id": "a", "argv": ["x", "y"], "env": {"B": "2"}, "requires": ["l"]},
              {"id": "b", "cmd": "x", "after": ["a"], "stdin_from": "a", "timeout": 1.5}]})");
  CHECK(LoadJob(valid).problems.empty());
  for (size_t n = 0; n < valid.size(); ++n) {
    CHECK_FALSE(LoadJob(valid.substr(0, n)).problems.empty());
  }
  std::mt19937 rng(42);
  for (int round = 0; round < 3000; ++round) {
    std::string bytes = valid;
    const int flips = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < flips; ++k) bytes[rng() % bytes.size()] = static_cast<char>(rng());
    const LoadedJob loaded = LoadJob(bytes);
    CHECK(loaded.spec.has_value() == loaded.problems.empty());
    (void)MsgpackToJson(bytes);
  }
}

TEST_CASE("JSON conversion") {
  const Result<std::string> bad = JsonToMsgpack("{\n  \"steps\": [\n    {\"id\": }\n  ]\n}");
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().rfind("line 3, column 12: syntax error", 0) == 0);

  const Result<std::string> twice =
      JsonToMsgpack(R"({"steps": [{"id": "a", "cmd": "x", "cmd": "y"}]})");
  REQUIRE_FALSE(twice.ok());
  CHECK(twice.status().message() == "steps[0].cmd: key given twice");

  const Result<std::string> deep =
      JsonToMsgpack("{\"a\": " + std::string(100, '[') + std::string(100, ']') + "}");
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.status().message() == "nested more than 32 levels deep");

  // The parser keeps its own stack on the heap, and stops at the limit: a
  // hundred thousand levels are one clear error, not a stack overflow.
  for (const std::string& text : {std::string(100000, '[') + std::string(100000, ']'),
                                  std::string(100000, '['), [] {
                                    std::string s;
                                    for (int i = 0; i < 100000; ++i) s += "{\"a\":";
                                    return s;
                                  }()}) {
    const Result<std::string> deeper = JsonToMsgpack(text);
    REQUIRE_FALSE(deeper.ok());
    CHECK(deeper.status().message() == "nested more than 32 levels deep");
  }
}

TEST_CASE("JSON to MessagePack to JSON keeps the value and the key order") {
  const std::string json = R"({
  "name": "round trip",
  "max_parallel": 3,
  "defaults": {"timeout": 2.5, "env": {"Z": "last", "A": "first"}},
  "steps": [
    {"id": "a", "argv": ["echo", "ünïcödé"], "priority": -3, "retries": 0},
    {"id": "b", "cmd": "cat", "after": ["a"], "when": "always", "stdin": "x\ny"}
  ]
})";
  const std::string bytes = ToMsgpack(json);
  const Result<std::string> back = MsgpackToJson(bytes);
  REQUIRE_MESSAGE(back.ok(), back.status().message());
  CHECK(nlohmann::ordered_json::parse(back.value()) == nlohmann::ordered_json::parse(json));
  CHECK(back->back() == '\n');
  CHECK(back->find("\n  \"name\": \"round trip\",\n") != std::string::npos);
  CHECK(back->find("\"Z\": \"last\",") < back->find("\"A\": \"first\""));
}

TEST_CASE("MessagePack to JSON: bin stdin becomes text when it is text") {
  const auto job_with_stdin = [](std::string_view bytes) {
    return Pack([&](auto& p) {
      p.pack_map(1);
      p.pack(std::string("steps"));
      p.pack_array(1);
      p.pack_map(3);
      p.pack(std::string("id"));
      p.pack(std::string("a"));
      p.pack(std::string("cmd"));
      p.pack(std::string("cat"));
      p.pack(std::string("stdin"));
      p.pack_bin(static_cast<uint32_t>(bytes.size()));
      p.pack_bin_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
    });
  };
  const Result<std::string> text = MsgpackToJson(job_with_stdin("héllo\n"));
  REQUIRE(text.ok());
  CHECK(nlohmann::json::parse(text.value())["steps"][0]["stdin"] == "héllo\n");

  const Result<std::string> binary = MsgpackToJson(job_with_stdin("\xff\xfe"));
  REQUIRE_FALSE(binary.ok());
  CHECK(binary.status().message() ==
        "steps[0].stdin: binary data that is not UTF-8 text cannot be written as JSON");

  const Result<std::string> garbage = MsgpackToJson("\x85");
  REQUIRE_FALSE(garbage.ok());
  CHECK(garbage.status().message() ==
        "not a MessagePack job file: the map at offset 0 declares 5 pairs but only 0 bytes remain");
}

TEST_CASE("ReadJobFile") {
  const Result<std::string> missing = ReadJobFile("/nonexistent-drover-dir/jobs.json");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message() ==
        "/nonexistent-drover-dir/jobs.json: No such file or directory");

  for (const char* name : {"diamond.json", "pipeline.json", "sweep.json"}) {
    CAPTURE(name);
    const Result<std::string> bytes =
        ReadJobFile(std::string(DROVER_SOURCE_DIR) + "/examples/" + name);
    REQUIRE_MESSAGE(bytes.ok(), bytes.status().message());
    const LoadedJob loaded = LoadJob(bytes.value());
    CHECK_MESSAGE(loaded.problems.empty(), doctest::toString(Problems(loaded)));
    CHECK(loaded.spec.has_value());
  }
}

TEST_CASE("large graphs: a 100,000-step chain and fan-out") {
  constexpr uint32_t kSteps = 100'000;
  const auto chain = [](uint32_t i) {
    return i == 0 ? std::vector<uint32_t>{} : std::vector{i - 1};
  };
  const LoadedJob loaded_chain = LoadJob(GeneratedJob(kSteps, chain));
  REQUIRE(loaded_chain.problems.empty());
  CHECK(Indices(loaded_chain.spec->steps[kSteps - 1].after) == std::vector<uint32_t>{kSteps - 2});

  // Fan out from s0, then fan back in to the last step.
  const LoadedJob fan = LoadJob(GeneratedJob(kSteps, [](uint32_t i) {
    if (i == 0) return std::vector<uint32_t>{};
    if (i < kSteps - 1) return std::vector<uint32_t>{0};
    std::vector<uint32_t> all;
    for (uint32_t k = 1; k < kSteps - 1; ++k) all.push_back(k);
    return all;
  }));
  REQUIRE(fan.problems.empty());
  CHECK(fan.spec->steps[kSteps - 1].after.size() == kSteps - 2);

  // The chain with its ends joined is one long cycle, shown shortened.
  const LoadedJob closed = LoadJob(GeneratedJob(
      kSteps, [](uint32_t i) { return std::vector<uint32_t>{i == 0 ? kSteps - 1 : i - 1}; }));
  CHECK(Problems(closed) ==
        std::vector<std::string>{
            "steps[0] (id \"s0\").after[0]: dependency cycle: s0 -> s99999 -> s99998 -> s99997 -> "
            "s99996 -> "
            "s99995 -> ... 99991 more ... -> s3 -> s2 -> s1 -> s0 (\"->\" reads \"comes after\")",
        });
}

TEST_CASE("stdin_from takes a list: the outputs concatenated in that order") {
  const JobSpec job = Spec(LoadJson(R"({"steps": [
    {"id": "a", "cmd": "echo a"},
    {"id": "b", "cmd": "echo b"},
    {"id": "c", "cmd": "echo c"},
    {"id": "all", "cmd": "cat", "stdin_from": ["c", "a", "b"], "after": ["a"]}]})"));
  CHECK(Indices(job.steps[3].StdinFrom()) == std::vector<uint32_t>{2, 0, 1});
  // Each producer is also in `after`, once, and they lead it in their order.
  CHECK(Indices(job.steps[3].after) == std::vector<uint32_t>{2, 0, 1});
}

TEST_CASE("stdin_from lists are checked entry by entry") {
  const LoadedJob loaded = LoadJson(R"({"steps": [
    {"id": "a", "cmd": "echo a"},
    {"id": "b", "cmd": "cat", "stdin_from": []},
    {"id": "c", "cmd": "cat", "stdin_from": ["a", "x", 3, "a", "c"]},
    {"id": "d", "cmd": "cat", "stdin_from": {"a": 1}},
    {"id": "e", "cmd": "cat", "stdin_from": 7}]})");
  CHECK(
      Problems(loaded) ==
      std::vector<std::string>{
          "steps[1] (id \"b\").stdin_from: must name at least one step (leave it out for no input)",
          "steps[2] (id \"c\").stdin_from[1]: unknown step \"x\"",
          "steps[2] (id \"c\").stdin_from[2]: expected a step id (a string), got integer 3",
          "steps[2] (id \"c\").stdin_from[3]: step a is already read (once is enough)",
          "steps[2] (id \"c\").stdin_from[4]: a step cannot read its own output",
          "steps[3] (id \"d\").stdin_from.a: unknown key (a streamed stdin_from has \"step\" "
          "and \"stream\")",
          "steps[4] (id \"e\").stdin_from: expected a step id, an array of them, or {\"step\": "
          "ID, \"stream\": true}, got integer 7",
      });
}

TEST_CASE("a streamed stdin_from reads one step while it runs") {
  const LoadedJob ok = LoadJson(R"({"steps": [
    {"id": "p", "cmd": "yes"},
    {"id": "c", "cmd": "head -1", "stdin_from": {"step": "p", "stream": true}, "after": ["q"]},
    {"id": "q", "cmd": "true"},
    {"id": "s", "cmd": "cat", "stdin_from": {"step": "p", "stream": false}}]})");
  REQUIRE(Problems(ok).empty());
  const JobSpec& job = *ok.spec;
  CHECK(job.steps[1].stdin_stream);
  CHECK(job.steps[1].stdin_from_count == 1);
  CHECK(Indices(job.steps[1].after) == std::vector<uint32_t>{0, 2});
  CHECK_FALSE(job.steps[3].stdin_stream);  // "stream": false is the stored kind
  CHECK(job.steps[3].stdin_from_count == 1);

  // Paired with an array's elements: each element reads its own.
  const LoadedJob paired = LoadJson(R"({"steps": [
    {"id": "gen", "each": {"i": [1, 2]}, "cmd": "seq {i}"},
    {"id": "use", "each": {"i": [1, 2]}, "cmd": "wc -l",
     "stdin_from": {"step": "gen[{index}]", "stream": true}}]})");
  REQUIRE(Problems(paired).empty());
  REQUIRE(paired.spec->steps.size() == 4);
  for (int e : {2, 3}) {
    CHECK(paired.spec->steps[e].stdin_stream);
    CHECK(Indices(paired.spec->steps[e].after) == std::vector<uint32_t>{uint32_t(e - 2)});
  }

  const LoadedJob bad = LoadJson(R"({"steps": [
    {"id": "p", "each": {"i": [1, 2]}, "cmd": "seq {i}"},
    {"id": "c", "cmd": "cat", "stdin_from": {"step": "p", "stream": true}},
    {"id": "d", "cmd": "cat", "when": "always", "stdin_from": {"step": "c", "stream": true}},
    {"id": "e", "cmd": "cat", "stdin_from": {"stream": true}},
    {"id": "f", "cmd": "cat", "stdin_from": {"step": "c", "stream": "yes"}},
    {"id": "g", "each": {"i": [1, 2]}, "cmd": "cat",
     "stdin_from": {"step": "p[{index}]", "stream": true}}]})");
  CHECK(Problems(bad) ==
        std::vector<std::string>{
            "steps[1] (id \"c\").stdin_from: a streamed stdin_from reads exactly one step, but "
            "this names 2 (name one element, as \"p[0]\", or pair them in an array step, as "
            "\"p[{index}]\")",
            "steps[2] (id \"d\").when: a step with a streamed stdin_from runs while its producer "
            "does, so it cannot wait for \"always\"",
            "steps[3] (id \"e\").stdin_from: needs \"step\": the id of the step whose stdout it "
            "reads",
            "steps[4] (id \"f\").stdin_from.stream: expected true or false, got string \"yes\"",
        });
}

TEST_CASE("arrays take part in the graph: cycles through elements are found") {
  const LoadedJob loaded = LoadJson(R"({"steps": [
    {"id": "a", "each": {"i": [1, 2]}, "cmd": "true", "after": ["b[{index}]"]},
    {"id": "b", "each": {"j": [3, 4]}, "cmd": "true", "after": ["a[1]"]},
    {"id": "c", "each": {"j": [3, 4]}, "cmd": "true", "after": ["nope"], "when": "failure"}]})");
  CHECK(Problems(loaded) ==
        std::vector<std::string>{
            "steps[0] (id \"a\").after[0]: dependency cycle: a[1] -> b[1] -> a[1] (\"->\" reads "
            "\"comes after\")",
            "steps[2] (id \"c\").after[0]: unknown step \"nope\"",
        });
}

TEST_CASE("an element id may be written as a plain step's, as --expand writes it") {
  const JobSpec job = Spec(LoadJson(R"({"steps": [
    {"id": "t[0]", "cmd": "true"},
    {"id": "t[1]", "cmd": "true", "after": ["t[0]"]}]})"));
  CHECK(Indices(job.steps[1].after) == std::vector<uint32_t>{0});
  CHECK(OnlyProblem(R"({"steps": [{"id": "t[01]", "cmd": "true"}]})") ==
        "steps[0].id: invalid id \"t[01]\" (use only letters, digits, \"_\", \".\" and \"-\")");
}

}  // namespace drover
