// Array steps (`each`): the pure functions of shared/job_array.h, and what
// LoadJob makes of arrays (expanded into plain steps, job_expand.cc), with
// `lines` resolved by ReadJobFile and `submit validate --expand`'s writer.
#include "shared/job_array.h"

#include <doctest/doctest.h>

#include <fstream>
#include <msgpack.hpp>
#include <span>
#include <string>
#include <vector>

#include "shared/job_load.h"
#include "tests/temp_dir.h"

namespace drover {
namespace {

LoadedJob LoadJson(std::string_view json, const JobLimits& limits = {}) {
  Result<std::string> bytes = JsonToMsgpack(json);
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().message());
  return LoadJob(*bytes, limits);
}

std::vector<std::string> Problems(const LoadedJob& loaded) {
  std::vector<std::string> lines;
  for (const Problem& p : loaded.problems) lines.push_back(FormatProblem(p));
  return lines;
}

JobSpec Spec(const LoadedJob& loaded) {
  REQUIRE_MESSAGE(loaded.spec.has_value(), doctest::toString(Problems(loaded)));
  return *loaded.spec;
}

std::vector<std::string> Ids(const JobSpec& job) {
  std::vector<std::string> ids;
  for (const StepSpec& s : job.steps) ids.push_back(s.id);
  return ids;
}

// The ids of step `s`'s `after` (or `stdin_from`) steps.
std::vector<std::string> IdsOf(const JobSpec& job, std::span<const StepIndex> steps) {
  std::vector<std::string> ids;
  for (StepIndex s : steps) ids.push_back(job.steps[s.value].id);
  return ids;
}

std::string EnvOf(const StepSpec& s, const std::string& name) {
  for (const auto& [n, v] : s.env) {
    if (n == name) return v;
  }
  return "(unset)";
}

ArrayParam List(std::string name, std::vector<std::string> values) {
  return ArrayParam{.name = std::move(name), .values = std::move(values)};
}

ArrayParam Range(std::string name, int64_t begin, int64_t end, int64_t step = 1) {
  return ArrayParam{.name = std::move(name),
                    .values = {},
                    .is_range = true,
                    .begin = begin,
                    .end = end,
                    .step = step};
}

}  // namespace

TEST_CASE("elements are the product of the parameters, the first varying slowest") {
  const ArraySpec each{{List("lr", {"0.1", "0.01"}), Range("seed", 0, 3)}};
  CHECK(ElementCount(each) == 6);
  CHECK(Shape(each) == std::vector<uint64_t>{2, 3});
  std::vector<std::string> pairs;
  for (uint64_t e = 0; e < 6; ++e)
    pairs.push_back(ParamValue(each, 0, e) + "/" + ParamValue(each, 1, e));
  CHECK(pairs == std::vector<std::string>{"0.1/0", "0.1/1", "0.1/2", "0.01/0", "0.01/1", "0.01/2"});
  CHECK(ElementCount(ArraySpec{}) == 1);
  // A product past 2^64 saturates rather than wrapping to something small.
  const ArraySpec huge{{Range("a", 0, INT64_MAX), Range("b", 0, INT64_MAX), Range("c", 0, 4)}};
  CHECK(ElementCount(huge) == UINT64_MAX);
}

TEST_CASE("ranges exclude their end, and may step by more than one or backwards") {
  const auto values = [](ArrayParam p) {
    std::vector<std::string> out;
    const ArraySpec each{{p}};
    for (uint64_t e = 0; e < ElementCount(each); ++e) out.push_back(ParamValue(each, 0, e));
    return out;
  };
  CHECK(values(Range("x", 0, 10, 4)) == std::vector<std::string>{"0", "4", "8"});
  CHECK(values(Range("x", 0, 9, 3)) == std::vector<std::string>{"0", "3", "6"});
  CHECK(values(Range("x", 10, 0, -3)) == std::vector<std::string>{"10", "7", "4", "1"});
  CHECK(values(Range("x", -2, 2)) == std::vector<std::string>{"-2", "-1", "0", "1"});
  CHECK(ParamSize(Range("x", 3, 3)) == 0);
  CHECK(ParamSize(Range("x", 0, 5, -1)) == 0);
  CHECK(ParamSize(Range("x", 0, 5, 0)) == 0);
  // The whole int64 line, without overflow.
  CHECK(ParamSize(Range("x", INT64_MIN, INT64_MAX, INT64_MAX)) == 3);
  CHECK(values(Range("x", INT64_MIN, INT64_MAX, INT64_MAX)) ==
        std::vector<std::string>{"-9223372036854775808", "-1", "9223372036854775806"});
}

