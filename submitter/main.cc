// submit: sends a job graph to a Drover broker and follows it live; with no
// broker given, runs it on an embedded broker and worker on this machine.
// See README.md and docs/submit.md. Exit statuses: submitter/exit_codes.h.

#include <signal.h>
#include <sys/random.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>

#include "shared/clock.h"
#include "shared/durations.h"
#include "shared/endpoint.h"
#include "shared/help_format.h"
#include "shared/job_format.h"
#include "shared/job_limit_flags.h"
#include "shared/job_load.h"
#include "shared/signal_fd.h"
#include "submitter/alloc_cli.h"
#include "submitter/broker_choice.h"
#include "submitter/broker_commands.h"
#include "submitter/embedded.h"
#include "submitter/exit_codes.h"
#include "submitter/follow.h"
#include "submitter/output_selection.h"
#include "submitter/query_cli.h"
#include "submitter/renderer.h"
#include "submitter/resume_line.h"
#include "submitter/session.h"
#include "submitter/shown_problems.h"
#include "submitter/style.h"

namespace drover::submit {
namespace {

struct Options {
  std::string file;
  std::string broker;
  bool json = false;
  bool detach = false;
  bool verbose = false;
  bool no_progress = false;
  bool quiet = false;             // -q: no step's output
  std::vector<std::string> show;  // --show: only these steps' output (ids, globs)
  ColorMode color = ColorMode::kAuto;
  std::optional<uint64_t> watch;
  std::vector<uint64_t> cancel;  // --cancel JOB...
  bool now = false;              // --cancel --now: the cleanup steps stop too
  std::optional<uint64_t> resume;
  double connect_timeout_s = 5;
  double reconnect_timeout_s = 120;
  // validate / convert
  std::vector<std::string> validate_files;
  bool all_problems = false;  // validate: print every problem, not kProblemsShown
  bool expand = false;        // validate: print the job file with its arrays expanded
  std::string convert_in, convert_out;
  JobLimits limits;  // checked locally, as the broker will (job_limit_flags.h)
  // keys
  std::string key_file, broker_key_file;
  bool no_key = false;  // --no-key: none, even if the files above or the defaults name one
  std::string keygen_path, keygen_comment;
  std::string drain_worker;
  std::vector<uint64_t> forget_jobs;
  // The embedded worker's, when no broker is given.
  std::optional<uint32_t> slots;
  std::vector<std::string> labels;
  std::vector<std::string> resources;
};

void Error(const std::string& text) { fprintf(stderr, "submit: %s\n", text.c_str()); }

// What ends a list of problems cut short, where the rest can be seen.
constexpr std::string_view kAllProblemsHint = " (`submit validate --all` lists them all)";

// Prints a list of problems under `heading`, at most `max_shown` of them
// (shown_problems.h), each indented.
void PrintProblems(const std::string& heading, const std::vector<std::string>& lines,
                   size_t max_shown, std::string_view more_hint) {
  Error(heading);
  for (const std::string& line : ShownProblems(lines, max_shown, more_hint)) {
    fprintf(stderr, "  %s\n", line.c_str());
  }
}

// How messages name a job file: `submit -` reads it from stdin.
std::string JobFileName(const std::string& path) { return path == "-" ? "stdin" : path; }

// Reads and validates a job file, printing its problems (at most
// `max_shown`). nullopt if unusable. `steps`, if given, gets its step ids;
// `spec`, the loaded job.
std::optional<std::string> LoadAndCheck(const std::string& path, const JobLimits& limits,
                                        size_t max_shown, std::string_view more_hint,
                                        std::vector<std::string>* steps = nullptr,
                                        std::optional<JobSpec>* spec = nullptr) {
  Result<std::string> bytes = ReadJobFile(path);
  if (!bytes.ok()) {
    Error(bytes.status().message());
    return std::nullopt;
  }
  LoadedJob job = LoadJob(bytes.value(), limits);
  if (!job.spec) {
    std::vector<std::string> lines;
    lines.reserve(job.problems.size());
    for (const Problem& p : job.problems) lines.push_back(FormatProblem(p));
    PrintProblems(JobFileName(path) + " has " + std::to_string(lines.size()) +
                      (lines.size() == 1 ? " problem:" : " problems:"),
                  lines, max_shown, more_hint);
    return std::nullopt;
  }
  if (steps) {
    steps->clear();
    for (const StepSpec& step : job.spec->steps) steps->push_back(step.id);
  }
  if (spec) *spec = std::move(job.spec);
  return std::move(bytes).value();
}

// Where submit looks for keys when neither --key nor $DROVER_KEY says:
// $XDG_CONFIG_HOME/drover (~/.config/drover), if both files are there.
// Returns whether it took them from there.
bool DefaultKeyFiles(Options* o) {
  if (o->no_key || !o->key_file.empty() || !o->broker_key_file.empty()) return false;
  std::string dir;
  if (const char* xdg = std::getenv("XDG_CONFIG_HOME"); xdg && *xdg) {
    dir = std::string(xdg) + "/drover";
  } else if (const char* home = std::getenv("HOME"); home && *home) {
    dir = std::string(home) + "/.config/drover";
  } else {
    return false;
  }
  if (access((dir + "/user.key").c_str(), F_OK) != 0 ||
      access((dir + "/broker.pub").c_str(), F_OK) != 0) {
    return false;
  }
  o->key_file = dir + "/user.key";
  o->broker_key_file = dir + "/broker.pub";
  return true;
}

// The keys to talk to a broker with (none for the embedded one, nor with
// --no-key). `*found` (if given): the files are the defaults, found by
// DefaultKeyFiles rather than given.
Result<std::optional<ClientKeys>> KeysFor(Options o, bool* found = nullptr) {
  if (o.no_key) return std::optional<ClientKeys>();
  const bool defaults = DefaultKeyFiles(&o);
  if (found) *found = defaults;
  return LoadClientKeys(o.key_file, o.broker_key_file);
}

// After a failed connection: if the keys were the defaults, not asked for,
// and the handshake failed as it does with a broker that uses none, how to
// go without them.
void HintNoKey(bool default_keys, Session& session) {
  if (!default_keys || !session.broker_may_lack_keys()) return;
  Error("this key is the one found in ~/.config/drover ($XDG_CONFIG_HOME/drover), used when no "
        "--key is given: if this broker uses no keys, give --no-key (docs/security.md)");
}

int RunKeygen(const Options& o) {
  std::string base = o.keygen_path;
  for (const char* ext : {".key", ".pub"}) {
    if (base.size() > 4 && base.ends_with(ext)) base.resize(base.size() - 4);
  }
  Result<KeyPair> keys = GenerateKeyPair();
  if (!keys.ok()) {
    Error(keys.status().message());
    return 1;
  }
  const std::string comment = o.keygen_comment.empty() ? DefaultKeyComment() : o.keygen_comment;
  if (Status s = WriteKeyFiles(base, keys.value(), comment); !s.ok()) {
    Error(s.message());
    return ToInt(ExitCode::kUsage);
  }
  printf(
      "wrote %s.key (the secret key: keep it private) and %s.pub (the public key, to add "
      "to a broker's allow-list):\n%s %s\n",
      base.c_str(), base.c_str(), keys->public_key.c_str(), comment.c_str());
  return ToInt(ExitCode::kOk);
}

// A submission's key (protocol.h: SubmitJob): random, so that two
// submissions never share one.
std::string NewSubmissionKey() {
  unsigned char bytes[16] = {};
  if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    const uint64_t mix = static_cast<uint64_t>(WallMs()) * 0x9e3779b97f4a7c15ull ^
                         static_cast<uint64_t>(getpid()) << 32;
    for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<unsigned char>(mix >> (i % 8 * 8));
  }
  static const char kHex[] = "0123456789abcdef";
  std::string key;
  for (unsigned char b : bytes) {
    key += kHex[b >> 4];
    key += kHex[b & 15];
  }
  return key;
}

// Sends `request` and returns the broker's answer. When none comes (the
// broker restarted, or the link broke), sends it again on a fresh
// connection, until `patience_ms` is spent. Only for requests that are safe
// to repeat: submissions carry a key, and watching or cancelling twice is
// the same as once.
Result<Message> Ask(Session& session, const Message& request, int64_t timeout_ms,
                    int64_t patience_ms) {
  const int64_t deadline = MonotonicMs() + patience_ms;
  session.Send(request);
  for (;;) {
    Result<Message> reply = session.Receive(timeout_ms);
    const auto* error = reply.ok() ? std::get_if<ErrorReply>(&reply.value()) : nullptr;
    const bool lost = !reply.ok() || (error != nullptr && error->code == ErrorCode::kNeedHello);
    if (!lost) return reply;
    for (;;) {
      const int64_t left = deadline - MonotonicMs();
      if (left <= 0) {
        return Status::Error("no answer from the broker at " + session.endpoint() + " for " +
                             std::to_string(patience_ms / 1000) + " s");
      }
      fprintf(stderr, "submit: no answer from the broker at %s; trying again\n",
              session.endpoint().c_str());
      bool refused = false;
      Status s = session.Reconnect(std::min(timeout_ms, left), &refused);
      if (refused) return s;
      if (s.ok()) break;
    }
    session.Send(request);
  }
}

// Asks the embedded broker for its workers until it has one.
Status WaitForEmbeddedWorker(Session& session, EmbeddedCluster& cluster, int64_t timeout_ms) {
  const int64_t deadline = MonotonicMs() + timeout_ms;
  for (;;) {
    session.Send(StatusRequest{});
    Result<Message> reply = session.Receive(std::max<int64_t>(deadline - MonotonicMs(), 1));
    if (const auto* status = reply.ok() ? std::get_if<StatusReply>(&reply.value()) : nullptr;
        status != nullptr && !status->workers.empty()) {
      return Status::Ok();
    }
    if (std::string dead = cluster.CheckAlive(); !dead.empty()) return Status::Error(dead);
    if (MonotonicMs() >= deadline) {
      return Status::Error("the embedded worker did not connect to the embedded broker");
    }
    usleep(10'000);
  }
}

int RunValidate(const Options& o) {
  bool all_ok = true;
  for (const std::string& path : o.validate_files) {
    std::vector<std::string> steps;
    std::optional<JobSpec> spec;
    const size_t max_shown = o.all_problems ? SIZE_MAX : kProblemsShown;
    if (!LoadAndCheck(path, o.limits, max_shown, " (--all lists them all)", &steps,
                      o.expand ? &spec : nullptr)) {
      all_ok = false;
      continue;
    }
    if (!o.expand) {
      printf("%s: ok (%zu steps)\n", JobFileName(path).c_str(), steps.size());
      continue;
    }
    // The job file on stdout, to be kept or piped; the verdict beside it.
    const Result<std::string> json = JobSpecToJson(*spec);
    if (!json.ok()) {
      Error(JobFileName(path) + ": cannot expand: " + json.status().message());
      all_ok = false;
      continue;
    }
    fwrite(json->data(), 1, json->size(), stdout);
    fprintf(stderr, "%s: ok (%zu steps)\n", JobFileName(path).c_str(), steps.size());
  }
  return ToInt(all_ok ? ExitCode::kOk : ExitCode::kUsage);
}

int RunConvert(const Options& o) {
  std::ifstream in(o.convert_in, std::ios::binary);
  if (!in) {
    Error("cannot read " + o.convert_in);
    return ToInt(ExitCode::kUsage);
  }
  const std::string input((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const Result<JobFormat> format = GuessJobFormat(input);
  Result<std::string> output = Status::Error("");
  if (!format.ok()) {
    output = format.status();
  } else if (format.value() == JobFormat::kJson) {
    output = JsonToMsgpack(input);
  } else {
    output = MsgpackToJson(input);
  }
  if (!output.ok()) {
    Error(o.convert_in + ": " + output.status().message());
    return ToInt(ExitCode::kUsage);
  }
  if (o.convert_out == "-") {
    fwrite(output->data(), 1, output->size(), stdout);
    return ToInt(ExitCode::kOk);
  }
  std::ofstream out(o.convert_out, std::ios::binary | std::ios::trunc);
  out.write(output->data(), static_cast<std::streamsize>(output->size()));
  if (!out.flush()) {
    Error("cannot write " + o.convert_out);
    return ToInt(ExitCode::kUsage);
  }
  return ToInt(ExitCode::kOk);
}

// For the commands that ask the broker one thing (status, worker drain,
// alloc, forget and the queries): a session with the broker given, else with
// kDefaultBroker, or nullptr after saying why (and `*code` is the exit status).
std::unique_ptr<Session> OpenSession(const Options& o, zmq::context_t* ctx, int* code) {
  bool default_keys = false;
  auto keys = KeysFor(o, &default_keys);
  if (!keys.ok()) {
    Error(keys.status().message());
    *code = ToInt(ExitCode::kUsage);
    return nullptr;
  }
  auto session = std::make_unique<Session>(ctx, ChooseBroker(o.broker, BrokerUse::kAskBroker),
                                           std::move(keys).value());
  bool refused = false;
  if (Status s = session->Connect(static_cast<int64_t>(o.connect_timeout_s * 1000), &refused);
      !s.ok()) {
    Error(s.message() + (o.broker.empty() ? DefaultBrokerNote() : ""));
    HintNoKey(default_keys, *session);
    *code = ToInt(refused ? ExitCode::kUsage : ExitCode::kBrokerUnreachable);
    return nullptr;
  }
  return session;
}

// `submit --cancel [--now] JOB...`: one CancelJob each, in order, and a
// line each. A job the broker will not cancel (unknown, already ended) is
// named and the rest still go; a broker that stops answering ends it
// (status 3).
int RunCancel(const std::vector<uint64_t>& jobs, bool now, Session& session, int64_t timeout_ms,
              int64_t patience_ms) {
  std::vector<std::string> failed;
  for (uint64_t job : jobs) {
    Result<Message> reply = Ask(session, CancelJob{JobId(job), now}, timeout_ms, patience_ms);
    if (const auto* ok = reply.ok() ? std::get_if<CancelAccepted>(&reply.value()) : nullptr) {
      const uint32_t left = ok->cleanup_left;
      if (left == 0) {
        printf("job %lu is being cancelled\n", static_cast<unsigned long>(job));
      } else {
        printf("job %lu is being cancelled; %u cleanup step%s still run%s (--now stops %s)\n",
               static_cast<unsigned long>(job), left, left == 1 ? "" : "s", left == 1 ? "s" : "",
               left == 1 ? "it" : "them");
      }
      continue;
    }
    const auto* error = reply.ok() ? std::get_if<ErrorReply>(&reply.value()) : nullptr;
    Error(error ? error->message : reply.ok() ? "unexpected reply" : reply.status().message());
    if (error == nullptr) return ToInt(ExitCode::kBrokerUnreachable);
    failed.push_back(std::to_string(job));
  }
  if (failed.empty()) return ToInt(ExitCode::kOk);
  if (jobs.size() > 1) {
    std::string list;
    for (const std::string& id : failed) list += (list.empty() ? "" : ", ") + id;
    Error("not cancelled: job" + std::string(failed.size() == 1 ? " " : "s ") + list);
  }
  return ToInt(ExitCode::kUsage);
}

// The steps whose output is printed (--quiet, --show) among `step_ids`, the
// job's, which `where` names; nullopt after saying what --show names that
// is not there.
std::optional<OutputSelection> SelectOutput(const Options& o,
                                            const std::vector<std::string>& step_ids,
                                            const std::string& where) {
  if (o.quiet) return OutputSelection::None();
  if (o.show.empty()) return OutputSelection::All();
  std::vector<std::string> problems;
  OutputSelection selection = OutputSelection::Of(o.show, step_ids, where, &problems);
  for (const std::string& p : problems) Error(p);
  if (!problems.empty()) return std::nullopt;
  return selection;
}

// The step ids of job `job` as the broker has them, to check --show against
// before --resume runs it again: a WatchJob from past the end of its
// events, which the broker answers with the job's ids and no events (it
// drops such a follower of an ended job at once). Empty when the broker
// will not say; the resume that follows then says why.
std::vector<std::string> StepIdsOf(Session& session, JobId job, int64_t timeout_ms,
                                   int64_t patience_ms) {
  Result<Message> reply =
      Ask(session, WatchJob{job, std::numeric_limits<uint64_t>::max()}, timeout_ms, patience_ms);
  const auto* accepted = reply.ok() ? std::get_if<JobAccepted>(&reply.value()) : nullptr;
  return accepted != nullptr ? accepted->step_ids : std::vector<std::string>();
}

int RunJob(const Options& o, zmq::context_t* ctx, SignalFd& signals) {
  std::optional<std::string> job_bytes;
  if (!o.file.empty()) {
    std::vector<std::string> steps;
    job_bytes = LoadAndCheck(o.file, o.limits, kProblemsShown, kAllProblemsHint, &steps);
    if (!job_bytes) return ToInt(ExitCode::kUsage);
    // What --show names is checked before anything runs.
    if (!SelectOutput(o, steps, JobFileName(o.file))) return ToInt(ExitCode::kUsage);
  }
  std::unique_ptr<EmbeddedCluster> cluster;
  const bool asks = o.detach || o.watch || !o.cancel.empty() || o.resume;
  std::string endpoint =
      ChooseBroker(o.broker, asks ? BrokerUse::kAskBroker : BrokerUse::kRunJobFile);
  int64_t timeout_ms = static_cast<int64_t>(o.connect_timeout_s * 1000);
  if (!endpoint.empty() && (o.slots || !o.labels.empty() || !o.resources.empty())) {
    Error("--slots, --label and --resource describe the embedded worker, which runs only "
          "without a broker; a broker's workers say what they have themselves");
    return ToInt(ExitCode::kUsage);
  }
  if (endpoint.empty()) {
    std::vector<std::string> worker_args;
    if (o.slots) worker_args.insert(worker_args.end(), {"--slots", std::to_string(*o.slots)});
    for (const std::string& l : o.labels) worker_args.insert(worker_args.end(), {"--label", l});
    for (const std::string& r : o.resources) worker_args.insert(worker_args.end(), {"--resource", r});
    Result<std::unique_ptr<EmbeddedCluster>> started =
        EmbeddedCluster::Start(signals.original_mask(), worker_args);
    if (!started.ok()) {
      Error("cannot start the embedded broker and worker: " + started.status().message());
      return ToInt(ExitCode::kBrokerUnreachable);
    }
    cluster = std::move(started).value();
    endpoint = cluster->endpoint();
    timeout_ms = std::max<int64_t>(timeout_ms, 10'000);
  }

  Result<std::optional<ClientKeys>> keys = std::optional<ClientKeys>();
  bool default_keys = false;
  if (!cluster) keys = KeysFor(o, &default_keys);  // the embedded broker needs none
  if (!keys.ok()) {
    Error(keys.status().message());
    return ToInt(ExitCode::kUsage);
  }
  Session session(ctx, endpoint, std::move(keys).value());
  bool refused = false;
  if (Status s = session.Connect(timeout_ms, &refused); !s.ok()) {
    Error(s.message() + (!cluster && o.broker.empty() ? DefaultBrokerNote() : ""));
    HintNoKey(default_keys, session);
    if (cluster) {
      if (std::string dead = cluster->CheckAlive(); !dead.empty()) Error(dead);
    }
    return ToInt(refused ? ExitCode::kUsage : ExitCode::kBrokerUnreachable);
  }

  if (cluster) {
    // The embedded worker is the only one there will be: the job goes in
    // once it is there, so that "no worker is connected" never counts
    // against a step (follow.h cancels a step the embedded worker lacks).
    if (Status s = WaitForEmbeddedWorker(session, *cluster, timeout_ms); !s.ok()) {
      Error(s.message());
      return ToInt(ExitCode::kBrokerUnreachable);
    }
  }
  const int64_t patience_ms = cluster ? 0 : static_cast<int64_t>(o.reconnect_timeout_s * 1000);
  if (!o.cancel.empty()) return RunCancel(o.cancel, o.now, session, timeout_ms, patience_ms);

  // (With an edited file, --show was checked against the file's steps.)
  if (o.resume && o.file.empty() && !o.show.empty()) {
    const std::vector<std::string> steps =
        StepIdsOf(session, JobId(*o.resume), timeout_ms, patience_ms);
    if (!steps.empty() && !SelectOutput(o, steps, "job " + std::to_string(*o.resume))) {
      return ToInt(ExitCode::kUsage);
    }
  }
  Message request;
  if (o.watch) {
    request = WatchJob{JobId(*o.watch), 0};
  } else if (o.resume) {
    // With a file: resumed as edited (docs/submit.md), else as it was.
    request = ResumeJob{JobId(*o.resume), !o.detach, NewSubmissionKey(),
                        Blob{job_bytes ? std::move(*job_bytes) : std::string()}};
  } else {
    request = SubmitJob{Blob{std::move(*job_bytes)}, !o.detach, NewSubmissionKey()};
  }
  Result<Message> reply = Ask(session, request, timeout_ms, patience_ms);
  if (!reply.ok()) {
    Error(reply.status().message());
    return ToInt(ExitCode::kBrokerUnreachable);
  }
  if (const auto* rejected = std::get_if<JobRejected>(&reply.value())) {
    PrintProblems("the broker rejected " + JobFileName(o.file) + ":", rejected->problems, kProblemsShown,
                  kAllProblemsHint);
    return ToInt(ExitCode::kUsage);
  }
  if (const auto* error = std::get_if<ErrorReply>(&reply.value())) {
    Error(error->message);
    // A full disk on the broker refuses the job like a bad one: nothing was
    // taken, and trying again at once would meet the same refusal.
    const bool usage = error->code == ErrorCode::kUnknownJob ||
                       error->code == ErrorCode::kForbidden ||
                       error->code == ErrorCode::kStateDiskFull;
    return ToInt(usage ? ExitCode::kUsage : ExitCode::kBrokerUnreachable);
  }
  const auto* accepted = std::get_if<JobAccepted>(&reply.value());
  if (accepted == nullptr) {
    Error("unexpected reply from the broker");
    return ToInt(ExitCode::kBrokerUnreachable);
  }
  if (o.detach) {
    if (accepted->resumed_from.value != 0) {
      JobView view;
      view.Accept(*accepted);
      fprintf(stderr, "%s\n", ResumeLine(view).c_str());
    }
    printf("%lu\n", static_cast<unsigned long>(accepted->job.value));
    return ToInt(ExitCode::kOk);
  }
  // A watcher learns the job's steps only now.
  std::optional<OutputSelection> output =
      SelectOutput(o, accepted->step_ids, "job " + std::to_string(accepted->job.value));
  if (!output) return ToInt(ExitCode::kUsage);
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  std::unique_ptr<Renderer> renderer =
      o.json ? MakeJsonRenderer(stdout, std::move(*output))
             : MakeHumanRenderer(
                   stdout, stderr,
                   HumanOptions{
                       .progress = !o.no_progress && isatty(STDERR_FILENO) == 1,
                       .verbose = o.verbose,
                       .summary_rows = 50,
                       .output = std::move(*output),
                       .color_out = UseColor(o.color, isatty(STDOUT_FILENO) == 1, no_color, term),
                       .color_err = UseColor(o.color, isatty(STDERR_FILENO) == 1, no_color, term)});
  return ToInt(Follow(session, *accepted, *renderer, signals, cluster.get(),
                      FollowOptions{.submitted = !o.watch, .reconnect_ms = patience_ms}));
}

}  // namespace
}  // namespace drover::submit

int main(int argc, char** argv) {
  using namespace drover;
  using namespace drover::submit;
  // Before anything can start a thread: Ctrl-C is read from a signalfd.
  auto signals = drover::SignalFd::Create({SIGINT, SIGTERM});
  if (!signals.ok()) {
    Error(signals.status().message());
    return 1;
  }
  signal(SIGPIPE, SIG_IGN);

  Options o;
  if (const char* env = std::getenv("DROVER_BROKER"); env && *env) o.broker = env;
  if (const char* env = std::getenv("DROVER_KEY"); env && *env) o.key_file = env;
  if (const char* env = std::getenv("DROVER_BROKER_KEY"); env && *env) o.broker_key_file = env;

  // Named, so that help says `submit`, not the path it was started by.
  CLI::App app{"Drover submit: run a job graph and follow it live.\n"
               "With no broker (--broker or $DROVER_BROKER), runs it on an embedded broker and\n"
               "worker on this machine.",
               "submit"};
  // Wrapped to 80 columns; the subcommands inherit it.
  app.formatter(WrappingFormatter());
  app.add_option("file", o.file, "Job file (.json or .msgpack; see docs/jobs.md), or - for stdin");
  // Each --broker (this one and each broker command's): a bad address is
  // blamed on the flag if one was given, else on $DROVER_BROKER.
  std::vector<CLI::Option*> broker_flags;
  broker_flags.push_back(app.add_option("--broker", o.broker,
                                        "Broker endpoint, e.g. tcp://host:7700 ($DROVER_BROKER; "
                                        "with neither, a job file runs on an embedded broker "
                                        "and the rest ask tcp://127.0.0.1:7700)"));
  app.add_flag("--json", o.json, "Print one JSON object per event instead of text");
  app.add_flag("--detach", o.detach, "Print the job id and return at once");
  app.add_option("--watch", o.watch, "Follow an already submitted job")->type_name("JOB");
  CLI::Option* cancel =
      app.add_option("--cancel", o.cancel, "Cancel jobs (their cleanup steps still run)")
          ->type_name("JOB");
  app.add_flag("--now", o.now, "With --cancel: stop cleanup steps too")->needs(cancel);
  app.add_option("--resume", o.resume, "Rerun an ended job, keeping what succeeded")
      ->type_name("JOB [FILE]");
  app.add_flag("-v,--verbose", o.verbose, "Also show each step's start and success");
  app.add_flag("-q,--quiet", o.quiet,
               "Print no step's output: only failures (each with the failed step's last "
               "lines), retries, skips, waits, the progress line and the summary");
  // One value per repeat or a comma list (allow_extra_args): else the job
  // file after it would be taken for a step.
  app.add_option("--show", o.show,
                 "Print only these steps' output: ids or globs ('train-*'); repeat, or a,b. "
                 "The others are as with --quiet")
      ->type_name("STEP")
      ->delimiter(',')
      ->allow_extra_args(false);
  std::string color = "auto";
  app.add_option("--color", color,
                 "Colour Drover's notices and the summary's states: auto (on a terminal, "
                 "unless $NO_COLOR is set), always or never")
      ->type_name("WHEN")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "always", "never"}));
  app.add_option("--slots", o.slots,
                 "Without a broker: slots of the embedded worker (default: the cores)")
      ->check(CLI::Range(1u, 1u << 20));
  // One value per repeat (allow_extra_args): a list option of CLI11's
  // otherwise takes the job file after it as a second value.
  app.add_option("--label", o.labels, "Without a broker: a label of the embedded worker; repeat")
      ->allow_extra_args(false);
  app.add_option("--resource", o.resources,
                 "Without a broker: a resource of the embedded worker, NAME=AMOUNT as for "
                 "`worker --resource` (mem=8G, gpus=0,1, licence=2); repeat")
      ->type_name("NAME=AMOUNT")
      ->allow_extra_args(false);
  app.add_flag("--no-progress", o.no_progress, "No live progress line on a terminal");
  app.add_option("--connect-timeout", o.connect_timeout_s, "Seconds to wait for the broker")
      ->capture_default_str()
      ->check(CLI::Range(0.1, 3600.0));
  app.add_option("--reconnect-timeout", o.reconnect_timeout_s,
                 "Seconds to keep trying to get back in touch with a broker that went away "
                 "(restarted, or the network broke) before giving up with status 3")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 86400.0));

  const std::string key_help =
      "This client's secret key file, for a broker that uses keys (default: $DROVER_KEY, else "
      "~/.config/drover/user.key with broker.pub beside it)";
  const std::string broker_key_help =
      "The broker's public key file, its broker.pub (default: $DROVER_BROKER_KEY)";
  const std::string no_key_help =
      "Use no key, even if $DROVER_KEY or ~/.config/drover has one: for a broker without keys";
  // --key, --broker-key and --no-key on `command` (the main one and each
  // broker command).
  auto add_key_flags = [&](CLI::App* command) {
    CLI::Option* key = command->add_option("--key", o.key_file, key_help);
    CLI::Option* broker_key =
        command->add_option("--broker-key", o.broker_key_file, broker_key_help);
    command->add_flag("--no-key", o.no_key, no_key_help)->excludes(key)->excludes(broker_key);
  };
  add_key_flags(&app);

  const std::string broker_help = "Broker endpoint ($DROVER_BROKER, else tcp://127.0.0.1:7700)";
  CLI::App* validate = app.add_subcommand("validate", "Check job files without running them");
  validate->add_option("files", o.validate_files, "Job files")->required();
  validate->add_flag(
      "--all", o.all_problems,
      "List every problem of a file, not just the first " + std::to_string(kProblemsShown));
  validate->add_flag("--expand", o.expand,
                     "Print each file as the job file it amounts to, its arrays (each) written "
                     "out as plain steps, one step a line (JSON, on stdout)");
  CLI::App* convert = app.add_subcommand(
      "convert", "Convert a job file between JSON and MessagePack (direction from the input)");
  convert->add_option("input", o.convert_in, "Job file to read")->required();
  convert->add_option("output", o.convert_out, "File to write, or - for stdout")->required();
  CLI::App* status = app.add_subcommand("status", "Show a broker's workers and jobs");
  broker_flags.push_back(
      status->add_option("--broker", o.broker, broker_help));
  add_key_flags(status);
  CLI::App* worker = app.add_subcommand("worker", "Manage a broker's workers");
  worker->require_subcommand(1);
  CLI::App* drain = worker->add_subcommand(
      "drain", "Let a worker finish its running steps, take no new ones, then exit");
  drain->add_option("name", o.drain_worker, "The worker's name (as `submit status` lists it)")
      ->required();
  CLI::App* forget = app.add_subcommand(
      "forget", "Forget jobs that have ended: their summary and output go at once (the broker "
                "forgets them by itself after --forget-after, 7 days by default)");
  forget->add_option("jobs", o.forget_jobs, "Job ids")->required();
  AllocCli alloc_cli;
  alloc_cli.AddTo(&app);
  QueryCli query_cli;
  query_cli.AddTo(&app);
  std::vector<CLI::App*> broker_commands = alloc_cli.commands();
  for (CLI::App* sub : query_cli.commands()) broker_commands.push_back(sub);
  broker_commands.push_back(drain);
  broker_commands.push_back(forget);
  for (CLI::App* sub : broker_commands) {
    broker_flags.push_back(
        sub->add_option("--broker", o.broker, broker_help));
    add_key_flags(sub);
  }
  CLI::App* keygen = app.add_subcommand(
      "keygen", "Make a key pair: PATH.key (secret, mode 0600) and PATH.pub (docs/security.md)");
  keygen->add_option("path", o.keygen_path, "Where, without .key/.pub, e.g. ~/.config/drover/user")
      ->required();
  keygen->add_option("--comment", o.keygen_comment,
                     "Comment in the .pub file (default: user@host)");
  app.require_subcommand(0, 1);
  // The broker's limits, to hear about a job file past them before sending
  // it; give the values the broker was started with if it was told others.
  drover::JobLimitFlags limit_flags;
  limit_flags.Add(&app);
  limit_flags.Add(validate);

  try {
    app.parse(argc, argv);
    // --resume JOB FILE is one action: resuming with an edited file.
    const int actions = (!o.file.empty() && !o.resume) + o.watch.has_value() + !o.cancel.empty() +
                        o.resume.has_value();
    if (app.get_subcommands().empty() && actions != 1) {
      throw CLI::ValidationError(actions == 0
                                     ? "give a job file (or --watch, --cancel or --resume JOB)"
                                     : "give only one of a job file, --watch, --cancel and --resume");
    }
    if (o.quiet && !o.show.empty()) {
      throw CLI::ValidationError("give --quiet or --show, not both (--show hides the other "
                                 "steps' output as --quiet does)");
    }
    if ((o.quiet || !o.show.empty()) && (o.detach || !o.cancel.empty())) {
      throw CLI::ValidationError(std::string(o.quiet ? "--quiet" : "--show") +
                                 " chooses what a followed job prints: not with " +
                                 (o.detach ? "--detach" : "--cancel"));
    }
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : ToInt(ExitCode::kUsage);
  }

  o.limits = limit_flags.Apply();
  o.color = ParseColorMode(color).value_or(ColorMode::kAuto);
  if (validate->parsed()) return RunValidate(o);
  if (convert->parsed()) return RunConvert(o);
  if (keygen->parsed()) return RunKeygen(o);
  // Every command from here on talks to the broker, if one is given.
  if (!o.broker.empty()) {
    const bool flag = std::any_of(broker_flags.begin(), broker_flags.end(),
                                  [](const CLI::Option* f) { return f->count() > 0; });
    if (drover::Status s = drover::CheckEndpoint(flag ? "--broker" : "DROVER_BROKER", o.broker,
                                                 drover::EndpointUse::kConnect);
        !s.ok()) {
      Error(s.message());
      return ToInt(ExitCode::kUsage);
    }
  }
  zmq::context_t ctx(1);
  std::optional<AllocRequest> alloc_request;
  if (alloc_cli.parsed()) {
    Result<AllocRequest> request = alloc_cli.Request();
    if (!request.ok()) {
      Error(request.status().message());
      return ToInt(ExitCode::kUsage);
    }
    alloc_request = std::move(request).value();
  }
  if (status->parsed() || drain->parsed() || forget->parsed() || alloc_request ||
      query_cli.parsed()) {
    int code = 0;
    std::unique_ptr<Session> session = OpenSession(o, &ctx, &code);
    if (!session) return code;
    QueryTiming timing;
    timing.answer_ms = static_cast<int64_t>(o.connect_timeout_s * 1000);
    timing.reconnect_ms = static_cast<int64_t>(o.reconnect_timeout_s * 1000);
    if (status->parsed()) return RunStatus(*session, timing.answer_ms);
    if (drain->parsed()) return RunWorkerDrain(*session, o.drain_worker, timing.answer_ms);
    if (forget->parsed()) return RunForget(*session, o.forget_jobs, timing.answer_ms);
    if (alloc_request) return RunAlloc(*session, *alloc_request, timing.answer_ms);
    return query_cli.Run(*session, signals.value(), timing);
  }
  return RunJob(o, &ctx, signals.value());
}
