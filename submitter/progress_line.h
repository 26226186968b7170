// The live progress line `submit` draws on a terminal (human_renderer.cc):
// "job 7 (diamond): 3/10 done · 2 running · 5 queued · 0 failed · 0 skipped · 12.3s".
// It is redrawn in place with "\r", which only works while it stays on one
// row: a line that wraps leaves a stale copy behind at every redraw. So it
// is fitted to the terminal's width here, as a pure function of what it
// shows and the width, and never wraps.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace drover::submit {

// What the line shows.
struct ProgressCounts {
  uint64_t job = 0;
  std::string name;  // the job's name; may be empty
  uint32_t done = 0;  // succeeded or not needed
  uint32_t total = 0;
  uint32_t running = 0;
  uint32_t queued = 0;  // waiting or ready
  uint32_t failed = 0;
  uint32_t skipped = 0;
  std::optional<int64_t> elapsed_ms;  // how long the job has run; nullopt: not known
};

// The line for a terminal `columns` wide: at most columns - 1 columns (the
// last is left empty, since some terminals wrap as soon as it is written).
// When the whole line does not fit, parts go, least important first:
//   1. the failed and skipped counts that are 0,
//   2. the job's name,
//   3. the skipped count,
//   4. the queued count,
//   5. the time,
//   6. the running count,
//   7. "job N".
// What is left ("3/10 done · 2 failed") is cut with "…" if it still does
// not fit. Control characters in the name show as '?'.
std::string ProgressLine(const ProgressCounts& counts, size_t columns);

// How many columns `text` (UTF-8) takes at most on a terminal: one per
// character, two for any at U+1100 or above (where the double-width ones
// are), so that an estimate errs on the short side.
size_t DisplayColumns(std::string_view text);

}  // namespace drover::submit