TEST_CASE("placeholders: names in braces, but not after $, and doubled braces are literal") {
  const ArraySpec each{{List("lr", {"0.1"}), List("name", {"a b"})}};
  CHECK(Render("train --lr {lr} --out {name}/{index}", each, 0) == "train --lr 0.1 --out a b/0");
  CHECK(Render("echo ${lr} $lr {lr}", each, 0) == "echo ${lr} $lr 0.1");
  CHECK(Render("echo {{lr}} {{{lr}}}", each, 0) == "echo {lr} {0.1}");
  CHECK(Render("awk '{ printf \"%s\", $1 }' {lr}", each, 0) == "awk '{ printf \"%s\", $1 }' 0.1");
  CHECK(Render("{ lr} {lr } {1x} {} {", each, 0) == "{ lr} {lr } {1x} {} {");
  CHECK(Render("{nope} {lr}", each, 0) == "{nope} 0.1");  // the loader reports {nope}
  CHECK_FALSE(NeedsRendering("awk '{ print }' ${d}"));
  CHECK(NeedsRendering("a {{ b"));
  CHECK(NeedsRendering("{lr}"));
  std::vector<std::string> found;
  ForEachPlaceholder("{a}{{b}} ${c} {d}x{e_1}", [&](std::string_view name, size_t offset) {
    found.push_back(std::string(name) + "@" + std::to_string(offset));
  });
  CHECK(found == std::vector<std::string>{"a@0", "d@14", "e_1@18"});
  CHECK(IsParamName("_x9"));
  CHECK_FALSE(IsParamName("9x"));
  CHECK_FALSE(IsParamName("a-b"));
  CHECK_FALSE(IsParamName(""));
}

TEST_CASE("an element's id is the template's with its index, or the rendered pattern") {
  const ArraySpec each{{List("lr", {"0.1", "0.01"})}};
  CHECK(ElementId("train", each, 1) == "train[1]");
  CHECK(ElementId("train-{lr}", each, 1) == "train-0.01");
  CHECK(ElementId("t{index}", each, 1) == "t1");
}

TEST_CASE("fractions render as written") {
  CHECK(FractionText(0.1) == "0.1");
  CHECK(FractionText(0.01) == "0.01");
  CHECK(FractionText(1.0) == "1.0");
  CHECK(FractionText(-2.5) == "-2.5");
  CHECK(FractionText(1e-5) == "1e-5");
  CHECK(FractionText(2.5e20) == "2.5e+20");
  CHECK(FractionText(static_cast<float>(0.1f)) == "0.1");
}

TEST_CASE("an array step expands into one plain step per element") {
  const JobSpec job = Spec(LoadJson(R"({"steps": [
    {"id": "train", "each": {"lr": [0.1, 0.01], "seed": {"range": [0, 3]}},
     "argv": ["train", "--lr", "{lr}", "--seed={seed}"], "timeout": 5, "retries": 2}]})"));
  REQUIRE(job.steps.size() == 6);
  CHECK(Ids(job) == std::vector<std::string>{"train[0]", "train[1]", "train[2]", "train[3]",
                                             "train[4]", "train[5]"});
  const StepSpec& s = job.steps[4];
  CHECK(s.argv == std::vector<std::string>{"train", "--lr", "0.01", "--seed=1"});
  CHECK(EnvOf(s, "DROVER_PARAM_LR") == "0.01");
  CHECK(EnvOf(s, "DROVER_PARAM_SEED") == "1");
  CHECK(EnvOf(s, "DROVER_INDEX") == "4");
  CHECK(s.timeout_ms == 5000);
  CHECK(s.retries == 2);
  CHECK(s.each == 0);  // job_spec.h invariant 7
  CHECK(job.arrays.empty());
}

