// Arrays kept as templates (LoadOptions::keep_arrays, shared/job_elements.h):
// what the broker renders of each element, and the edges it writes out,
// against what the expanding loader gives for the same file.
#include "shared/job_elements.h"

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "shared/job_load.h"

namespace drover {
namespace {

std::vector<std::string> Problems(const LoadedJob& loaded) {
  std::vector<std::string> lines;
  for (const Problem& p : loaded.problems) lines.push_back(FormatProblem(p));
  return lines;
}

struct Both {
  LoadedJob expanded;
  LoadedJob kept;
};

Both LoadBoth(std::string_view json, const JobLimits& limits = {}) {
  Result<std::string> bytes = JsonToMsgpack(json);
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().message());
  return {LoadJob(*bytes, limits), LoadJob(*bytes, limits, kKeepArrays)};
}

// Every field of a step as expansion writes it.
void CheckSameStep(const StepSpec& a, const StepSpec& b) {
  CAPTURE(a.id);
  CHECK(a.id == b.id);
  CHECK(a.argv == b.argv);
  CHECK(a.after == b.after);
  CHECK(a.stdin_data == b.stdin_data);
  CHECK(a.env == b.env);
  CHECK(a.cwd == b.cwd);
  CHECK(a.retry_unless_exit == b.retry_unless_exit);
  CHECK(a.requires_labels == b.requires_labels);
  CHECK(a.timeout_ms == b.timeout_ms);
  CHECK(a.retries == b.retries);
  CHECK(a.retry_delay_ms == b.retry_delay_ms);
  CHECK(a.slots == b.slots);
  CHECK(a.priority == b.priority);
  CHECK(a.duration_ms == b.duration_ms);
  CHECK(a.time_request_ms == b.time_request_ms);
  CHECK(a.stdin_from_count == b.stdin_from_count);
  CHECK(a.each == b.each);
  CHECK(a.resources == b.resources);
  CHECK(a.shell == b.shell);
  CHECK(a.when == b.when);
}

// The templated spec stands for exactly the expanded one: the same
// elements, numbered alike, each rendered and connected alike.
void CheckStandsFor(const JobSpec& kept, const JobSpec& expanded) {
  REQUIRE(kept.HasTemplates());
  REQUIRE_FALSE(expanded.HasTemplates());
  const std::vector<uint32_t> first = FirstElements(kept);
  REQUIRE(first.back() == expanded.steps.size());
  const JobSpec written = ExpandTemplates(kept);
  REQUIRE(written.steps.size() == expanded.steps.size());
  for (size_t i = 0; i < written.steps.size(); ++i)
    CheckSameStep(written.steps[i], expanded.steps[i]);
  CHECK(written.resource_requests == expanded.resource_requests);
  CHECK(written.arrays.empty());
  // One element at a time, as the broker renders them.
  for (uint32_t t = 0; t < kept.steps.size(); ++t) {
    for (uint32_t e = first[t]; e < first[t + 1]; ++e) {
      StepSpec one = RenderElement(kept, t, e - first[t]);
      CHECK(ElementIdOf(kept, t, e - first[t]) == expanded.steps[e].id);
      one.after = expanded.steps[e].after;
      one.stdin_from_count = StdinFromCount(kept, first, t);
      CheckSameStep(one, expanded.steps[e]);
    }
  }
  const std::vector<bool> captured = CapturedElements(kept);
  CHECK(captured == CapturedElements(expanded));
}

void CheckKeptLikeExpanded(std::string_view json) {
  const Both both = LoadBoth(json);
  for (const std::string& p : Problems(both.expanded)) MESSAGE(p);
  REQUIRE(both.expanded.spec.has_value());
  REQUIRE(both.kept.spec.has_value());
  CheckStandsFor(*both.kept.spec, *both.expanded.spec);
}

TEST_CASE("a kept array renders each element's fields as expansion does") {
  CheckKeptLikeExpanded(R"({"steps": [
    {"id": "sim-{lr}-{seed}", "each": {"lr": [0.1, 0.01], "seed": {"range": [0, 3]}},
     "argv": ["train", "--lr={lr}", "--seed", "{seed}", "{{literal}}", "${HOME}"],
     "env": {"RUN": "r{index}", "LR": "{lr}", "DROVER_INDEX": "mine"},
     "cwd": "/tmp/run-{seed}", "stdin": "seed {seed}\n", "retries": 2, "slots": 2,
     "priority": 3, "timeout": 60, "requires": ["gpu"]},
    {"id": "shell", "each": {"x": ["a b", "c"]}, "cmd": "echo {x} | awk '{ print $1 }'"},
    {"id": "plain", "cmd": "echo plain", "after": ["shell"]}]})");
}

TEST_CASE("a kept array keeps the three kinds of edges, and `when`") {
  CheckKeptLikeExpanded(R"({"steps": [
    {"id": "prep", "each": {"i": {"range": [0, 4]}}, "cmd": "prep {i}"},
    {"id": "train", "each": {"i": {"range": [0, 4]}}, "cmd": "train {i}",
     "after": ["prep[{index}]", "prep[3]", "prep[{i}]"]},
    {"id": "one", "cmd": "one", "after": ["prep[2]"]},
    {"id": "all", "cmd": "all", "after": ["train", "one"], "when": "always"},
    {"id": "fix", "each": {"k": [1, 2]}, "cmd": "fix {k}", "after": ["train"],
     "when": "failure"},
    {"id": "by-id", "cmd": "x", "after": ["sim-7", "plain"]},
    {"id": "sim-{n}", "each": {"n": [5, 6, 7]}, "cmd": "sim {n}", "after": ["plain"]},
    {"id": "plain", "cmd": "plain"}]})");
}

