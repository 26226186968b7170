// The questions `submit` asks a broker about what it has run (docs/submit.md,
// "Looking back"): `jobs` (a filtered list), `info` (one job's steps),
// `logs` (steps' output, as it stands or followed), `workers` and `trace`
// (a job's timeline). Each prints its answer on stdout, as text within 80
// columns or with `json` as JSON (`trace`: a Chrome trace, or to a file),
// and returns submit's exit status: 0, 2 for what the user must mend
// (no such job or step, another user's job, a bad filter), 3 when the
// broker could not be asked, 130 on Ctrl-C. The session is connected.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/signal_fd.h"
#include "submitter/logs_renderer.h"
#include "submitter/session.h"

namespace drover::submit {

struct QueryTiming {
  int64_t answer_ms = 5000;     // how long to wait for an answer
  int64_t reconnect_ms = 0;     // how long `logs` keeps trying to get back in touch
};

struct JobsQuery {
  std::vector<std::string> states;  // job state names; empty: any
  std::string name;                 // glob; empty: any
  std::string user;                 // owner; empty: anyone
  std::string since;                // ParseSince's forms; empty: ever
  uint32_t limit = 20;              // 0: all
  bool json = false;
};
int RunJobs(Session& session, const JobsQuery& query, const QueryTiming& timing);

struct InfoQuery {
  uint64_t job = 0;
  bool failed_only = false;  // only steps that did not succeed
  bool json = false;
};
int RunInfo(Session& session, SignalFd& signals, const InfoQuery& query,
            const QueryTiming& timing);

struct LogsQuery {
  uint64_t job = 0;
  LogsOptions show;     // which steps, streams, attempt; tail, prefix, json
  bool follow = false;  // then go on printing until the job ends
};
int RunLogs(Session& session, SignalFd& signals, const LogsQuery& query,
            const QueryTiming& timing);

int RunWorkers(Session& session, bool json, const QueryTiming& timing);

// `trace`: the job's attempts as a Chrome trace (trace_json.h), written to
// `output`, or stdout if empty; 2 also when that file cannot be written.
struct TraceQuery {
  uint64_t job = 0;
  std::string output;
};
int RunTrace(Session& session, SignalFd& signals, const TraceQuery& query,
             const QueryTiming& timing);

// Sends `request` and waits for the answer. On an ErrorReply, or none in
// time, prints why ("submit: ...") and sets `*code` (2 for the user's to
// mend, 3 otherwise); nullopt then.
std::optional<Message> AskBroker(Session& session, const Message& request, int64_t timeout_ms,
                                 int* code);

}  // namespace drover::submit