TEST_CASE("placeholders are rendered in every field that takes them") {
  const JobSpec job = Spec(LoadJson(R"({
    "defaults": {"env": {"FROM_DEFAULTS": "d-{index}"}},
    "steps": [
    {"id": "run-{city}", "each": {"city": ["oslo", "rome"], "n": [3]},
     "cmd": "echo {city} {n} ${HOME} {{city}} awk '{ print }'",
     "env": {"CITY": "{city}", "N_{n}": "{n}"}, "cwd": "/data/{city}", "stdin": "city={city}\n"},
    {"id": "plain", "cmd": "echo {city}", "env": {"X": "{index}"}}]})"));
  REQUIRE(job.steps.size() == 3);
  const StepSpec& rome = job.steps[1];
  CHECK(rome.id == "run-rome");
  CHECK(rome.shell);
  CHECK(rome.argv == std::vector<std::string>{"echo rome 3 ${HOME} {city} awk '{ print }'"});
  CHECK(EnvOf(rome, "CITY") == "rome");
  CHECK(EnvOf(rome, "N_{n}") == "3");  // names are not rendered, values are
  CHECK(EnvOf(rome, "FROM_DEFAULTS") == "d-1");
  CHECK(rome.cwd == "/data/rome");
  REQUIRE(rome.stdin_data.has_value());
  CHECK(*rome.stdin_data == "city=rome\n");
  // Only steps with `each` are rendered.
  const StepSpec& plain = job.steps[2];
  CHECK(plain.argv == std::vector<std::string>{"echo {city}"});
  CHECK(EnvOf(plain, "X") == "{index}");
  CHECK(EnvOf(plain, "DROVER_INDEX") == "(unset)");
}

TEST_CASE("numbers in lists render as the file writes them") {
  const JobSpec job = Spec(LoadJson(R"({"steps": [
    {"id": "x", "each": {"v": [0.1, 1.0, 1e-5, 3, -2, 2.50, "0.10"]}, "argv": ["echo", "{v}"]}]})"));
  std::vector<std::string> shown;
  for (const StepSpec& s : job.steps) shown.push_back(s.argv[1]);
  CHECK(shown == std::vector<std::string>{"0.1", "1.0", "1e-5", "3", "-2", "2.5", "0.10"});
}

TEST_CASE("dependencies on arrays: every element, one element, or element by element") {
  const JobSpec job = Spec(LoadJson(R"({"steps": [
    {"id": "prep", "each": {"seed": {"range": [0, 3]}}, "cmd": "prep {seed}"},
    {"id": "train", "each": {"seed": {"range": [0, 3]}}, "cmd": "train {seed}",
     "after": ["prep[{index}]"]},
    {"id": "eval", "each": {"s": [7, 8, 9]}, "cmd": "eval {s}", "after": ["train[{index}]"],
     "stdin_from": "prep[{index}]"},
    {"id": "again", "each": {"seed": {"range": [0, 3]}}, "cmd": "x", "after": ["train[{seed}]"]},
    {"id": "report", "cmd": "report", "after": ["eval", "prep[1]"]},
    {"id": "one", "cmd": "one", "after": ["train[2]"]}]})"));
  REQUIRE(job.steps.size() == 14);
  const auto after_of = [&](const std::string& id) {
    for (const StepSpec& s : job.steps) {
      if (s.id == id) return IdsOf(job, s.after);
    }
    FAIL("no step " << id);
    return std::vector<std::string>{};
  };
  CHECK(after_of("train[0]") == std::vector<std::string>{"prep[0]"});
  CHECK(after_of("train[2]") == std::vector<std::string>{"prep[2]"});
  // The stdin_from step leads `after` (job_spec.h invariant 3).
  CHECK(after_of("eval[1]") == std::vector<std::string>{"prep[1]", "train[1]"});
  CHECK(IdsOf(job, job.steps[7].StdinFrom()) == std::vector<std::string>{"prep[1]"});
  CHECK(after_of("again[2]") == std::vector<std::string>{"train[2]"});
  CHECK(after_of("report") == std::vector<std::string>{"eval[0]", "eval[1]", "eval[2]", "prep[1]"});
  CHECK(after_of("one") == std::vector<std::string>{"train[2]"});
}

