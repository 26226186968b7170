// What `submit logs` prints (docs/submit.md, "Looking back"): the output
// of chosen steps from a job's event log, line by line, as the steps wrote
// it, without Drover's own words. A Renderer, so that Follow() feeds it
// (with its reconnecting and Ctrl-C) whether the job is read as it stands
// or followed live.
//
// Lines are whole: a stream's unfinished line waits for its end (or for
// Flush, or kMaxLogLine bytes). With `tail`, lines are held back, the last
// `tail` of them kept, until Release(): the part of the log read before
// following starts. A step's second and later attempts are announced by a
// line of their own ("--- train: attempt 2 ---") unless one attempt was
// asked for; with --json every line is an object and no such line is made.
#pragma once

#include <cstdint>
#include <cstdio>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "submitter/renderer.h"

namespace drover::submit {

inline constexpr size_t kMaxLogLine = 64 << 10;

struct LogsOptions {
  std::vector<std::string> steps = {};  // ids to show; empty: every step
  bool stdout_lines = true;
  bool stderr_lines = false;
  std::optional<uint32_t> attempt = {};  // only this attempt; none: every one
  std::optional<size_t> tail = {};  // only the last N lines read before Release()
  bool prefix = false;              // "[step] " before each line
  bool json = false;                // one object per line instead of text
};

class LogsRenderer : public Renderer {
 public:
  LogsRenderer(FILE* out, LogsOptions options);

  void Accepted(const JobView& view) override;
  void OnEvent(const JobView& view, const Event& event) override;
  void Refresh(const JobView&, int64_t, std::optional<int64_t>) override { fflush(out_); }
  // Drover's own notices (lost the broker ...) go to stderr, apart.
  void Notice(const std::string& text) override;
  void Finished(const JobView&, std::optional<int64_t>) override { Flush(); }

  // Prints the lines held for `tail`; lines from now on are printed at once.
  void Release();
  // Ends every unfinished line (the log was read to its end) and releases.
  void Flush();
  // Whether the job's end was among the events.
  bool job_ended() const { return job_ended_; }

 private:
  struct Key {
    uint32_t step;
    uint32_t attempt;
    Stream stream;
    auto operator<=>(const Key&) const = default;
  };
  bool Wanted(StepIndex step, Attempt attempt, Stream stream) const;
  void Line(const Key& key, std::string_view text);
  void Emit(std::string text);

  FILE* out_;
  LogsOptions options_;
  std::vector<std::string> ids_;       // the job's steps, by index
  std::vector<bool> chosen_;           // by step index
  std::map<uint32_t, uint32_t> shown_attempt_;  // step -> attempt last shown
  std::map<Key, std::string> partial_;  // unfinished lines
  std::deque<std::string> held_;        // for tail, until Release()
  bool holding_;
  bool job_ended_ = false;
};

}  // namespace drover::submit
