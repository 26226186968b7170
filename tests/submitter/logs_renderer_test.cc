// submitter/logs_renderer.h: which lines `submit logs` prints, and how.

#include "submitter/logs_renderer.h"

#include <doctest/doctest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

namespace drover::submit {
namespace {

// A renderer writing to memory, fed a job of steps "build" and "test".
class Printed {
 public:
  explicit Printed(LogsOptions options) : file_(open_memstream(&buf_, &size_)) {
    renderer_ = std::make_unique<LogsRenderer>(file_, std::move(options));
    view_.Accept(JobAccepted{JobId(4), "ci", {"build", "test"}});
    renderer_->Accepted(view_);
  }
  ~Printed() {
    fclose(file_);
    free(buf_);
  }
  void Out(uint32_t step, uint32_t attempt, std::string data, Stream s = Stream::kStdout) {
    renderer_->OnEvent(view_, StepOutput{StepIndex(step), Attempt(attempt), s, Blob{data}});
  }
  LogsRenderer& r() { return *renderer_; }
  std::string text() {
    fflush(file_);
    return std::string(buf_, size_);
  }

 private:
  char* buf_ = nullptr;
  size_t size_ = 0;
  FILE* file_;
  JobView view_;
  std::unique_ptr<LogsRenderer> renderer_;
};

TEST_CASE("one step's stdout, whole lines, as the step wrote them") {
  Printed p(LogsOptions{.steps = {"test"}});
  p.Out(1, 1, "ok 1\nok ");
  p.Out(0, 1, "compiling\n");                 // another step
  p.Out(1, 1, "noise\n", Stream::kStderr);    // another stream
  CHECK(p.text() == "ok 1\n");
  p.Out(1, 1, "2\nno newline at the end");
  CHECK(p.text() == "ok 1\nok 2\n");
  p.r().Flush();
  CHECK(p.text() == "ok 1\nok 2\nno newline at the end\n");
}

TEST_CASE("stderr or both streams, with prefixes, and later attempts announced") {
  Printed p(LogsOptions{.stdout_lines = true, .stderr_lines = true, .prefix = true});
  p.Out(0, 1, "a\n");
  p.Out(0, 1, "warn\n", Stream::kStderr);
  p.Out(1, 1, "try one\n");
  p.Out(1, 2, "try two\n");
  CHECK(p.text() ==
        "[build] a\n[build] warn\n[test] try one\n[test] --- test: attempt 2 ---\n"
        "[test] try two\n");
}

TEST_CASE("one attempt asked for: only its lines, and no announcement") {
  Printed p(LogsOptions{.steps = {"test"}, .attempt = 2});
  p.Out(1, 1, "try one\n");
  p.Out(1, 2, "try two\n");
  CHECK(p.text() == "try two\n");
}

TEST_CASE("tail holds the last lines until released, then prints as they come") {
  Printed p(LogsOptions{.steps = {"build"}, .tail = 2});
  for (int i = 1; i <= 5; ++i) p.Out(0, 1, "line " + std::to_string(i) + "\n");
  CHECK(p.text().empty());
  p.r().Release();
  CHECK(p.text() == "line 4\nline 5\n");
  p.Out(0, 1, "line 6\n");
  CHECK(p.text() == "line 4\nline 5\nline 6\n");
}

TEST_CASE("a line without an end is cut at kMaxLogLine, so memory stays bounded") {
  Printed p(LogsOptions{.steps = {"build"}});
  p.Out(0, 1, std::string(kMaxLogLine + 10, 'x'));
  CHECK(p.text() == std::string(kMaxLogLine, 'x') + "\n");
  p.r().Flush();
  CHECK(p.text().size() == kMaxLogLine + 1 + 10 + 1);
}

TEST_CASE("--json: an object per line with its step, attempt and stream") {
  Printed p(LogsOptions{.stdout_lines = true, .stderr_lines = true, .json = true});
  p.Out(1, 2, "bad \xff byte\n", Stream::kStderr);
  const nlohmann::json j = nlohmann::json::parse(p.text());
  CHECK(j["step"] == "test");
  CHECK(j["attempt"] == 2);
  CHECK(j["stream"] == "stderr");
  CHECK(j["line"] == "bad \xEF\xBF\xBD byte");
}

}  // namespace
}  // namespace drover::submit