TEST_CASE("an array whose id has placeholders is named by that id as written") {
  const JobSpec job = Spec(LoadJson(R"({"steps": [
    {"id": "sim-{a}", "each": {"a": ["x", "y", "z"]}, "cmd": "sim {a}"},
    {"id": "all", "cmd": "true", "after": ["sim-{a}"]},
    {"id": "one", "cmd": "true", "after": ["sim-{a}[2]"]},
    {"id": "by-id", "cmd": "true", "after": ["sim-y"]},
    {"id": "pair", "each": {"b": [1, 2, 3]}, "cmd": "true", "stdin_from": "sim-{a}[{index}]"}]})"));
  CHECK(Ids(job) == std::vector<std::string>{"sim-x", "sim-y", "sim-z", "all", "one", "by-id",
                                             "pair[0]", "pair[1]", "pair[2]"});
  CHECK(IdsOf(job, job.steps[3].after) == std::vector<std::string>{"sim-x", "sim-y", "sim-z"});
  CHECK(IdsOf(job, job.steps[4].after) == std::vector<std::string>{"sim-z"});
  CHECK(IdsOf(job, job.steps[5].after) == std::vector<std::string>{"sim-y"});
  CHECK(IdsOf(job, job.steps[7].StdinFrom()) == std::vector<std::string>{"sim-y"});
}

TEST_CASE("stdin_from an array reads all its elements in index order") {
  const JobSpec job = Spec(LoadJson(R"({"steps": [
    {"id": "part", "each": {"n": {"range": [3, 0, -1]}}, "cmd": "echo {n}"},
    {"id": "head", "cmd": "echo head"},
    {"id": "all", "cmd": "cat", "stdin_from": ["head", "part"]}]})"));
  const StepSpec& all = job.steps.back();
  CHECK(IdsOf(job, all.StdinFrom()) ==
        std::vector<std::string>{"head", "part[0]", "part[1]", "part[2]"});
  CHECK(all.after.size() == 4);
  CHECK(job.steps[0].argv == std::vector<std::string>{"echo 3"});
}

