// `submit jobs` (query_commands.h): the jobs a user may see, filtered,
// newest first.

#include <algorithm>
#include <cstring>

#include "shared/clock.h"
#include "shared/spellcheck.h"
#include "submitter/exit_codes.h"
#include "submitter/json_fields.h"
#include "submitter/query_commands.h"
#include "submitter/renderer.h"
#include "submitter/text_table.h"
#include "submitter/time_text.h"

namespace drover::submit {
namespace {

std::optional<JobState> ParseJobState(const std::string& name) {
  for (int i = 0; i <= static_cast<int>(kJobStateMax); ++i) {
    if (name == JobStateName(static_cast<JobState>(i))) return static_cast<JobState>(i);
  }
  return std::nullopt;
}

uint32_t Count(const JobStatus& j, StepState s) {
  const size_t i = static_cast<size_t>(s);
  return i < j.counts.size() ? j.counts[i] : 0;
}

}  // namespace

int RunJobs(Session& session, const JobsQuery& query, const QueryTiming& timing) {
  const int64_t now = WallMs();
  ListJobs request;
  for (const std::string& name : query.states) {
    std::optional<JobState> state = ParseJobState(name);
    if (!state) {
      std::vector<std::string_view> names;
      for (int i = 0; i <= static_cast<int>(kJobStateMax); ++i) {
        names.push_back(JobStateName(static_cast<JobState>(i)));
      }
      std::string hint;
      if (auto close = SpellcheckString(name, names)) hint = " (did you mean " + std::string(*close) + "?)";
      fprintf(stderr, "submit: --state %s: no such state%s; jobs are running, succeeded, failed "
                      "or cancelled\n", name.c_str(), hint.c_str());
      return ToInt(ExitCode::kUsage);
    }
    request.states.push_back(*state);
  }
  if (!query.since.empty()) {
    Result<int64_t> since = ParseSince(query.since, now);
    if (!since.ok()) {
      fprintf(stderr, "submit: %s\n", since.status().message().c_str());
      return ToInt(ExitCode::kUsage);
    }
    request.since_ms = since.value();
  }
  request.name_glob = query.name;
  request.owner = query.user;
  request.limit = query.limit;
  int code = 0;
  std::optional<Message> reply = AskBroker(session, request, timing.answer_ms, &code);
  if (!reply) return code;
  const auto* list = std::get_if<JobList>(&*reply);
  if (list == nullptr) {
    fprintf(stderr, "submit: unexpected reply from the broker\n");
    return ToInt(ExitCode::kBrokerUnreachable);
  }
  if (query.json) {
    for (const JobStatus& j : list->jobs) WriteJsonLine(stdout, JobJson(j));
    return ToInt(ExitCode::kOk);
  }
  if (list->jobs.empty()) {
    printf("no jobs%s\n", list->matched == 0 && (!request.states.empty() || !query.name.empty() ||
                                                   !query.user.empty() || request.since_ms > 0)
                              ? " match"
                              : "");
    return ToInt(ExitCode::kOk);
  }
  // NAME, then OWNER, give way on a narrow terminal.
  TextTable table({"ID", "NAME", "OWNER", "STATE", "STEPS", "SUBMITTED", "TOOK"}, {1, 2});
  bool unverified = false;
  for (const JobStatus& j : list->jobs) {
    uint32_t total = 0;
    for (uint32_t c : j.counts) total += c;
    std::string owner = j.owner.empty() ? "-" : j.owner;
    if (!j.owner.empty() && !j.owner_verified) {
      owner += "*";
      unverified = true;
    }
    const int64_t end = j.ended_ms > 0 ? j.ended_ms : now;
    table.Add({std::to_string(j.id.value), j.name.empty() ? "-" : j.name, owner,
               JobStateName(j.state),
               std::to_string(Count(j, StepState::kSucceeded)) + "/" + std::to_string(total),
               FormatWhen(j.submitted_ms, now),
               j.submitted_ms > 0 ? FormatDuration(end - j.submitted_ms) : "-"});
  }
  for (const std::string& line : table.Lines()) printf("%s\n", line.c_str());
  if (list->matched > list->jobs.size()) {
    printf("(the newest %zu of %u; --limit N shows more, --limit 0 all)\n", list->jobs.size(),
           list->matched);
  }
  if (unverified) printf("* as its submit said: this broker has no keys to check it\n");
  return ToInt(ExitCode::kOk);
}

}  // namespace drover::submit
