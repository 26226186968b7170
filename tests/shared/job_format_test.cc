// shared/job_format.h: which format a job file is in, and what a file in
// neither format looks like; and how ReadJobFile and JsonToMsgpack say it.

#include "shared/job_format.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "shared/job_load.h"

namespace drover {
namespace {

constexpr const char* kFormatsRead = "Drover reads JSON or MessagePack job files (docs/jobs.md)";

// Why GuessJobFormat turns `bytes` away; fails the test if it does not.
std::string Refusal(std::string_view bytes) {
  const Result<JobFormat> format = GuessJobFormat(bytes);
  REQUIRE_FALSE(format.ok());
  return format.status().message();
}

JobFormat Format(std::string_view bytes) {
  const Result<JobFormat> format = GuessJobFormat(bytes);
  REQUIRE_MESSAGE(format.ok(), format.status().message());
  return format.value();
}

std::string JsonError(std::string_view text) {
  const Result<std::string> bytes = JsonToMsgpack(text);
  REQUIRE_FALSE(bytes.ok());
  return bytes.status().message();
}

// A file with `content` in a fresh temporary directory, removed at the end.
struct TempFile {
  explicit TempFile(const std::string& name, const std::string& content) {
    char dir_template[] = "/tmp/drover-format-XXXXXX";
    REQUIRE(mkdtemp(dir_template) != nullptr);
    dir = dir_template;
    path = dir + "/" + name;
    FILE* file = std::fopen(path.c_str(), "wb");
    REQUIRE(file != nullptr);
    std::fwrite(content.data(), 1, content.size(), file);
    std::fclose(file);
  }
  ~TempFile() {
    std::remove(path.c_str());
    rmdir(dir.c_str());
  }
  std::string dir, path;
};

TEST_CASE("JSON is a file that starts with a brace or a bracket, after blank space and a BOM") {
  CHECK(Format("{\"steps\": []}") == JobFormat::kJson);
  CHECK(Format("  \n\t{}") == JobFormat::kJson);
  CHECK(Format("\xEF\xBB\xBF{}") == JobFormat::kJson);
  CHECK(Format("[1, 2]") == JobFormat::kJson);
  CHECK(Format("\r\n[") == JobFormat::kJson);
}

TEST_CASE("MessagePack is anything that does not start like text") {
  CHECK(Format("\x81\xa5steps\x90") == JobFormat::kMsgpack);  // a map: every job file
  CHECK(Format("\xde\x00\x01") == JobFormat::kMsgpack);
  CHECK(Format("\x91\x01") == JobFormat::kMsgpack);  // an array: LoadJob says it is no map
  CHECK(Format(std::string("\x00\x01", 2)) == JobFormat::kMsgpack);
  CHECK(Format("\x7f") == JobFormat::kMsgpack);
  // Printable at first, then a control byte: binary, not text.
  CHECK(Format(std::string("A\x00\x02", 3)) == JobFormat::kMsgpack);
}

TEST_CASE("a file of nothing, or of blank space only, is empty") {
  CHECK(Refusal("") == "the job file is empty");
  CHECK(Refusal(" \n\t\r\n") == "the job file is empty");
  CHECK(Refusal("\xEF\xBB\xBF") == "the job file is empty");
}

TEST_CASE("YAML: a comment, a document marker, a list item or a key: line") {
  const std::string yaml = std::string("looks like YAML; ") + kFormatsRead;
  CHECK(Refusal("# nightly build\nsteps:\n  - id: a\n") == yaml);
  CHECK(Refusal("---\nsteps: []\n") == yaml);
  CHECK(Refusal("%YAML 1.2\n---\n") == yaml);
  CHECK(Refusal("\n\nsteps:\n  - id: a\n    cmd: make\n") == yaml);
  CHECK(Refusal("name: nightly\r\n") == yaml);
  CHECK(Refusal("max_parallel : 4") == yaml);
  CHECK(Refusal("- id: a\n") == yaml);
  CHECK(Refusal("'steps':\n") == yaml);
  CHECK(Refusal("\xEF\xBB\xBFsteps:") == yaml);
}

TEST_CASE("other text is named by how it starts") {
  CHECK(Refusal("steps = [\"a\"]\n") ==
        std::string("starts with \"steps = [\\\"a\\\"]\" (text, but not JSON, which starts "
                    "with \"{\"); ") +
            kFormatsRead);
  // The inside of a JSON object, without its braces.
  CHECK(Refusal("\"steps\": []") ==
        std::string("starts with \"\\\"steps\\\": []\" (text, but not JSON, which starts with "
                    "\"{\"); ") +
            kFormatsRead);
  CHECK(Refusal("#!/bin/sh\nmake\n") ==
        std::string("looks like a script (it starts with \"#!\"), not a job file; ") +
            kFormatsRead);
  CHECK(Refusal("key:value") ==
        std::string("starts with \"key:value\" (text, but not JSON, which starts with \"{\"); ") +
            kFormatsRead);
  CHECK(Refusal(std::string("\xFF\xFE{\0", 4)) ==
        std::string("looks like UTF-16 text; save it as UTF-8 (") + kFormatsRead + ")");
}

TEST_CASE("JSON comments are named with their line, wherever they are") {
  CHECK(Refusal("// the nightly build\n{}") == "JSON does not allow comments (line 1)");
  CHECK(Refusal("\n\n  /* nightly */ {}") == "JSON does not allow comments (line 3)");
  CHECK(JsonError("{\n  \"name\": \"n\",\n  // the steps\n  \"steps\": []\n}") ==
        "JSON does not allow comments (line 3)");
  CHECK(JsonError("{\"steps\": [] /* none yet */}") == "JSON does not allow comments (line 1)");
  CHECK(JsonError("{\"steps\": []}\n// trailing\n") == "JSON does not allow comments (line 2)");
  // "//" inside a string is no comment; the mistake before a comment is
  // reported as itself.
  CHECK(JsonError("{\"url\": \"https://example.org\", \"a\": \"q\\\"//\",\n x // y\n}")
            .starts_with("line 2, column 2: syntax error"));
  CHECK(JsonCommentLine("{\"a\": \"//\\\\\"} // z", SIZE_MAX) == 1);
  CHECK(JsonCommentLine("{\"a\": \"//\"}", SIZE_MAX) == 0);
  CHECK(JsonCommentLine("{} // z", 3) == 0);
}

TEST_CASE("a JSON syntax error names the line and column") {
  CHECK(JsonError("{\n  \"steps\": [\n    {\"id\": }\n  ]\n}")
            .starts_with("line 3, column 12: syntax error"));
  CHECK(JsonError("[\n  1,\n  2,\n]").starts_with("line 4, column 1: syntax error"));
  CHECK(JsonError("{\"steps\": [").starts_with("line 1, column 12: syntax error"));
}

TEST_CASE("ReadJobFile names the file and says what it looks like") {
  TempFile yaml("job.yaml", "steps:\n  - id: a\n    cmd: make\n");
  const Result<std::string> read = ReadJobFile(yaml.path);
  REQUIRE_FALSE(read.ok());
  CHECK(read.status().message() == yaml.path + ": looks like YAML; " + kFormatsRead);

  TempFile empty("job.json", "");
  const Result<std::string> nothing = ReadJobFile(empty.path);
  REQUIRE_FALSE(nothing.ok());
  CHECK(nothing.status().message() == empty.path + ": the job file is empty");

  TempFile commented("job.json",
                     "{\n  // one step\n  \"steps\": [{\"id\": \"a\", \"cmd\": \"x\"}]\n}");
  const Result<std::string> comment = ReadJobFile(commented.path);
  REQUIRE_FALSE(comment.ok());
  CHECK(comment.status().message() == commented.path + ": JSON does not allow comments (line 2)");

  // A JSON array is JSON whatever the file's name; LoadJob says what is wrong.
  TempFile array("job.msgpack", "[{\"id\": \"a\", \"cmd\": \"x\"}]");
  const Result<std::string> steps = ReadJobFile(array.path);
  REQUIRE_MESSAGE(steps.ok(), steps.status().message());
  const LoadedJob loaded = LoadJob(steps.value());
  REQUIRE(loaded.problems.size() == 1);
  CHECK(FormatProblem(loaded.problems[0]) ==
        "expected a map of job fields (a JSON object), got an array");

  // MessagePack in a file named .json is still MessagePack.
  TempFile packed("job.json", std::string("\x81\xa5steps\x91\x82\xa2id\xa1"
                                          "a\xa3"
                                          "cmd\xa1x"));
  const Result<std::string> bytes = ReadJobFile(packed.path);
  REQUIRE_MESSAGE(bytes.ok(), bytes.status().message());
  CHECK(LoadJob(bytes.value()).problems.empty());
}

}  // namespace
}  // namespace drover
