// How `submit` shows a job it follows. Two renderers share one interface:
//   - human: step output line by line with a "[step-id] " prefix (stdout on
//     stdout, stderr on stderr), failures and skips as they happen, a live
//     progress line when stderr is a terminal (fitted to its width:
//     progress_line.h), and a summary table at the end; colour on what
//     Drover says, where asked for (style.h);
//   - JSON (--json): one JSON object per line on stdout for every event, for
//     scripts (docs/submit.md lists the fields).
// Both print the output of only the steps an OutputSelection shows (--quiet,
// --show). The human one keeps the last lines of the others' current
// attempts and prints them under a failure; JSON has no such quote.
// The JobView already holds each event's effect when a renderer sees it.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "submitter/job_view.h"
#include "submitter/output_selection.h"

namespace drover::submit {

class Renderer {
 public:
  virtual ~Renderer() = default;
  virtual void Accepted(const JobView& view) = 0;
  virtual void OnEvent(const JobView& view, const Event& event) = 0;
  // After each batch of events and on a timer: redraw what is live.
  // `now_ms` is the monotonic clock, to pace redraws; `elapsed_ms` how long
  // the job has gone on, nullopt while not known (follow.h says from when).
  virtual void Refresh(const JobView& view, int64_t now_ms, std::optional<int64_t> elapsed_ms) = 0;
  // Something submit itself has to say ("cancelling job 7 ...").
  virtual void Notice(const std::string& text) = 0;
  // The job ended (view.ended() is set); `elapsed_ms` as for Refresh().
  virtual void Finished(const JobView& view, std::optional<int64_t> elapsed_ms) = 0;
};

struct HumanOptions {
  bool progress = false;  // draw the live progress line on stderr
  bool verbose = false;   // also announce starts and successes
  size_t summary_rows = 50;  // most rows in the summary table
  OutputSelection output = OutputSelection::All();  // whose output is printed
  bool color_out = false;  // colour what Drover adds on stdout (prefixes)
  bool color_err = false;  // ... and on stderr (prefixes, notices, summary)
};

std::unique_ptr<Renderer> MakeHumanRenderer(FILE* out, FILE* err, HumanOptions options);
std::unique_ptr<Renderer> MakeJsonRenderer(FILE* out,
                                           OutputSelection output = OutputSelection::All());

// "0.4s", "12.3s", "4m05s", "2h03m".
std::string FormatDuration(int64_t ms);

}  // namespace drover::submit