TEST_CASE("every problem with arrays is reported at once, once per array") {
  const LoadedJob loaded = LoadJson(R"({"steps": [
    {"id": "a", "each": {"x": []}, "cmd": "true"},
    {"id": "b", "each": {"r": {"range": [0, 10, 0]}, "s": {"range": [5, 5]}}, "cmd": "true"},
    {"id": "c", "each": {}, "cmd": "true"},
    {"id": "d", "each": {"9x": [1], "index": [1], "ok": [true]}, "cmd": "true"},
    {"id": "e", "each": {"lr": [1, 2]}, "cmd": "echo {lrr} {lr} {lrr}", "env": {"A": "{seed}"}},
    {"id": "f", "each": {"p": [1, 2, 3]}, "cmd": "true", "after": ["e[{index}]", "e[5]", "g[{q}]"]},
    {"id": "g", "each": {"q": [1, 2, 3]}, "cmd": "true", "after": ["f[{q}]"]},
    {"id": "h-{v}", "each": {"v": ["a", "a", "b c"]}, "cmd": "true"},
    {"id": "i", "cmd": "true", "after": ["g[{index}]"]},
    {"id": "j", "each": {"n": {"lines": "points.txt"}}, "cmd": "true"},
    {"id": "k", "each": {"Lr": [1], "lR": [2]}, "cmd": "true"}]})");
  CHECK_FALSE(loaded.spec.has_value());
  CHECK(
      Problems(loaded) ==
      std::vector<std::string>{
          "steps[0] (id \"a\").each.x: must not be empty (an array of no elements runs nothing)",
          "steps[1] (id \"b\").each.r.range: the step must not be 0",
          "steps[1] (id \"b\").each.s.range: is empty: from 5 to 5 (excluded) by 1 gives no value",
          "steps[2] (id \"c\").each: needs at least one parameter (an array of one element is a "
          "plain "
          "step)",
          "steps[3] (id \"d\").each.9x: not a parameter name (a letter or \"_\", then letters, "
          "digits or \"_\")",
          "steps[3] (id \"d\").each.index: \"index\" is the element's position, not a parameter: "
          "choose another name",
          "steps[3] (id \"d\").each.ok[0]: expected a string or a number, got boolean true",
          "steps[4] (id \"e\").cmd: unknown placeholder {lrr} (the parameters here are lr and "
          "index; "
          "write {{ and }} for a literal brace)",
          "steps[4] (id \"e\").env.A: unknown placeholder {seed} (the parameters here are lr and "
          "index; write {{ and }} for a literal brace)",
          "steps[5] (id \"f\").after[0]: pairs elements with \"e\", which has another shape (2 "
          "elements there, 3 here): arrays pair only when their parameters have the same sizes in "
          "the same order",
          "steps[5] (id \"f\").after[1]: \"e\" has 2 elements (0 to 1), not 5",
          "steps[5] (id \"f\").after[2]: unknown placeholder {q} (the parameters here are p and "
          "index)",
          "steps[6] (id \"g\").after[0]: \"f\" has no parameter \"q\" with the same values in the "
          "same place, so {q} cannot pair with it (pair by position with {index})",
          // (A problem with an id is named by position only, as for plain steps.)
          "steps[7].id: element 2's id \"h-b c\" is not a valid id (1 to 128 letters, digits, "
          "\"_\", "
          "\".\" and \"-\"): choose placeholders whose values are such, or use {index}",
          "steps[7].id: duplicate id \"h-a\" (element 1; also element 0 of steps[7])",
          "steps[8] (id \"i\").after[0]: {index} pairs elements of two arrays, but this step has "
          "no "
          "\"each\"",
          "steps[9] (id \"j\").each.n: \"lines\" names a file that `submit` reads into a list "
          "before "
          "sending; a job file that comes another way must list the values",
          "steps[10] (id \"k\").each.lR: both \"Lr\" and \"lR\" would be DROVER_PARAM_LR in the "
          "environment",
      });
}

TEST_CASE("elements count against the step limit") {
  JobLimits limits;
  limits.max_steps = 10;
  CHECK(Problems(LoadJson(R"({"steps": [
    {"id": "a", "each": {"x": {"range": [0, 4]}, "y": [1, 2, 3]}, "cmd": "true"}]})",
                          limits)) ==
        std::vector<std::string>{"steps[0] (id \"a\").each: makes 12 elements, more than the "
                                 "limit of 10 steps (--max-steps)"});
  CHECK(Problems(LoadJson(R"({"steps": [
    {"id": "a", "each": {"x": {"range": [0, 8]}}, "cmd": "true"},
    {"id": "b", "cmd": "true"},
    {"id": "c", "each": {"x": [1, 2]}, "cmd": "true"}]})",
                          limits)) ==
        std::vector<std::string>{"steps[2] (id \"c\").each: makes the job more than 10 steps "
                                 "(--max-steps; each element of an array counts as one)"});
  // At the limit exactly, it loads.
  CHECK(Spec(LoadJson(R"({"steps": [
    {"id": "a", "each": {"x": {"range": [0, 9]}}, "cmd": "true"},
    {"id": "b", "cmd": "true", "after": ["a"]}]})",
                      limits))
            .steps.size() == 10);
  // Past 2^64 elements is said, not wrapped around.
  CHECK(Problems(LoadJson(R"({"steps": [{"id": "a", "cmd": "true", "each": {
    "x": {"range": [-9223372036854775808, 9223372036854775807]},
    "y": {"range": [-9223372036854775808, 9223372036854775807]}}}]})")) ==
        std::vector<std::string>{"steps[0] (id \"a\").each: makes more than 2^64 elements, more "
                                 "than the limit of 1000000 steps (--max-steps)"});
}

