// JobReader: one job as /api/jobs/ID shows it, read by the HTTP threads
// from the job's files in the spool (spool.h), never from the loop's
// memory: the job file once, the event log from where the last read of it
// stopped. The loop may be appending to the log meanwhile; only whole
// records are taken, the rest waits for the next read.
//
// Keeps the few jobs read last, so a page that polls a running job costs
// the bytes the job logged since. Thread-safe: reads take turns.
#pragma once

#include <cstdint>
#include <list>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

#include "shared/job_history.h"
#include "shared/job_spec.h"
#include "shared/protocol.h"
#include "shared/status.h"

namespace drover::broker::http {

class JobReader {
 public:
  explicit JobReader(size_t keep = 8) : keep_(keep) {}

  // Job `status.id`'s JSON (api_json.h: JobJson) from its files under
  // `spool_dir`; an error says which file could not be read or decoded.
  Result<nlohmann::json> Read(const std::string& spool_dir, const JobStatus& status,
                              int64_t now_ms);

 private:
  struct Entry {
    JobId id;
    JobSpec spec;
    JobHistory history;
    uint64_t offset = 0;  // of the log: read up to here
  };
  // The entry of job `id`, first in lru_ (read in, if not kept).
  Result<Entry*> Find(const std::string& spool_dir, JobId id);
  // Applies what the log holds past entry->offset.
  Status CatchUp(const std::string& spool_dir, Entry* entry);

  std::mutex mu_;
  size_t keep_;
  std::list<Entry> lru_;  // most recently read first
};

}  // namespace drover::broker::http
