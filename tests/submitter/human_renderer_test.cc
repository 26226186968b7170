// submitter/human_renderer.cc through renderer.h: what `submit` prints of a
// job, on stdout and stderr, with --quiet, --show and colour. The renderer
// is fed events as Follow() feeds it, and writes to memory streams.

#include <doctest/doctest.h>
#include <stdio.h>
#include <stdlib.h>

#include <string>
#include <vector>

#include "submitter/renderer.h"

namespace drover::submit {
namespace {

// stdout and stderr in memory.
class Screen {
 public:
  Screen()
      : out_(open_memstream(&out_buf_, &out_size_)), err_(open_memstream(&err_buf_, &err_size_)) {}
  ~Screen() {
    fclose(out_);
    fclose(err_);
    free(out_buf_);
    free(err_buf_);
  }
  FILE* out() const { return out_; }
  FILE* err() const { return err_; }
  std::string Out() const {
    fflush(out_);
    return std::string(out_buf_, out_size_);
  }
  std::string Err() const {
    fflush(err_);
    return std::string(err_buf_, err_size_);
  }

 private:
  char* out_buf_ = nullptr;
  size_t out_size_ = 0;
  char* err_buf_ = nullptr;
  size_t err_size_ = 0;
  FILE* out_;
  FILE* err_;
};

const std::vector<std::string> kIds = {"fetch", "train-a", "train-b"};

// Job 7 with the steps of kIds, followed through one human renderer.
struct Followed {
  explicit Followed(HumanOptions options)
      : renderer(MakeHumanRenderer(screen.out(), screen.err(), std::move(options))) {
    view.Accept(JobAccepted{JobId(7), "demo", kIds});
    renderer->Accepted(view);
  }
  void Apply(const Event& e) {
    REQUIRE(view.Apply(e));
    renderer->OnEvent(view, e);
  }
  void Print(uint32_t step, const std::string& text, Stream stream = Stream::kStdout,
             uint32_t attempt = 1) {
    Apply(StepOutput{StepIndex(step), Attempt(attempt), stream, Blob{text}});
  }
  void End(uint32_t step, int code, uint32_t attempt = 1, bool retry = false) {
    RunResult run;
    run.exit_code = code;
    run.started_ms = 1'700'000'000'000;
    run.ended_ms = run.started_ms + 500;
    const StepState state = retry       ? StepState::kReady
                            : code == 0 ? StepState::kSucceeded
                                        : StepState::kFailed;
    Apply(StepEnded{
        StepIndex(step), Attempt(attempt), state,
        code == 0 ? "" : "exited with code " + std::to_string(code) + (retry ? "; retrying" : ""),
        "w1", run});
  }
  // fetch prints two lines and succeeds; train-a prints on both streams and
  // fails; train-b succeeds quietly; the job ends.
  void RunAll() {
    Apply(StepStarted{StepIndex(0), Attempt(1), "w1"});
    Print(0, "fetching\nfetched 3 files\n");
    End(0, 0);
    Print(1, "epoch 1\n");
    Print(1, "out of memory\n", Stream::kStderr);
    End(1, 1);
    End(2, 0);
    std::vector<uint32_t> counts(kStepStateCount);
    counts[static_cast<int>(StepState::kSucceeded)] = 2;
    counts[static_cast<int>(StepState::kFailed)] = 1;
    Apply(JobEnded{JobState::kFailed, counts});
    renderer->Finished(view, 2000);
  }

