// What LoadJob's problems say to help a person find and fix them: steps named
// by id as well as position, and hints for the names other tools give our
// fields (shared/job_synonyms.h), before the spellchecker's.

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

// The one problem of a job whose only step is {"id": "a", "cmd": "x", <field>}.
std::string StepFieldProblem(std::string_view field) {
  const std::vector<std::string> lines =
      Problems(R"({"steps": [{"id": "a", "cmd": "x", )" + std::string(field) + "}]}");
  REQUIRE_MESSAGE(lines.size() == 1, doctest::toString(lines));
  return lines[0];
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

TEST_CASE("other tools' names for a step field get a hint to ours") {
  CHECK(StepFieldProblem(R"("command": "y")") ==
        "steps[0] (id \"a\").command: unknown field (did you mean \"cmd\"?)");
  for (const char* after :
       {"depends_on", "depends", "dependencies", "deps", "needs", "Depends-On"}) {
    CAPTURE(after);
    CHECK(StepFieldProblem("\"" + std::string(after) + "\": []") ==
          "steps[0] (id \"a\")." + std::string(after) +
              ": unknown field (did you mean \"after\"?)");
  }
  CHECK(StepFieldProblem(R"("environment": {})") ==
        "steps[0] (id \"a\").environment: unknown field (did you mean \"env\"?)");
  for (const char* cwd : {"workdir", "dir", "working_dir", "working_directory", "directory"}) {
    CAPTURE(cwd);
    CHECK(StepFieldProblem("\"" + std::string(cwd) + "\": \"/\"") ==
          "steps[0] (id \"a\")." + std::string(cwd) + ": unknown field (did you mean \"cwd\"?)");
  }
  CHECK(StepFieldProblem(R"("retry": 2)") ==
        "steps[0] (id \"a\").retry: unknown field (did you mean \"retries\"?)");
  CHECK(StepFieldProblem(R"("max_retries": 2)") ==
        "steps[0] (id \"a\").max_retries: unknown field (did you mean \"retries\"?)");
  CHECK(StepFieldProblem(R"("time_limit": 60)") ==
        "steps[0] (id \"a\").time_limit: unknown field (did you mean \"timeout\"?)");
  CHECK(StepFieldProblem(R"("args": [])") ==
        "steps[0] (id \"a\").args: unknown field (did you mean \"argv\"?)");
}

TEST_CASE("our own field in another case or with - for _ gets a hint to it") {
  CHECK(StepFieldProblem(R"("SLOTS": 2)") ==
        "steps[0] (id \"a\").SLOTS: unknown field (did you mean \"slots\"?)");
  CHECK(StepFieldProblem(R"("stdin-from": "a")") ==
        "steps[0] (id \"a\").stdin-from: unknown field (did you mean \"stdin_from\"?)");
}

TEST_CASE("the spellchecker still answers what the synonyms do not know") {
  CHECK(StepFieldProblem(R"("retires": 2)") ==
        "steps[0] (id \"a\").retires: unknown field (did you mean \"retries\"?)");
  CHECK(StepFieldProblem(R"("colour": "red")") == "steps[0] (id \"a\").colour: unknown field");
  // "requires" is a field of ours (labels), never a synonym for "after".
  CHECK(Problems(R"({"steps": [{"id": "a", "cmd": "x", "requires": ["b"]}]})").empty());
}

TEST_CASE("in defaults, a synonym hints only at a field defaults may hold") {
  CHECK(Problems(R"({"defaults": {"environment": {}, "workdir": "/"},
    "steps": [{"id": "a", "cmd": "x"}]})") ==
        std::vector<std::string>{
            "defaults.environment: unknown field (did you mean \"env\"?)",
            "defaults.workdir: unknown field (did you mean \"cwd\"?)",
        });
  // Each step says what it runs: no hint at a field defaults may not hold.
  CHECK(Problems(R"({"defaults": {"command": "x"}, "steps": [{"id": "a", "cmd": "x"}]})") ==
        std::vector<std::string>{"defaults.command: unknown field"});
}

TEST_CASE("at the top of the file, synonyms of job fields and of step fields") {
  CHECK(Problems(R"({"tasks": []})") == std::vector<std::string>{
                                            "missing \"steps\" (the list of steps to run)",
                                            "tasks: unknown field (did you mean \"steps\"?)",
                                        });
  CHECK(Problems(R"({"environment": {}, "command": "x", "steps": [{"id": "a", "cmd": "x"}]})") ==
        std::vector<std::string>{
            "environment: unknown field (did you mean \"env\"? It is a step field: set it in "
            "each step, or in \"defaults\")",
            "command: unknown field (did you mean \"cmd\"? It is a step field: set it in each "
            "step)",
        });
}

}  // namespace
}  // namespace drover
