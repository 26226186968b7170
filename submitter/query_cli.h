// The query commands on the command line: `jobs`, `info`, `logs`,
// `workers` and `trace` (query_commands.h runs them). Kept out of main.cc
// like AllocCli: main.cc gives each command --broker and the key options,
// opens the session and calls Run().
#pragma once

#include <vector>

#include "shared/signal_fd.h"
#include "submitter/query_commands.h"
#include "submitter/session.h"

namespace CLI {
class App;
}

namespace drover::submit {

class QueryCli {
 public:
  // Adds the five commands to `app`. REQUIRES: called once; this object
  // outlives the parse (CLI11 writes into it).
  void AddTo(CLI::App* app);
  std::vector<CLI::App*> commands() const { return {jobs_, info_, logs_, workers_, trace_}; }
  // Whether one of them was on the command line.
  bool parsed() const;
  // Runs the one on the command line. REQUIRES: parsed()
  int Run(Session& session, SignalFd& signals, const QueryTiming& timing) const;

 private:
  CLI::App* jobs_ = nullptr;
  CLI::App* info_ = nullptr;
  CLI::App* logs_ = nullptr;
  CLI::App* workers_ = nullptr;
  CLI::App* trace_ = nullptr;
  JobsQuery jobs_query_;
  InfoQuery info_query_;
  LogsQuery logs_query_;
  TraceQuery trace_query_;
  bool stderr_only_ = false;
  bool both_ = false;
  size_t tail_ = 0;
  uint32_t attempt_ = 0;
  bool json_ = false;  // logs and workers
};

}  // namespace drover::submit
