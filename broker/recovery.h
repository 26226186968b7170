// What the broker writes in its journal (broker/journal.h), and the state it
// rebuilds from it after a restart. docs/reliability.md is the prose version.
//
// The journal records decisions, not effects: each record is something the
// scheduler cannot work out again by itself, because it depended on timing,
// connections or placement. Replaying them in order through the scheduler
// (in replay mode: no new decisions are taken) gives back the state it had.
//
//   JobRecord       a job was accepted: its id, the client's key, the job file
//                   and, for a resumed job, the steps that start succeeded
//                   (and, from an edited file, which old step each was).
//   WorkerRecord    a worker's instance and name, and the number by which
//                   the dispatch and result records after it in the same
//                   journal file refer to it: written before the first
//                   such record, so that each step's two records carry a
//                   small number instead of 40-odd bytes of identity.
//   DispatchesRecord  attempts went to a worker in one turn, some possibly
//                   to follow another (one DispatchRecord each, written as
//                   one record per worker: two records a step cost a third
//                   of a broker doing nothing else).
//   ResultsRecord   a worker's TaskResults message, its bytes as received:
//                   journaled without decoding and encoding it again.
//   DispatchRecord  one attempt went to a worker (older brokers; still read).
//   ResultRecord    a worker reported an attempt's end (older brokers, and
//                   results the broker makes itself: a step that could not
//                   be sent).
//   LostRecord      an attempt was given up (lease run out, worker gone).
//   CancelRecord    a job was cancelled on request (with its cleanup steps
//                   still to run, or not).
//   FinishedRecord  a job that is over: what status, --watch and --resume
//                   need of it once its state is dropped.
//   RunningRecord   a running job with every step's state (snapshots only).
//   NextJobRecord   the next job id (snapshots only: ids are never reused).
//   ForgetRecord    a job that had ended was forgotten (broker --forget-after,
//                   submit forget): its summary and spool are gone.
//
// Order of truth: a record is appended before the decision's effects leave
// the broker (dispatches, result acknowledgements), and a submission is
// acknowledged only after its record is synced to disk.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "shared/codec.h"
#include "shared/protocol.h"