  Screen screen;
  JobView view;
  std::unique_ptr<Renderer> renderer;
};

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("by default every step's lines are printed with their prefix, without colour") {
  Followed f(HumanOptions{});
  f.RunAll();
  CHECK(f.screen.Out() == "[fetch] fetching\n[fetch] fetched 3 files\n[train-a] epoch 1\n");
  const std::string err = f.screen.Err();
  CHECK(Has(err, "[train-a] out of memory\n[train-a] failed: exited with code 1\n"));
  CHECK_FALSE(Has(err, "its output"));  // it was printed already
  CHECK(Has(err, "job 7 (demo) failed after 2.0s: 2 succeeded, 1 failed\n"));
  CHECK_FALSE(Has(f.screen.Out() + err, "\033["));
}

TEST_CASE("--quiet prints no step's output, but a failed step's last lines under its failure") {
  Followed f(HumanOptions{.output = OutputSelection::None()});
  f.RunAll();
  CHECK(f.screen.Out().empty());
  const std::string err = f.screen.Err();
  CHECK_FALSE(Has(err, "fetching"));
  CHECK(Has(err,
            "[train-a] failed: exited with code 1; its output:\n"
            "[train-a]   epoch 1\n"
            "[train-a]   out of memory\n"));
  // The summary is there.
  CHECK(Has(err, "STEP "));
  CHECK(Has(err, "train-a  failed "));
}

TEST_CASE(
    "--quiet quotes only the last 10 lines of the failed attempt, unterminated last line too") {
  Followed f(HumanOptions{.output = OutputSelection::None()});
  // Attempt 1 fails and is retried: its lines are not the ones quoted.
  f.Print(1, "first try\n", Stream::kStdout, 1);
  f.End(1, 3, 1, /*retry=*/true);
  std::string many;
  for (int i = 1; i <= 14; ++i) many += "line " + std::to_string(i) + "\n";
  f.Print(1, many, Stream::kStdout, 2);
  f.Print(1, "Traceback: no newline", Stream::kStderr, 2);
  f.End(1, 1, 2);
  CHECK(f.screen.Out().empty());
  const std::string err = f.screen.Err();
  CHECK(Has(err, "[train-a] attempt 1 exited with code 3; retrying\n"));
  CHECK_FALSE(Has(err, "first try"));
  std::string quoted = "[train-a] failed: exited with code 1; the end of its output:\n";
  for (int i = 6; i <= 14; ++i) quoted += "[train-a]   line " + std::to_string(i) + "\n";
  quoted += "[train-a]   Traceback: no newline\n";
  CHECK(Has(err, quoted));
  CHECK_FALSE(Has(err, "line 5\n"));
}

TEST_CASE("--show prints only the steps it selects, the others as with --quiet") {
  std::vector<std::string> problems;
  Followed f(HumanOptions{.output = OutputSelection::Of({"train-*"}, kIds, "job 7", &problems)});
  REQUIRE(problems.empty());
  f.Print(0, "fetching\n");
  f.End(0, 2);  // a hidden step fails: quoted
  f.Print(1, "epoch 1\n");
  f.Print(2, "partial");  // a shown step's unfinished line comes out at its end
  f.End(2, 0);
  CHECK(f.screen.Out() == "[train-a] epoch 1\n[train-b] partial\n");
  CHECK(
      Has(f.screen.Err(), "[fetch] failed: exited with code 2; its output:\n[fetch]   fetching\n"));
}

TEST_CASE("colour: Drover's words are coloured, the steps' own text is not") {
  Followed f(HumanOptions{.color_out = true, .color_err = true});
  f.RunAll();
  // A dim prefix; the line itself as the step wrote it.
  CHECK(f.screen.Out().starts_with("\033[2m[fetch]\033[0m fetching\n"));
  const std::string err = f.screen.Err();
  CHECK(Has(err, "\033[2m[train-a]\033[0m out of memory\n"));
  CHECK(Has(err, "\033[2m[train-a]\033[0m \033[31mfailed: exited with code 1\033[0m\n"));
  // The summary's states, padded as if plain, and the job's outcome.
  CHECK(Has(err, "\033[32msucceeded\033[0m  1 "));
  CHECK(Has(err, "\033[31mfailed\033[0m     1 "));
  CHECK(Has(err, "job 7 (demo) \033[31mfailed\033[0m after 2.0s"));
  // submit's own notices stand out as warnings.
  f.renderer->Notice("cancelling job 7");
  CHECK(Has(f.screen.Err(), "\033[33mcancelling job 7\033[0m\n"));
}

TEST_CASE("colour on one stream only: each stream is decided for itself") {
  Followed f(HumanOptions{.color_out = false, .color_err = true});
  f.RunAll();
  CHECK_FALSE(Has(f.screen.Out(), "\033["));
  CHECK(Has(f.screen.Err(), "\033[31m"));
}

}  // namespace
}  // namespace drover::submit
