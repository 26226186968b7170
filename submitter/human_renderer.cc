// The human renderer (renderer.h): prefixed output lines, failures as they
// happen, a progress line on a terminal, a summary table at the end. Steps
// whose output is hidden (output_selection.h) keep their last lines, to
// show under a failure; colour (style.h) is for Drover's words only.

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>
#include <deque>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "shared/resources.h"
#include "shared/run_text.h"
#include "submitter/progress_line.h"
#include "submitter/renderer.h"
#include "submitter/resume_line.h"
#include "submitter/step_table.h"
#include "submitter/style.h"

namespace drover::submit {
namespace {

// A line longer than this is cut into pieces, each printed with the prefix,
// so a step printing without newlines cannot grow submit's memory.
constexpr size_t kMaxLine = 64 << 10;
constexpr int64_t kProgressEveryMs = 200;
// When neither the terminal nor $COLUMNS says how wide it is.
constexpr size_t kDefaultColumns = 80;
// A step whose output is hidden (--quiet, --show) and that fails shows its
// last lines under the failure, where the error usually is: a screenful
// for ten failures at once, not a log.
constexpr size_t kTailLines = 10;
// ... each cut to this many bytes: they are a quote, not the output.
constexpr size_t kTailLineBytes = 1024;

// The width of the terminal `file` writes to: its own word (TIOCGWINSZ),
// else $COLUMNS, else kDefaultColumns. Asked at every redraw, which follows
// a resized window without a SIGWINCH handler.
size_t TerminalColumns(FILE* file) {
  winsize size{};
  if (ioctl(fileno(file), TIOCGWINSZ, &size) == 0 && size.ws_col > 0) return size.ws_col;
  if (const char* env = std::getenv("COLUMNS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const unsigned long columns = std::strtoul(env, &end, 10);
    if (*end == '\0' && columns > 0 && columns < 100'000) return columns;
  }
  return kDefaultColumns;
}

class HumanRenderer : public Renderer {
 public:
  HumanRenderer(FILE* out, FILE* err, HumanOptions options)
      : out_(out), err_(err), options_(std::move(options)) {}

  void Accepted(const JobView& view) override {
    if (options_.verbose) {
      Say(view.Title() + " accepted: " + std::to_string(view.size()) + " steps");
    }
    if (view.resumed_from().value != 0) Say(ResumeLine(view, TerminalColumns(err_)));
  }

  void OnEvent(const JobView& view, const Event& event) override {
    if (const auto* out = std::get_if<StepOutput>(&event)) {
      Output(view, *out);
    } else if (const auto* started = std::get_if<StepStarted>(&event)) {
      if (options_.verbose) {
        Say(Tag(view, started->step) + "started on " + started->worker +
            (started->attempt.value > 1 ? " (attempt " + std::to_string(started->attempt.value) + ")"
                                        : ""));
      }
    } else if (const auto* ended = std::get_if<StepEnded>(&event)) {
      FlushPartialLines(view, ended->step);
      Ended(view, *ended);
      tails_.erase(ended->step.value);
    } else if (const auto* waiting = std::get_if<StepWaiting>(&event)) {
      Say(Tag(view, waiting->step) +
          Paint(Tone::kYellow,
                "waiting: " + waiting->reason +
                    (waiting->steps > 1 ? " (" + std::to_string(waiting->steps) + " steps like it)"
                                        : ""),
                options_.color_err));
    }
  }

  void Refresh(const JobView& view, int64_t now_ms, std::optional<int64_t> elapsed_ms) override {
    fflush(out_);
    fflush(err_);
    if (!options_.progress || view.ended()) return;
    if (progress_shown_ && now_ms - last_progress_ms_ < kProgressEveryMs) return;
    last_progress_ms_ = now_ms;
    const ProgressCounts counts{
        .job = view.id().value,
        .name = view.name(),
        .done = view.count(StepState::kSucceeded) + view.count(StepState::kNotNeeded),
        .total = static_cast<uint32_t>(view.size()),
        .running = view.count(StepState::kRunning),
        .queued = view.count(StepState::kWaiting) + view.count(StepState::kReady),
        .failed = view.count(StepState::kFailed),
        .skipped = view.count(StepState::kSkipped),
        .elapsed_ms = elapsed_ms};
    const std::string line = ProgressLine(counts, TerminalColumns(err_));
    fprintf(err_, "\r\033[K%s", line.c_str());
    fflush(err_);
    progress_shown_ = true;
  }

  // Submit's own word (cancelling, lost contact): out of the ordinary, so
  // in the warnings' colour.
  void Notice(const std::string& text) override {
    Say(Paint(Tone::kYellow, text, options_.color_err));
  }

  void Finished(const JobView& view, std::optional<int64_t> elapsed_ms) override {
    ClearProgress();
    Summary(view);
    const JobEnded& ended = *view.ended();
    std::string line = view.Title() + " " +
                       Paint(ToneOf(ended.state), JobStateName(ended.state), options_.color_err) +
                       (elapsed_ms ? " after " + FormatDuration(*elapsed_ms) : "") + ": ";
    std::vector<std::string> parts;
    for (StepState s : {StepState::kSucceeded, StepState::kFailed, StepState::kSkipped,
                        StepState::kNotNeeded, StepState::kCancelled}) {
      if (view.count(s) > 0) parts.push_back(std::to_string(view.count(s)) + " " + StepStateName(s));
    }
    for (size_t i = 0; i < parts.size(); ++i) line += (i ? ", " : "") + parts[i];
    fprintf(err_, "%s\n", line.c_str());
    fflush(err_);
  }

 private:
  using StreamKey = std::pair<uint32_t, Stream>;

  // The last lines of a hidden step's current attempt (kTailLines).
  struct Tail {
    uint32_t attempt = 0;
    std::deque<std::string> lines;
    bool cut = false;  // earlier lines were dropped

    void Add(std::string_view head, std::string_view rest) {
      if (lines.size() == kTailLines) {
        lines.pop_front();
        cut = true;
      }
      std::string line;
      line.reserve(std::min(head.size() + rest.size(), kTailLineBytes + 3));
      line.append(head.substr(0, kTailLineBytes));
      if (line.size() < kTailLineBytes) line.append(rest.substr(0, kTailLineBytes - line.size()));
      if (head.size() + rest.size() > kTailLineBytes) line += "…";
      lines.push_back(std::move(line));
    }
  };

  // "[step-id] ", the id dim when `color`.
  std::string Tag(const JobView& view, StepIndex step, bool color) const {
    return Paint(Tone::kDim, "[" + view.id_of(step) + "]", color) + " ";
  }
  // The same, for what goes to stderr (notices).
  std::string Tag(const JobView& view, StepIndex step) const {
    return Tag(view, step, options_.color_err);
  }

  // Each complete line of a shown step goes out as "[step-id] line\n"; a
  // chunk's lines are gathered in one buffer and written with one call. A
  // hidden step's lines go to its tail instead.
  void Output(const JobView& view, const StepOutput& out) {
    const bool shown = options_.output.Shows(out.step);
    Tail* tail = nullptr;
    if (!shown) {
      tail = &tails_[out.step.value];
      if (tail->attempt != out.attempt.value) {
        *tail = Tail();
        tail->attempt = out.attempt.value;
      }
    }
    auto it = partial_.find({out.step.value, out.stream});
    std::string partial = it == partial_.end() ? std::string() : std::move(it->second);
    const bool to_stdout = out.stream == Stream::kStdout;
    const std::string prefix =
        shown ? Tag(view, out.step, to_stdout ? options_.color_out : options_.color_err) : "";
    std::string_view data = out.data.bytes;
    lines_.clear();
    // One line: `head` (what was kept of it) then `rest`, without its newline.
    auto line = [&](std::string_view head, std::string_view rest) {
      if (tail != nullptr) {
        tail->Add(head, rest);
        return;
      }
      ((lines_ += prefix) += head) += rest;
      lines_ += '\n';
    };
    while (!data.empty()) {
      const size_t nl = data.find('\n');
      if (nl == std::string_view::npos) {
        partial.append(data);
        break;
      }
      line(partial, data.substr(0, nl));
      partial.clear();
      data.remove_prefix(nl + 1);
    }
    if (partial.size() >= kMaxLine) {  // no newline for too long: cut it here
      line(partial, {});
      partial.clear();
    }
    if (partial.empty()) {
      if (it != partial_.end()) partial_.erase(it);
    } else {
      partial_[{out.step.value, out.stream}] = std::move(partial);
    }
    Write(to_stdout ? out_ : err_, lines_);
  }

  void Write(FILE* file, std::string_view text) {
    if (text.empty()) return;
    ClearProgress();
    // Flush the other stream when switching, so lines keep their order when
    // stdout and stderr go to the same place; Refresh() flushes each batch.
    if (last_file_ != nullptr && last_file_ != file) fflush(last_file_);
    last_file_ = file;
    fwrite(text.data(), 1, text.size(), file);
  }

  void FlushPartialLines(const JobView& view, StepIndex step) {
    for (Stream stream : {Stream::kStdout, Stream::kStderr}) {
      auto it = partial_.find({step.value, stream});
      if (it == partial_.end()) continue;
      if (auto tail = tails_.find(step.value); tail != tails_.end()) {
        tail->second.Add(it->second, {});
      } else {
        const bool to_stdout = stream == Stream::kStdout;
        Write(to_stdout ? out_ : err_,
              Tag(view, step, to_stdout ? options_.color_out : options_.color_err) + it->second +
                  "\n");
      }
      partial_.erase(it);
    }
  }

  void Ended(const JobView& view, const StepEnded& e) {
    const std::string tag = Tag(view, e.step);
    const bool color = options_.color_err;
    switch (e.state) {
      case StepState::kReady:  // will be retried, or was moved to another worker
        if (e.run && e.run->outcome == Outcome::kRetracted) {
          if (options_.verbose) Say(tag + "moved: " + e.reason);
        } else {
          Say(tag + Paint(Tone::kYellow, "attempt " + std::to_string(e.attempt.value) + " " + e.reason,
                          color));
        }
        break;
      case StepState::kFailed: {
        auto tail = tails_.find(e.step.value);
        const bool quote = tail != tails_.end() && tail->second.attempt == e.attempt.value &&
                           !tail->second.lines.empty();
        std::string text = tag + Paint(Tone::kRed, "failed: " + e.reason, color);
        if (quote) text += tail->second.cut ? "; the end of its output:" : "; its output:";
        Say(text);
        if (quote) {
          for (const std::string& line : tail->second.lines) Say(tag + "  " + line);
        }
        break;
      }
      case StepState::kWaiting:  // a streamed reader withdrawn: it runs again
        Say(tag + Paint(Tone::kYellow,
                        "attempt " + std::to_string(e.attempt.value) + " " + e.reason, color));
        break;
      case StepState::kSkipped:
        Say(tag + Paint(Tone::kYellow, "skipped: " + e.reason, color));
        break;
      case StepState::kSucceeded:
        if (options_.verbose && e.run) {
          Say(tag + Paint(Tone::kGreen, "succeeded in " + FormatDuration(e.run->duration_ms()),
                          color));
        }
        break;
      case StepState::kNotNeeded:
        if (options_.verbose) Say(tag + "not needed: " + e.reason);
        break;
      default:
        break;
    }
  }

  void Say(const std::string& text) {
    ClearProgress();
    if (last_file_ == out_) fflush(out_);
    last_file_ = err_;
    fprintf(err_, "%s\n", text.c_str());
    fflush(err_);
  }

  void ClearProgress() {
    if (!progress_shown_) return;
    fprintf(err_, "\r\033[K");
    progress_shown_ = false;
  }

  void Summary(const JobView& view) {
    std::vector<uint32_t> all;
    for (uint32_t i = 0; i < view.size(); ++i) all.push_back(i);
    std::vector<TableEntry> rows = GroupElements(view, all);  // an array is one row
    size_t hidden = 0;
    if (rows.size() > options_.summary_rows) {
      // Too many to list: show what went wrong, which is what needs reading.
      std::erase_if(rows, [&](const TableEntry& e) {
        for (uint32_t i = e.first; i < e.first + e.count; ++i) {
          const StepState s = view.step(StepIndex(i)).state;
          if (s != StepState::kSucceeded && s != StepState::kNotNeeded) return false;
        }
        return true;
      });
      if (rows.size() > options_.summary_rows) rows.resize(options_.summary_rows);
      hidden = view.size();
      for (const TableEntry& e : rows) hidden -= e.count;
    }
    if (rows.empty()) {
      if (hidden > 0) fprintf(err_, "(all %zu steps succeeded or were not needed)\n", view.size());
      return;
    }
    for (const std::string& line : StepTableLines(view, rows, options_.color_err)) {
      fprintf(err_, "%s\n", line.c_str());
    }
    if (hidden > 0) {
      fprintf(err_, "(%zu more steps not shown: only steps that did not succeed are listed)\n",
              hidden);
    }
  }

  FILE* out_;
  FILE* err_;
  HumanOptions options_;
  std::map<StreamKey, std::string> partial_;  // a step stream's unfinished line
  std::unordered_map<uint32_t, Tail> tails_;  // hidden steps' last lines, by step
  std::string lines_;                         // scratch: one chunk's output
  FILE* last_file_ = nullptr;  // the stream written last
  bool progress_shown_ = false;
  int64_t last_progress_ms_ = 0;
};

}  // namespace

std::unique_ptr<Renderer> MakeHumanRenderer(FILE* out, FILE* err, HumanOptions options) {
  return std::make_unique<HumanRenderer>(out, err, std::move(options));
}

std::string FormatDuration(int64_t ms) {
  if (ms < 0) ms = 0;
  char buf[32];
  if (ms < 60'000) {
    snprintf(buf, sizeof buf, "%.1fs", static_cast<double>(ms) / 1000);
  } else if (ms < 3'600'000) {
    snprintf(buf, sizeof buf, "%lldm%02llds", static_cast<long long>(ms / 60'000),
             static_cast<long long>(ms / 1000 % 60));
  } else {
    snprintf(buf, sizeof buf, "%lldh%02lldm", static_cast<long long>(ms / 3'600'000),
             static_cast<long long>(ms / 60'000 % 60));
  }
  return buf;
}

}  // namespace drover::submit
