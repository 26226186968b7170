// What LoadJob's problems say to help a person find and fix them: steps named
// by id as well as position.

#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "shared/job_load.h"

namespace drover {
namespace {

std::vector<std::string> Problems(std::string_view json) {
  const Result<std::string> bytes = JsonToMsgpack(json);
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().message());
  const LoadedJob loaded = LoadJob(bytes.value());
  CHECK(loaded.spec.has_value() == loaded.problems.empty());
  std::vector<std::string> lines;
  for (const Problem& p : loaded.problems) lines.push_back(FormatProblem(p));
  return lines;
}

TEST_CASE("a problem in a step names the step by its id as well as its position") {
  CHECK(Problems(R"({"steps": [
    {"id": "fetch", "cmd": "x"},
    {"id": "train", "cmd": "x", "retries": "3", "after": ["fecth"]},
    {"id": "report", "cmd": "x", "argv": ["x"]}]})") ==
        std::vector<std::string>{
            "steps[1] (id \"train\").retries: expected an integer, got string \"3\"",
            "steps[1] (id \"train\").after[0]: unknown step \"fecth\" (did you mean \"fetch\"?)",
            "steps[2] (id \"report\"): needs exactly one of \"argv\" or \"cmd\", found both",
        });
}

TEST_CASE("the id comes from the step whatever the order of its fields") {
  CHECK(Problems(R"({"steps": [{"slots": 0, "cmd": "x", "id": "late"}]})") ==
        std::vector<std::string>{
            "steps[0] (id \"late\").slots: must be between 1 and 65536, got 0",
        });
}

TEST_CASE("a step without a valid id is named by its position alone") {
  CHECK(Problems(R"({"steps": [
    {"cmd": "x", "slots": 0},
    {"id": "a b", "cmd": "x", "slots": 0},
    {"id": 7, "cmd": "x", "slots": 0},
    {"id": "", "cmd": "x"},
    "not a step"]})") ==
        std::vector<std::string>{
            "steps[0]: missing \"id\"",
            "steps[0].slots: must be between 1 and 65536, got 0",
            "steps[1].id: invalid id \"a b\" (use only letters, digits, \"_\", \".\" and \"-\")",
            "steps[1].slots: must be between 1 and 65536, got 0",
            "steps[2].id: expected a string, got integer 7",
            "steps[2].slots: must be between 1 and 65536, got 0",
            "steps[3].id: must not be empty",
            "steps[4]: expected a map of step fields, got string \"not a step\"",
        });
}

TEST_CASE("a problem with the id itself keeps its path, since it shows the id") {
  CHECK(Problems(R"({"steps": [
    {"id": "build", "cmd": "x"},
    {"id": "build", "cmd": "x", "slots": 0}]})") ==
        std::vector<std::string>{
            "steps[1].id: duplicate id \"build\" (also steps[0].id)",
            "steps[1] (id \"build\").slots: must be between 1 and 65536, got 0",
        });
}

TEST_CASE("problems outside steps, and in defaults, have no step to name") {
  CHECK(Problems(R"({"defaults": {"slots": 0}, "max_parallel": 0,
    "steps": [{"id": "a", "cmd": "x"}], "steps[0]": 1})") ==
        std::vector<std::string>{
            "defaults.slots: must be between 1 and 65536, got 0",
            "max_parallel: must be between 1 and 1000000, got 0",
            "[\"steps[0]\"]: unknown field (did you mean \"steps\"?)",
        });
}

}  // namespace
}  // namespace drover
