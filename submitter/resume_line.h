// What `submit` prints when the broker has resumed a job (submit --resume):
// what it carried over from the old job, what runs, and what an edited file
// left out. One line when it fits the width:
//
//   resuming job 4 as job 7: 3 steps carried over (fetch, build, test), 2 to run
//
// else the counts, then a line for each list, shortened to fit ("and 41
// more"), left out when not even one id fits:
//
//   resuming job 4 as job 9: 40 steps carried over, 3 to run, 2 dropped
//     carried over: fetch, build-core, build-ui, test-core and 36 more
//     dropped: lint, old-check
#pragma once

#include <cstddef>
#include <string>

#include "submitter/job_view.h"

namespace drover::submit {

// The text, without a final newline. REQUIRES: view.resumed_from() is set
// (the broker's answer said so).
std::string ResumeLine(const JobView& view, size_t columns = 80);

}  // namespace drover::submit