TEST_CASE("the dependencies arrays make, written out, have a limit") {
  // 10,000 elements each after all of 10,000: 10^8 edges, past 2^26, reported
  // before anything is written out.
  CHECK(Problems(LoadJson(R"({"steps": [
    {"id": "a", "each": {"x": {"range": [0, 10000]}}, "cmd": "true"},
    {"id": "b", "each": {"x": {"range": [0, 10000]}}, "cmd": "true", "after": ["a"]}]})")) ==
        std::vector<std::string>{
            "steps[1] (id \"b\"): its references to arrays make more than 67108864 dependencies "
            "in the job, written out; depend on fewer elements (a step after the array can "
            "stand for it)"});
  // Through one step after the array instead, it is 20,000.
  CHECK(Spec(LoadJson(R"({"steps": [
    {"id": "a", "each": {"x": {"range": [0, 10000]}}, "cmd": "true"},
    {"id": "a-done", "cmd": "true", "after": ["a"]},
    {"id": "b", "each": {"x": {"range": [0, 10000]}}, "cmd": "true", "after": ["a-done"]}]})"))
            .steps.size() == 20001);
}

TEST_CASE("rendered values are checked against the limits, once per array") {
  JobLimits limits;
  limits.max_argv_bytes = 16;
  CHECK(Problems(LoadJson(R"({"steps": [
    {"id": "a", "each": {"w": ["short", "a much longer word", "another long word"]},
     "argv": ["echo", "{w}"]}]})",
                          limits)) ==
        std::vector<std::string>{"steps[0] (id \"a\").argv: element 1's is 24 bytes, more than "
                                 "the limit of 16 bytes for a command line"});
  CHECK(Problems(LoadJson(R"({"steps": [
    {"id": "a", "each": {"p": ["", "x"]}, "argv": ["{p}"]}]})")) ==
        std::vector<std::string>{"steps[0] (id \"a\").argv: element 0's program to run is empty"});
}

TEST_CASE("an array's id is taken once: by no plain step and no other array") {
  CHECK(Problems(LoadJson(R"({"steps": [
    {"id": "x", "each": {"a": [1]}, "cmd": "true"},
    {"id": "x", "cmd": "true"}]})")) ==
        std::vector<std::string>{"steps[1].id: duplicate id \"x\" (also steps[0].id, an array)"});
  CHECK(
      Problems(LoadJson(R"({"steps": [
    {"id": "x[0]", "cmd": "true"},
    {"id": "x", "each": {"a": [1]}, "cmd": "true"}]})")) ==
      std::vector<std::string>{"steps[1].id: duplicate id \"x[0]\" (element 0; also steps[0].id)"});
  CHECK(Problems(LoadJson(R"({"steps": [
    {"id": "x", "each": {"a": [1]}, "cmd": "true", "after": ["x"]}]})")) ==
        std::vector<std::string>{"steps[0] (id \"x\").after[0]: a step cannot come after itself"});
}

