#include "broker/slurm_commands.h"

#include <cstdio>
#include <set>

#include "shared/job_draft.h"
#include "shared/resources.h"

namespace drover::broker {
namespace {

// An allocation's batch script after its first lines; the worker program
// and its options follow, a line each. The node part works as
// deploy/slurm/drover-workers.sbatch's does, but names each worker after
// its node and Slurm job: an allocation does not ask for whole nodes, so
// two of them may share one, and the broker lets in one worker per name.
constexpr std::string_view kScriptBody = R"sh(set -u
# What runs on each node: $1 the worker program, then its options. SIGTERM
# (scancel, the time limit) reaches the worker and this shell alike; the
# shell waits for the worker's goodbye, then removes its state.
# shellcheck disable=SC2016  # expanded on the node, not here
node_script='
worker=$1; shift
host=$(uname -n); host=${host%%.*}
dir=${TMPDIR:-/tmp}/drover-worker-$SLURM_JOB_ID-$host
(umask 077 && mkdir -p "$dir") || exit 1
trap : TERM INT
"$worker" --name "$host-$SLURM_JOB_ID" --state-dir "$dir" "$@" &
pid=$!
wait "$pid"; status=$?
while kill -0 "$pid" 2>/dev/null; do wait "$pid"; status=$?; done
rm -rf "$dir"
exit "$status"
'
exec srun --ntasks="$SLURM_JOB_NUM_NODES" --ntasks-per-node=1 \
  ${SLURM_CPUS_PER_TASK:+--cpus-per-task="$SLURM_CPUS_PER_TASK"} \
  sh -c "$node_script" drover-worker \
  )sh";

// `text` as one word for sh, whatever it holds: in single quotes, each
// single quote written as '\''.
std::string ShellQuote(std::string_view text) {
  std::string out = "'";
  for (const char c : text) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// NAME=AMOUNT as `worker --resource` reads it: "mem=4G" when that is the
// exact amount, else the plain number ("mem=1610612737").
std::string ResourceFlag(const ResourceAmount& r) {
  std::string amount = FormatAmount(r.name, r.amount);
  Result<uint64_t> back = ParseAmount(amount);
  if (!back.ok() || back.value() != r.amount) amount = std::to_string(r.amount);
  return r.name + "=" + amount;
}

bool IsJobId(std::string_view text) {
  // 19 digits always fit in a SlurmJobId; Slurm's ids are 32-bit.
  if (text.empty() || text.size() > 19) return false;
  for (const char c : text) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

SlurmJobId ToJobId(std::string_view digits) {
  SlurmJobId id = 0;
  for (const char c : digits) id = id * 10 + static_cast<SlurmJobId>(c - '0');
  return id;
}

// `text` cut at every `sep`, at most `max` pieces (the last keeps the rest).
std::vector<std::string_view> Split(std::string_view text, char sep, size_t max) {
  std::vector<std::string_view> pieces;
  while (pieces.size() + 1 < max) {
    const size_t at = text.find(sep);
    if (at == std::string_view::npos) break;
    pieces.push_back(text.substr(0, at));
    text.remove_prefix(at + 1);
  }
  pieces.push_back(text);
  return pieces;
}

// The lines of `text` that are not blank, without trailing spaces. With
// `whole`, a last line without its newline is left out: Slurm ends every
// line, so that one was cut (CommandResult::truncated).
std::vector<std::string_view> Lines(std::string_view text, bool whole = false) {
  if (whole) text = text.substr(0, text.rfind('\n') + 1);  // npos + 1: none
  std::vector<std::string_view> lines;
  for (std::string_view line : Split(text, '\n', SIZE_MAX)) {
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string_view FirstWord(std::string_view text) { return text.substr(0, text.find(' ')); }

// The state, and Slurm's reason when it says more than the state does.
// Once a job is cancelled its reason is whatever it was while it waited
// ("CANCELLED|Resources"), so it is left out; TIMEOUT's TimeLimit says the
// state again.
std::string ReasonText(std::string_view state, std::string_view reason,
                       std::string_view exit_code = "") {
  std::vector<std::string> says;
  const std::string_view word = FirstWord(state);
  if (!reason.empty() && reason != "None" && reason != "(null)" && word != "CANCELLED" &&
      !(word == "TIMEOUT" && reason == "TimeLimit")) {
    says.emplace_back(reason);
  }
  // sacct gives FAILED no reason, but the exit code is the why.
  if (word == "FAILED" && !exit_code.empty() && exit_code != "0:0") {
    says.push_back("ExitCode " + std::string(exit_code));
  }
  std::string text(state);
  for (size_t i = 0; i < says.size(); ++i) text += (i == 0 ? " (" : ", ") + says[i];
  return says.empty() ? text : text + ")";
}

std::string JoinIds(const std::vector<SlurmJobId>& ids) {
  std::string out;
  for (const SlurmJobId id : ids) out += (out.empty() ? "" : ",") + std::to_string(id);
  return out;
}

}  // namespace

std::string AllocJobName(AllocQueueId queue, uint32_t seq) {
  return "drover-q" + std::to_string(queue) + "-" + std::to_string(seq);
}

std::string SlurmDuration(int64_t ms) {
  const int64_t s = ms <= 0 ? 0 : (ms + 999) / 1000;
  char text[64];
  snprintf(text, sizeof text, "%lld-%02lld:%02lld:%02lld", static_cast<long long>(s / 86'400),
           static_cast<long long>(s / 3600 % 24), static_cast<long long>(s / 60 % 60),
           static_cast<long long>(s % 60));
  return text;
}

std::string AllocScript(const AllocQueueParams& params, AllocQueueId queue, uint32_t seq,
                        const AllocScriptContext& ctx) {
  std::vector<std::pair<std::string, std::string>> options = {
      {"--broker", ctx.broker_address}, {"--slots", std::to_string(params.slots)}};
  for (const std::string& label : params.labels) options.emplace_back("--label", label);
  for (const ResourceAmount& r : params.resources) {
    options.emplace_back("--resource", ResourceFlag(r));
  }
  const int64_t idle_s = std::max<int64_t>(1, (params.idle_timeout_ms + 999) / 1000);
  options.emplace_back("--idle-timeout", std::to_string(idle_s) + "s");
  if (!ctx.key_file.empty()) options.emplace_back("--key", ctx.key_file);
  if (!ctx.broker_key_file.empty()) options.emplace_back("--broker-key", ctx.broker_key_file);

  std::string script = "#!/bin/sh\n# " + AllocJobName(queue, seq) + ": allocation " +
                       std::to_string(seq) + " of queue " + std::to_string(queue) +
                       ", written by the Drover broker for sbatch:\n"
                       "# a worker on each node of the allocation.\n";
  script += kScriptBody;
  script += ShellQuote(ctx.worker_path);
  for (const auto& [flag, value] : options) script += " \\\n  " + flag + " " + ShellQuote(value);
  for (const std::string& arg : params.worker_args) script += " \\\n  " + ShellQuote(arg);
  return script + "\n";
}

std::vector<std::string> SbatchArgv(const AllocQueueParams& params, AllocQueueId queue,
                                    uint32_t seq, const std::string& script_path,
                                    const std::string& output_path) {
  std::vector<std::string> argv = {"sbatch",
                                   "--parsable",
                                   "--job-name=" + AllocJobName(queue, seq),
                                   "--nodes=" + std::to_string(params.workers_per_alloc),
                                   "--time=" + SlurmDuration(params.time_limit_ms),
                                   "--output=" + output_path,
                                   // What each worker is declared to have,
                                   // asked of Slurm: else a node's share is
                                   // one CPU and its default memory.
                                   "--ntasks-per-node=1",
                                   "--cpus-per-task=" + std::to_string(params.slots)};
  for (const ResourceAmount& r : params.resources) {
    if (r.name == kMemResource) {
      argv.push_back("--mem=" + std::to_string((r.amount + (1 << 20) - 1) >> 20) + "M");
    }
  }
  // After ours: sbatch takes the last of an option given twice, so the
  // user's (--exclusive, --mem=0, -c 64) win.
  argv.insert(argv.end(), params.sbatch_args.begin(), params.sbatch_args.end());
  argv.push_back(script_path);
  return argv;
}

Result<SlurmJobId> ParseSbatch(std::string_view out) {
  // The last line: a site's wrapper may say something first.
  const std::vector<std::string_view> lines = Lines(out);
  std::string_view id = lines.empty() ? "" : Split(lines.back(), ';', 2)[0];
  while (!id.empty() && id.front() == ' ') id.remove_prefix(1);
  if (!IsJobId(id) || ToJobId(id) == 0) {
    return Status::Error("expected a job id from sbatch --parsable, got " + Quote(out, 200));
  }
  return ToJobId(id);
}

std::vector<std::string> SqueueArgv(const std::vector<SlurmJobId>& /*ids*/) {
  return {"squeue", "--noheader", "--me", "--states=all", "--format=%i|%T|%r"};
}

std::vector<SlurmJobReport> ParseSqueue(std::string_view out) {
  std::vector<SlurmJobReport> reports;
  for (const std::string_view line : Lines(out, true)) {
    const std::vector<std::string_view> f = Split(line, '|', 3);
    if (f.size() != 3 || !IsJobId(f[0]) || f[1].empty()) continue;
    reports.push_back({ToJobId(f[0]), SlurmStateOf(f[1]), ReasonText(f[1], f[2])});
  }
  return reports;
}

std::vector<std::string> EndedArgv(const std::vector<SlurmJobId>& ids) {
  return {"sacct",
          "--noheader",
          "--parsable2",
          "--allocations",
          "--jobs=" + JoinIds(ids),
          "--format=JobID,State,Reason,ExitCode"};
}

std::vector<SlurmJobReport> ParseEnded(std::string_view out) {
  std::vector<SlurmJobReport> reports;
  for (const std::string_view line : Lines(out, true)) {
    const std::vector<std::string_view> f = Split(line, '|', 4);
    // Steps ("7.batch") are not asked for (--allocations), but skipped all the same.
    if (f.size() != 4 || !IsJobId(f[0]) || f[1].empty()) continue;
    reports.push_back({ToJobId(f[0]), SlurmStateOf(FirstWord(f[1])), ReasonText(f[1], f[2], f[3])});
  }
  return reports;
}

SlurmJobReport UnknownEnd(SlurmJobId id) {
  return {id, SlurmJobState::kEnded, "no longer known to Slurm"};
}

std::vector<std::string> ScancelArgv(SlurmJobId id) { return {"scancel", std::to_string(id)}; }

SlurmJobState SlurmStateOf(std::string_view state) {
  // Waiting for nodes, or for nodes to boot (CONFIGURING): no worker yet.
  static const std::set<std::string_view> kPending = {
      "PENDING",      "CONFIGURING",   "REQUEUED",    "REQUEUE_FED",
      "REQUEUE_HOLD", "RESV_DEL_HOLD", "SPECIAL_EXIT"};
  // Holding its nodes, whether or not its workers can work now.
  static const std::set<std::string_view> kRunning = {
      "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"};
  if (kPending.count(state) > 0) return SlurmJobState::kPending;
  if (kRunning.count(state) > 0) return SlurmJobState::kRunning;
  return SlurmJobState::kEnded;
}

}  // namespace drover::broker