namespace drover::broker {

enum class RecordType : uint8_t {
  kJob = 1,
  kDispatch = 2,
  kResult = 3,
  kLost = 4,
  kCancel = 5,
  kFinished = 6,
  kRunning = 7,
  kNextJob = 8,
  kWorker = 9,
  kDispatches = 10,
  kResults = 11,
  kForget = 12,
};

struct JobRecord {
  static constexpr RecordType kType = RecordType::kJob;
  JobId job;
  std::string key;  // the client's submission key ("" if none)
  Blob job_file;    // MessagePack, as submitted
  JobId resumed_from;
  std::vector<uint32_t> succeeded;  // steps that start succeeded (resumed jobs)
  int64_t submitted_ms = 0;         // Unix ms (0 in records of older brokers)
  // Who submitted it: with keys, the key and its name on the allow-list;
  // without, the user name submit gave (owner_key "": a claim, unverified).
  std::string owner = {};
  std::string owner_key = {};
  // Resumed with an edited file: the step of `resumed_from` each of
  // `succeeded` carries over (parallel to it). Empty: the same indexes.
  std::vector<uint32_t> carried_from = {};
  MSGPACK_DEFINE(job, key, job_file, resumed_from, succeeded, submitted_ms, owner, owner_key,
                 carried_from)
};

// Worker numbers are never reused while a journal file may still be read:
// they count up over the broker's life and, after a restart, from the
// highest one replayed.
struct WorkerRecord {
  static constexpr RecordType kType = RecordType::kWorker;
  uint32_t number = 0;  // 1 and up
  std::string instance;
  std::string name;  // shown until the worker says hello again
  MSGPACK_DEFINE(number, instance, name)
};

// The worker is `worker_number` (a WorkerRecord earlier in the same file).
// Records written before worker numbers existed name it inline instead
// (`instance`, `worker`) and have no number (0); both are read.
struct DispatchRecord {
  static constexpr RecordType kType = RecordType::kDispatch;
  TaskKey key;
  std::string instance;  // inline identity: old records only
  std::string worker;
  Attempt after_attempt;  // 0 unless it follows step after_step
  StepIndex after_step;
  uint32_t worker_number = 0;
  MSGPACK_DEFINE(key, instance, worker, after_attempt, after_step, worker_number)
};

struct ResultRecord {
  static constexpr RecordType kType = RecordType::kResult;
  std::string instance;  // inline identity: old records only
  TaskResult result;
  uint32_t worker_number = 0;
  MSGPACK_DEFINE(instance, result, worker_number)
};

// One attempt of a DispatchesRecord: `key`, following attempt
// `after_attempt` of step `after_step` of the same job if after_attempt > 0.
struct DispatchEntry {
  TaskKey key;
  StepIndex after_step;
  Attempt after_attempt;
  MSGPACK_DEFINE(key.job, key.step, key.attempt, after_step, after_attempt)
};

// The worker is `worker_number`, as in DispatchRecord. The entries are in
// the order they were decided; entries for other workers decided in between
// are in other records, which is harmless: no record that depends on the
// order (a result, a loss, a cancellation) is written between a dispatch
// and its record.
struct DispatchesRecord {
  static constexpr RecordType kType = RecordType::kDispatches;
  uint32_t worker_number = 0;
  std::vector<DispatchEntry> entries;
  MSGPACK_DEFINE(worker_number, entries)
};

// `message` is a whole TaskResults message (shared/protocol.h) from worker
// `worker_number`; every result in it was applied, in order.
struct ResultsRecord {
  static constexpr RecordType kType = RecordType::kResults;
  uint32_t worker_number = 0;
  Blob message;
  MSGPACK_DEFINE(worker_number, message)
};

struct LostRecord {
  static constexpr RecordType kType = RecordType::kLost;
  TaskKey key;
  std::string reason;
  MSGPACK_DEFINE(key, reason)
};

// `cleanup`: its cleanup steps still run (a CancelJob without `now`). False
// in the records of brokers from before cleanup steps ran on a
// cancellation, which is what those brokers did.
struct CancelRecord {
  static constexpr RecordType kType = RecordType::kCancel;
  JobId job;
  bool cleanup = false;
  MSGPACK_DEFINE(job, cleanup)
};

struct FinishedRecord {
  static constexpr RecordType kType = RecordType::kFinished;
  JobId job;
  std::string key;  // the client's submission key, still answered
  std::string name;
  JobState state = JobState::kSucceeded;
  std::vector<uint32_t> counts;  // steps in each StepState
  Blob succeeded;                // one bit per step (bit i of byte i/8): 1 if it succeeded
  // Why it failed when that is no step's doing: it could not be replayed.
  std::string reason = {};
  int64_t submitted_ms = 0;  // Unix ms; 0: not known (older brokers' records)
  int64_t ended_ms = 0;      // Unix ms; 0: not known (kept from replay on)
  std::vector<uint32_t> captured = {};  // steps whose stdout the spool holds
  std::string owner = {};               // as in JobRecord
  std::string owner_key = {};
  MSGPACK_DEFINE(job, key, name, state, counts, succeeded, reason, submitted_ms, ended_ms, captured,
                 owner, owner_key)
};

// A running job and its steps, the steps as parallel arrays (a million
// steps stay compact).
struct RunningRecord {
  static constexpr RecordType kType = RecordType::kRunning;
  JobId job;
  std::string key;
  Blob job_file;
  Blob states;                      // one StepState byte per step
  std::vector<uint32_t> attempts;
  std::vector<uint32_t> failures;
  std::vector<uint32_t> losses;
  std::vector<uint32_t> workers;    // running steps: index into `instances`, else 0
  std::vector<std::string> instances;  // [0] is "" (no worker)
  std::vector<std::string> names;      // worker names, parallel to instances
  std::vector<uint32_t> conditional;  // steps following another
  bool cancelled = false;
  bool aborted = false;
  std::string cancel_reason;
  int64_t submitted_ms = 0;
  std::string owner = {};  // as in JobRecord
  std::string owner_key = {};
  // Cancelled, with its cleanup steps still to run (false in older
  // brokers' snapshots, which ran none).
  bool cleanup = false;
  JobId resumed_from = {};  // as in JobRecord
  MSGPACK_DEFINE(job, key, job_file, states, attempts, failures, losses, workers, instances, names,
                 conditional, cancelled, aborted, cancel_reason, submitted_ms, owner, owner_key,
                 cleanup, resumed_from)
};

// The next job id to hand out (snapshots: ids are never reused).
struct NextJobRecord {
  static constexpr RecordType kType = RecordType::kNextJob;
  uint64_t next_job = 1;
  MSGPACK_DEFINE(next_job)
};

// The job had ended and is forgotten. Its id is not handed out again.
struct ForgetRecord {
  static constexpr RecordType kType = RecordType::kForget;
  JobId job;
  MSGPACK_DEFINE(job)
};

using Record = std::variant<JobRecord, DispatchRecord, ResultRecord, LostRecord, CancelRecord,
                            FinishedRecord, RunningRecord, NextJobRecord, WorkerRecord,
                            DispatchesRecord, ResultsRecord, ForgetRecord>;

void EncodeRecord(const Record& record, std::string* out);
// The same for one alternative of Record, without making a Record of it
// first (a copy: of a whole job file, for a JobRecord).
template <typename T>
void EncodeRecordOf(const T& record, std::string* out);
// EncodeRecordOf(ResultsRecord{worker_number, Blob{message}}) without
// copying `message` into a Blob first.
void EncodeResultsRecord(uint32_t worker_number, std::string_view message, std::string* out);
Result<Record> DecodeRecord(std::string_view bytes);

}  // namespace drover::broker