TEST_CASE("`lines` is read by ReadJobFile, relative to the job file") {
  testing::TempDir dir;
  std::ofstream(dir / "points.txt") << "a,1\r\n\nb,2\nc,3";
  std::ofstream(dir / "job.json")
      << R"({"steps": [{"id": "p", "each": {"pt": {"lines": "points.txt"}}, "argv": ["echo", "{pt}"]}]})";
  Result<std::string> bytes = ReadJobFile(dir / "job.json");
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().message());
  const JobSpec job = Spec(LoadJob(*bytes));
  std::vector<std::string> shown;
  for (const StepSpec& s : job.steps) shown.push_back(s.argv[1]);
  CHECK(shown == std::vector<std::string>{"a,1", "b,2", "c,3"});

  std::ofstream(dir / "missing.json")
      << R"({"steps": [{"id": "p", "each": {"pt": {"lines": "nowhere.txt"}}, "cmd": "true"}]})";
  const Result<std::string> missing = ReadJobFile(dir / "missing.json");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("steps[0].each.pt.lines: ") != std::string::npos);
  CHECK(missing.status().message().find("nowhere.txt") != std::string::npos);

  // Without `lines`, the bytes pass through untouched.
  Result<std::string> plain = JsonToMsgpack(R"({"steps": [{"id": "a", "cmd": "true"}]})");
  REQUIRE(plain.ok());
  Result<std::string> resolved = ResolveEachLines(*plain, dir.path());
  REQUIRE(resolved.ok());
  CHECK(*resolved == *plain);
}

TEST_CASE("an expanded job whose name is not UTF-8 is an error, not a crash") {
  // MessagePack lets a name hold any bytes; JSON cannot.
  JobSpec job = Spec(LoadJson(R"({"steps": [{"id": "a", "cmd": "true"}]})"));
  job.name = "p\xa6q";
  Result<std::string> json = JobSpecToJson(job);
  REQUIRE_FALSE(json.ok());
  CHECK(json.status().message() == "the job's name is not UTF-8 text, which JSON cannot hold");
}

TEST_CASE("the expanded job file loads back to the same job") {
  const JobSpec job = Spec(LoadJson(R"({"name": "sweep", "max_parallel": 3, "lease": 2.5,
    "defaults": {"timeout": 1.5, "retries": 1, "resources": {"mem": "1G"}},
    "steps": [
    {"id": "prep", "cmd": "mkdir -p out"},
    {"id": "sim", "each": {"a": [0.1, 0.2], "b": {"range": [1, 3]}}, "after": ["prep"],
     "argv": ["sim", "{a}", "{b}"], "env": {"X": "{index}"}, "priority": -3, "requires": ["big"]},
    {"id": "sum", "cmd": "sort", "stdin_from": ["sim", "prep"], "when": "always"}]})"));
  Result<std::string> json = JobSpecToJson(job);
  REQUIRE_MESSAGE(json.ok(), json.status().message());
  // One step a line.
  CHECK(
      json->find("    {\"id\":\"sim[3]\",\"argv\":[\"sim\",\"0.2\",\"2\"],\"after\":[\"prep\"]") !=
      std::string::npos);
  const JobSpec again = Spec(LoadJson(*json));
  REQUIRE(again.steps.size() == job.steps.size());
  CHECK(again.name == job.name);
  CHECK(again.max_parallel == 3);
  CHECK(again.lease_ms == 2500);
  for (size_t i = 0; i < job.steps.size(); ++i) {
    const StepSpec& a = job.steps[i];
    const StepSpec& b = again.steps[i];
    CAPTURE(a.id);
    CHECK(a.id == b.id);
    CHECK(a.argv == b.argv);
    CHECK(a.shell == b.shell);
    CHECK(a.env == b.env);
    CHECK(IdsOf(job, a.after) == IdsOf(again, b.after));
    CHECK(IdsOf(job, a.StdinFrom()) == IdsOf(again, b.StdinFrom()));
    CHECK(a.timeout_ms == b.timeout_ms);
    CHECK(a.retries == b.retries);
    CHECK(a.priority == b.priority);
    CHECK(a.requires_labels == b.requires_labels);
    CHECK(a.when == b.when);
    CHECK(job.ResourcesOf(a) == again.ResourcesOf(b));
  }
}

}  // namespace drover
