// The commands that make one request of a broker and print its answer:
// `submit status`, `submit forget JOB...`, `submit worker drain NAME` and
// `submit alloc ...` (the questions about past jobs are query_commands.h).
// Each returns submit's exit status: 0, 2 for what the user must mend (no
// such job, worker or queue, another user's job, parameters the broker
// refuses), 3 when the broker could not be asked. The session is
// connected; `answer_ms` is how long to wait for the answer. Each request
// is sent once: an `alloc add` sent again would make a second queue.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "shared/protocol.h"
#include "submitter/session.h"

namespace drover::submit {

// The workers (those in touch counted on the first line, which scripts
// wait on) and the jobs, a line or two each, within 80 columns.
int RunStatus(Session& session, int64_t answer_ms);

// Ended jobs forgotten now rather than --forget-after later; a line for
// each, and the broker's reason for each it would not forget (status 2).
int RunForget(Session& session, const std::vector<uint64_t>& jobs, int64_t answer_ms);

// Worker `name` finishes what it has started and leaves.
int RunWorkerDrain(Session& session, const std::string& name, int64_t answer_ms);

// An allocation-queue request; prints the broker's text as it wrote it.
int RunAlloc(Session& session, const AllocRequest& request, int64_t answer_ms);

}  // namespace drover::submit
