// The progress line fitted to a terminal's width (progress_line.h).

#include "submitter/progress_line.h"

#include <algorithm>
#include <vector>

#include "submitter/renderer.h"

namespace drover::submit {
namespace {

constexpr std::string_view kSeparator = " · ";
constexpr std::string_view kEllipsis = "…";

// A part of the line and when it goes: the lowest `drop` first; 0 never.
struct Part {
  std::string text;
  int drop = 0;
};

// The length of the UTF-8 sequence that starts with `lead`; 1 for a stray
// continuation byte, so that bad input still advances.
size_t SequenceLength(unsigned char lead) {
  if (lead >= 0xf0) return 4;
  if (lead >= 0xe0) return 3;
  if (lead >= 0xc0) return 2;
  return 1;
}

size_t CharColumns(std::string_view c) {
  const auto lead = static_cast<unsigned char>(c[0]);
  // U+1100 is E1 84 80: any 4-byte sequence, or a 3-byte one from there.
  if (lead >= 0xf0) return 2;
  if (lead > 0xe1 || (lead == 0xe1 && c.size() > 1 && static_cast<unsigned char>(c[1]) >= 0x84)) {
    return 2;
  }
  return 1;
}

// The longest start of `text` that takes at most `columns` columns, cut
// between characters.
std::string_view Fit(std::string_view text, size_t columns) {
  size_t used = 0, end = 0;
  while (end < text.size()) {
    const size_t n = std::min(SequenceLength(static_cast<unsigned char>(text[end])), text.size() - end);
    const size_t w = CharColumns(text.substr(end, n));
    if (used + w > columns) break;
    used += w;
    end += n;
  }
  return text.substr(0, end);
}

std::string Clean(std::string_view name) {
  std::string out(name);
  for (char& c : out) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  }
  return out;
}

std::string Render(const Part& job, const Part& name, const std::vector<Part>& body) {
  std::string line;
  if (job.drop >= 0) line += job.text;
  if (name.drop >= 0) line += name.text;
  if (!line.empty()) line += ": ";
  bool first = true;
  for (const Part& p : body) {
    if (p.drop < 0) continue;
    if (!first) line += kSeparator;
    line += p.text;
    first = false;
  }
  return line;
}

}  // namespace

size_t DisplayColumns(std::string_view text) {
  size_t columns = 0;
  for (size_t i = 0; i < text.size();) {
    const size_t n = std::min(SequenceLength(static_cast<unsigned char>(text[i])), text.size() - i);
    columns += CharColumns(text.substr(i, n));
    i += n;
  }
  return columns;
}

std::string ProgressLine(const ProgressCounts& c, size_t columns) {
  if (columns < 2) return "";
  const size_t budget = columns - 1;
  // A dropped part's `drop` becomes -1.
  Part job{"job " + std::to_string(c.job), 7};
  Part name{c.name.empty() ? "" : " (" + Clean(c.name) + ")", c.name.empty() ? -1 : 2};
  std::vector<Part> body = {
      {std::to_string(c.done) + "/" + std::to_string(c.total) + " done", 0},
      {std::to_string(c.running) + " running", 6},
      {std::to_string(c.queued) + " queued", 4},
      {std::to_string(c.failed) + " failed", c.failed == 0 ? 1 : 0},
      {std::to_string(c.skipped) + " skipped", c.skipped == 0 ? 1 : 3},
  };
  if (c.elapsed_ms) body.push_back({FormatDuration(*c.elapsed_ms), 5});

  for (int rank = 1;; ++rank) {
    std::string line = Render(job, name, body);
    if (DisplayColumns(line) <= budget) return line;
    if (rank > 7) {  // nothing left to drop: cut it
      const size_t mark = DisplayColumns(kEllipsis);
      if (budget <= mark) return std::string(Fit(line, budget));
      return std::string(Fit(line, budget - mark)) + std::string(kEllipsis);
    }
    for (Part* p : {&job, &name}) {
      if (p->drop == rank) p->drop = -1;
    }
    for (Part& p : body) {
      if (p.drop == rank) p.drop = -1;
    }
  }
}

}  // namespace drover::submit