TEST_CASE("a kept array reads stdin_from an array, paired, one or all in order") {
  CheckKeptLikeExpanded(R"({"steps": [
    {"id": "head", "cmd": "echo head"},
    {"id": "part", "each": {"p": [1, 2, 3]}, "cmd": "echo {p}"},
    {"id": "all", "cmd": "cat", "stdin_from": ["head", "part"], "after": ["part[1]", "head"]},
    {"id": "pair", "each": {"q": [4, 5, 6]}, "cmd": "cat", "stdin_from": "part[{index}]",
     "after": ["part"]},
    {"id": "two", "cmd": "cat", "stdin_from": ["part[2]", "part[0]"]}]})");
}

TEST_CASE("a job without arrays loads plain with keep_arrays") {
  const Both both = LoadBoth(R"({"steps": [{"id": "a", "cmd": "a"},
    {"id": "b", "cmd": "b", "after": ["a"], "stdin_from": "a"}]})");
  REQUIRE(both.kept.spec.has_value());
  CHECK_FALSE(both.kept.spec->HasTemplates());
  CHECK(FirstElements(*both.kept.spec) == std::vector<uint32_t>{0, 1, 2});
  CheckSameStep(both.kept.spec->steps[1], both.expanded.spec->steps[1]);
}

TEST_CASE("keep_arrays reports the problems expansion reports, in its words") {
  const std::vector<std::string_view> files = {
      // a cycle through arrays
      R"({"steps": [{"id": "a", "each": {"i": [1, 2]}, "cmd": "a", "after": ["b[{index}]"]},
                    {"id": "b", "each": {"i": [1, 2]}, "cmd": "b", "after": ["a[1]"]}]})",
      // rendered ids that clash
      R"({"steps": [{"id": "s-{i}", "each": {"i": [1, 2]}, "cmd": "a"},
                    {"id": "s-2", "cmd": "b"}]})",
      // an unknown reference, and a pattern array after its own element
      R"({"steps": [{"id": "s-{i}", "each": {"i": [1, 2]}, "cmd": "a", "after": ["s-1"]},
                    {"id": "b", "cmd": "b", "after": ["nope"]}]})",
      // an element read twice
      R"({"steps": [{"id": "p", "each": {"i": [1, 2]}, "cmd": "a"},
                    {"id": "c", "cmd": "c", "stdin_from": ["p", "p[1]"]}]})",
      // an array after its own element
      R"({"steps": [{"id": "p", "each": {"i": [1, 2]}, "cmd": "a", "after": ["p[0]"]}]})",
      // placeholders that name nothing, and an element's env past the limit
      R"({"steps": [{"id": "p", "each": {"i": [1, 2]}, "cmd": "a {j}"}]})",
  };
  for (std::string_view file : files) {
    CAPTURE(file);
    const Both both = LoadBoth(file);
    CHECK_FALSE(both.expanded.problems.empty());
    CHECK(Problems(both.kept) == Problems(both.expanded));
  }
  JobLimits small;
  small.max_env_bytes = 40;
  const Both env = LoadBoth(R"({"steps": [{"id": "p", "each": {"i": {"range": [0, 20]}},
    "cmd": "a", "env": {"X": "{i}{i}{i}{i}"}}]})",
                            small);
  CHECK_FALSE(env.expanded.problems.empty());
  CHECK(Problems(env.kept) == Problems(env.expanded));
}

TEST_CASE("keep_arrays leaves to expansion a plain id that looks like an element's") {
  // Valid (validate --expand writes such files): accepted, written out.
  const Both both = LoadBoth(R"({"steps": [{"id": "p[0]", "cmd": "a"},
    {"id": "q", "each": {"i": [1, 2]}, "cmd": "b", "after": ["p[0]"]}]})");
  REQUIRE(both.kept.spec.has_value());
  CHECK_FALSE(both.kept.spec->HasTemplates());
  CHECK(both.kept.spec->steps.size() == 3);
}

TEST_CASE("a million-element array stays a few templates") {
  const Both both = LoadBoth(R"({"steps": [
    {"id": "sim", "each": {"i": {"range": [0, 999999]}}, "cmd": "true"},
    {"id": "sum", "cmd": "true", "after": ["sim"]}]})");
  REQUIRE(both.kept.spec.has_value());
  const JobSpec& kept = *both.kept.spec;
  CHECK(kept.steps.size() == 2);
  CHECK(kept.template_refs.size() == 1);
  const std::vector<uint32_t> first = FirstElements(kept);
  CHECK(first.back() == 1'000'000);
  const ElementEdges edges = ElementAfter(kept, first);
  CHECK(edges.Of(999'999).size() == 999'999);
  CHECK(edges.Of(999'998).empty());
  CHECK(ElementIdOf(kept, 0, 999'998) == "sim[999998]");
}

}  // namespace
}  // namespace drover
