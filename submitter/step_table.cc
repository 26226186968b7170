#include "submitter/step_table.h"


#include "shared/resources.h"
#include "shared/run_text.h"
#include "submitter/renderer.h"
#include "submitter/style.h"
#include "submitter/text_table.h"

namespace drover::submit {

std::string ExitColumn(const StepView& v) {
  if (!v.run) return "-";
  switch (v.run->outcome) {
    case Outcome::kExited: return std::to_string(v.run->exit_code);
    case Outcome::kSignaled: return SignalName(v.run->signal);
    case Outcome::kTimedOut: return "timeout";
    case Outcome::kSpawnFailed: return "no-start";
    case Outcome::kKilled: return "killed";
    case Outcome::kLost: return "lost";
    case Outcome::kNotRun: return "not-run";
    case Outcome::kRetracted: return "moved";
  }
  return "?";
}

std::vector<std::string> StepTableLines(const JobView& view, const std::vector<uint32_t>& rows,
                                        bool color) {
  return StepTableLines(view, GroupElements(view, rows), color);
}

std::vector<std::string> StepTableLines(const JobView& view, const std::vector<TableEntry>& entries,
                                        bool color) {
  // TRIES: the attempt the row shows (retries and lost attempts count);
  // CPU and MEM: its CPU time (user + system) and peak resident memory,
  // as the worker measured them (the whole process tree's).
  // STEP and WORKER give way when the table is wider than a terminal.
  // An array's row has its name and range under STEP and, from STATE on,
  // what became of its elements (GroupSummary), cut to the same width.
  TextTable table({"STEP", "STATE", "TRIES", "WORKER", "EXIT", "START", "TIME", "CPU", "MEM"},
                  {0, 3});
  const int64_t t0 = view.first_start_ms();
  for (const TableEntry& entry : entries) {
    if (entry.grouped()) {
      table.Add({GroupName(view, entry), "", "", "", "", "", "", "", ""});
      continue;
    }
    const uint32_t i = entry.first;
    const StepView& v = view.step(StepIndex(i));
    std::string start = "-", time = "-", cpu = "-", mem = "-";
    if (v.run && v.run->started_ms > 0) {
      start = "+" + FormatDuration(v.run->started_ms - t0);
      time = FormatDuration(v.run->duration_ms());
      cpu = FormatDuration((v.run->user_cpu_us + v.run->sys_cpu_us) / 1000);
      if (v.run->max_rss_kb > 0) {
        mem = FormatAmount("mem", static_cast<uint64_t>(v.run->max_rss_kb) * 1024);
      }
    }
    table.Add({view.id_of(StepIndex(i)), StepStateName(v.state),
               v.attempt > 0 ? std::to_string(v.attempt) : "-", v.worker.empty() ? "-" : v.worker,
               ExitColumn(v), start, time, cpu, mem});
  }
  std::vector<std::string> lines = table.Lines(kTableColumns);
  // STATE is never cut, and starts where its header does on every line.
  const size_t at = lines[0].find("STATE");
  for (size_t r = 1; r < lines.size(); ++r) {
    const TableEntry& entry = entries[r - 1];
    if (entry.grouped()) {
      const size_t width = kTableColumns > at ? kTableColumns - at : 0;
      lines[r].resize(at, ' ');  // its empty cells, which may have been trimmed
      lines[r] += GroupSummary(view, entry, width);
      continue;
    }
    if (!color) continue;
    const StepState state = view.step(StepIndex(entry.first)).state;
    const std::string_view name = StepStateName(state);
    lines[r].replace(at, name.size(), Paint(ToneOf(state), name, true));
  }
  return lines;
}

}  // namespace drover::submit
