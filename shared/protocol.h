// The Drover wire protocol: every message the broker, workers and `submit`
// exchange, each defined once here. docs/protocol.md describes the flows and
// the step state machine; shared/codec.h turns these structs into bytes.
//
// Transport: one ZeroMQ ROUTER socket on the broker; each worker and each
// `submit` connects a DEALER. Every ZeroMQ message is one frame holding a
// MessagePack array [type, [field, ...]] (fields in the order of each struct's
// MSGPACK_DEFINE). Decoders accept trailing fields they do not know, so a
// field appended at the end is a compatible change; anything else bumps
// kProtocolVersion.
//
// Every connection starts with a hello (WorkerHello or ClientHello) that
// carries kProtocolVersion; the broker answers Welcome or, on a mismatch,
// ErrorReply{kVersionMismatch} and ignores the peer from then on.
//
// Flow control (why memory stays bounded whatever a step prints):
//   - A worker may have at most kOutputWindowBytes of TaskOutput data that the
//     broker has not yet credited (OutputCredit); past that it stops reading its
//     children's pipes, so a child that prints too fast blocks in write().
//   - A step's stdin streamed from another step's output (TaskInput) is
//     sent at most kInputWindowBytes past what the worker has
//     written to the child and credited (InputCredit);
//     broker/core/input_feed.h.
//   - The broker sends a follower JobEvents only while the follower has acked
//     (EventsAck) all but kEventsWindowBytes of them; the rest waits in the
//     job's event log on disk.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include "shared/alloc_params.h"
#include "shared/ids.h"
#include "shared/msgpack_adaptors.h"
#include "shared/resources.h"
#include "shared/states.h"

namespace drover {

// 2: Retract and RetractDeclined, Outcome::kRetracted; resources in
// WorkerHello, Task and WorkerStatus; the StepWaiting event.
// 3: draining (Drain, Draining, DrainWorker, DrainAccepted; `draining` and
// `time_left_ms` in WorkerHello and WorkerStatus).
// 4: allocation queues (AllocRequest, AllocReply, ErrorCode::kUnknownQueue;
// `slurm_job_id` in WorkerHello and WorkerStatus).
// 5: forgetting jobs (ForgetJobs, ForgetReply).
// 6: queries (ListJobs, JobList; `follow` in WatchJob, `last` in JobEvents;
// times in JobStatus and WorkerStatus).
// 7: streamed stdin (TaskInput, InputCredit; `stdin_stream` in Task) and
// streamed stdout (CloseOutput).
inline constexpr uint32_t kProtocolVersion = 7;

// Liveness defaults: a peer silent for kHeartbeatMs * kHeartbeatLiveness is gone.
inline constexpr uint32_t kHeartbeatMs = 1000;
inline constexpr uint32_t kHeartbeatLiveness = 5;

inline constexpr uint64_t kOutputWindowBytes = 4 << 20;
inline constexpr uint64_t kEventsWindowBytes = 4 << 20;
// A streamed stdin's window: what the broker may send past what the worker
// has written to the child. The worker credits in quarters of it.
inline constexpr uint64_t kInputWindowBytes = 2 << 20;
// A stdin_from input at most this large rides inside the dispatch; a larger
// one is streamed (TaskInput).
inline constexpr uint64_t kInlineStdinFromBytes = 1 << 20;
// Largest piece of output one TaskOutput carries.
inline constexpr size_t kOutputChunkBytes = 64 << 10;

enum class MessageType : uint8_t {
  // Any direction.
  kHeartbeat = 1,
  kErrorReply = 2,
  // Hellos and their answer.
  kWorkerHello = 10,
  kClientHello = 11,
  kWelcome = 12,
  // Broker -> worker.
  kDispatch = 20,
  kKillTask = 21,
  kOutputCredit = 22,
  kResultsAck = 23,
  kRetract = 24,
  kDrain = 25,
  kTaskInput = 26,
  kCloseOutput = 27,
  // Worker -> broker.
  kTaskOutput = 30,
  kTaskResults = 31,
  kGoodbye = 32,
  kRetractDeclined = 33,
  kDraining = 34,
  kInputCredit = 35,
  // Client (submit) -> broker.
  kSubmitJob = 40,
  kWatchJob = 41,
  kCancelJob = 42,
  kEventsAck = 43,
  kStatusRequest = 44,
  kResumeJob = 45,
  kDrainWorker = 46,
  kAllocRequest = 47,
  kForgetJobs = 48,
  // Broker -> client.
  kJobAccepted = 50,
  kJobRejected = 51,
  kJobEvents = 52,
  kStatusReply = 53,
  kCancelAccepted = 54,
  kDrainAccepted = 55,
  kAllocReply = 56,
  kForgetReply = 57,
  // Queries: client -> broker, then broker -> client.
  kListJobs = 60,
  kJobList = 61,
};

enum class ErrorCode : uint8_t {
  kVersionMismatch,  // the hello's protocol version is not ours
  kMalformed,        // undecodable, or a field out of range
  kNeedHello,        // a message from a peer the broker does not know (yet)
  kWrongRole,        // a worker message from a client, or the reverse
  kUnknownJob,       // no job with that id
  kInternal,         // the broker could not do it (its message says why)
  kForbidden,        // the sender's key is not (or no longer) allowed: keys
                     // were taken off the broker's allow-lists
  kUnknownWorker,    // no connected worker of that name
  kUnknownQueue,     // no allocation queue with that id
  kStateDiskFull,    // the broker's state disk has no room for a new job
                     // (the message names the directory); try again later
  kNameTaken,        // a worker hello under a name a connected worker has
                     // (another worker; not this one's previous run)
};
inline constexpr ErrorCode kErrorCodeMax = ErrorCode::kNameTaken;

// How one attempt ran. Times are the worker's wall clock in milliseconds
// since the Unix epoch; CPU times in microseconds; max_rss_kb as getrusage().
struct RunResult {
  Outcome outcome = Outcome::kExited;
  int32_t exit_code = 0;  // valid when outcome is kExited
  int32_t signal = 0;     // the terminating signal for kSignaled/kTimedOut/kKilled
  std::string error;      // kSpawnFailed and kLost: the reason, for people
  int64_t started_ms = 0;
  int64_t ended_ms = 0;
  int64_t user_cpu_us = 0;
  int64_t sys_cpu_us = 0;
  int64_t max_rss_kb = 0;
  // Bytes the step wrote to stdout, as its worker read them; -1 when not
  // reported (results the broker makes itself, older workers). The broker
  // checks a captured stdout against it before a step reads it. A trailing
  // field (decoders accept trailing fields): no new protocol version.
  int64_t stdout_bytes = -1;

  bool succeeded() const { return outcome == Outcome::kExited && exit_code == 0; }
  // How long it ran, never negative. The times come from a worker's clock
  // and over the wire, so they may be anything: a pair that is missing, out
  // of order or absurd counts as 0 rather than overflowing.
  int64_t duration_ms() const {
    if (started_ms <= 0 || ended_ms <= started_ms) return 0;
    return ended_ms - started_ms;  // both positive: cannot overflow
  }
  MSGPACK_DEFINE(outcome, exit_code, signal, error, started_ms, ended_ms, user_cpu_us, sys_cpu_us,
                 max_rss_kb, stdout_bytes)
};

// One attempt of one step, as a worker runs it. `cmd` steps arrive here
// already as argv {"/bin/sh", "-c", cmd}.
//
// A task with `after_attempt` set follows another attempt of the same job on
// the same worker (step `after_step`, attempt `after_attempt`): the worker
// starts it, in the slot that one frees, only if that one exits 0; otherwise
// it reports the task as kNotRun without starting it. See docs/protocol.md.
struct Task {
  TaskKey key;
  std::string step_id;  // for the child's DROVER_STEP_ID and for logs
  std::vector<std::string> argv;
  std::vector<std::pair<std::string, std::string>> env;
  std::string cwd;
  Blob stdin_data;
  uint32_t timeout_ms = 0;  // 0: none
  uint32_t slots = 1;
  StepIndex after_step;
  Attempt after_attempt;  // 0: start as soon as a slot allows
  // Cut off from the broker for this long, the worker must have stopped it:
  // by then the broker may run it elsewhere (docs/reliability.md).
  uint32_t lease_ms = 30'000;
  ResourceList resources = {};  // what it holds besides slots while it runs
  // Its stdin comes in TaskInput messages once it has started (the output
  // of steps it reads, too large to travel here); `stdin_data` is empty.
  bool stdin_stream = false;

  bool follows() const { return after_attempt.value != 0; }
  TaskKey predecessor() const { return TaskKey{key.job, after_step, after_attempt}; }
  MSGPACK_DEFINE(key.job, key.step, key.attempt, step_id, argv, env, cwd, stdin_data, timeout_ms,
                 slots, after_step, after_attempt, lease_ms, resources, stdin_stream)
};

struct TaskResult {
  TaskKey key;
  RunResult run;
  MSGPACK_DEFINE(key.job, key.step, key.attempt, run)
};

// ---- Any direction ----

struct Heartbeat {
  static constexpr MessageType kType = MessageType::kHeartbeat;
  MSGPACK_DEFINE()
};

struct ErrorReply {
  static constexpr MessageType kType = MessageType::kErrorReply;
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
  MSGPACK_DEFINE(code, message)
};

// ---- Hellos ----

struct WorkerHello {
  static constexpr MessageType kType = MessageType::kWorkerHello;
  uint32_t version = kProtocolVersion;
  std::string name;  // shown to users; defaults to the host name
  std::string host;
  uint32_t slots = 1;
  std::vector<std::string> labels;
  int32_t pid = 0;
  uint32_t prefetch = 0;  // slot units of tasks it will queue beyond `slots`
  // Made up by the worker process when it starts, kept across reconnections:
  // how the broker knows a worker coming back.
  std::string instance;
  // The instance this worker's previous run on this host had (from its state
  // directory): that one is gone, with its children.
  std::string previous_instance;
  // Attempts it still holds (running, queued, or finished with the result
  // not yet acknowledged), for the broker to reconcile when it comes back.
  std::vector<TaskKey> held;
  // It reads Dispatch.results_acked: the broker may then acknowledge results
  // there rather than in a ResultsAck of their own, one message fewer per
  // turn while steps flow. (Workers that do not say so get ResultsAck.)
  bool reads_dispatch_acks = false;
  // What it has besides slots: memory (found or declared), gpus, counters.
  ResourceList resources = {};
  // How long it has until it must stop (its time limit, less the time it
  // takes to stop its steps), as of this hello; 0: no limit.
  uint64_t time_left_ms = 0;
  // It takes no new steps: it leaves once the ones it runs are done.
  bool draining = false;
  // The Slurm job it runs in ($SLURM_JOB_ID), 0 outside one: how the broker
  // ties it to one of its allocations (AllocRequest).
  uint64_t slurm_job_id = 0;
  MSGPACK_DEFINE(version, name, host, slots, labels, pid, prefetch, instance, previous_instance,
                 held, reads_dispatch_acks, resources, time_left_ms, draining, slurm_job_id)
};

struct ClientHello {
  static constexpr MessageType kType = MessageType::kClientHello;
  uint32_t version = kProtocolVersion;
  std::string user;  // for the broker's log: "alice@host"
  MSGPACK_DEFINE(version, user)
};

struct Welcome {
  static constexpr MessageType kType = MessageType::kWelcome;
  uint32_t version = kProtocolVersion;
  WorkerId worker;  // the worker's id; 0 for clients
  uint32_t heartbeat_ms = kHeartbeatMs;
  uint32_t liveness = kHeartbeatLiveness;  // heartbeats a peer may miss
  MSGPACK_DEFINE(version, worker, heartbeat_ms, liveness)
};

// ---- Broker -> worker ----

struct Dispatch {
  static constexpr MessageType kType = MessageType::kDispatch;
  std::vector<Task> tasks;
  // As ResultsAck.through, to a worker whose hello said reads_dispatch_acks;
  // 0: nothing acknowledged here.
  uint64_t results_acked = 0;
  MSGPACK_DEFINE(tasks, results_acked)
};

struct KillTask {
  static constexpr MessageType kType = MessageType::kKillTask;
  TaskKey key;
  MSGPACK_DEFINE(key.job, key.step, key.attempt)
};

// Every reader of attempt `key`'s stdout stream is done: the worker closes
// its end of the child's stdout pipe, so that the child gets SIGPIPE (or
// EPIPE) at its next write, as in a shell pipe whose reader exited.
struct CloseOutput {
  static constexpr MessageType kType = MessageType::kCloseOutput;
  TaskKey key;
  MSGPACK_DEFINE(key.job, key.step, key.attempt)
};

// The broker has recorded the worker's results up to sequence number
// `through`; the worker may forget them.
struct ResultsAck {
  static constexpr MessageType kType = MessageType::kResultsAck;
  uint64_t through = 0;
  MSGPACK_DEFINE(through)
};

// Give back these attempts if they have not started: the broker would run
// them on a worker that has room now. Each one the worker still holds
// unstarted ends with a result of Outcome::kRetracted (sent at once); the
// others are listed in one RetractDeclined.
struct Retract {
  static constexpr MessageType kType = MessageType::kRetract;
  std::vector<TaskKey> keys;
  MSGPACK_DEFINE(keys)
};

struct OutputCredit {
  static constexpr MessageType kType = MessageType::kOutputCredit;
  uint64_t consumed = 0;  // total TaskOutput data bytes taken from this worker so far
  MSGPACK_DEFINE(consumed)
};

// Finish the running steps, take no new ones, then leave (`submit worker
// drain`). The worker gives back what it has not started (results of
// Outcome::kRetracted), answers Draining, and says Goodbye once it holds
// nothing.
struct Drain {
  static constexpr MessageType kType = MessageType::kDrain;
  MSGPACK_DEFINE()
};

// A piece of a streamed stdin (Task::stdin_stream): `data` goes at `offset`
// of the attempt's stdin; `eof`: nothing follows, close it once written.
// Sent only within the window the worker's InputCredit opens; a worker
// drops what it already has, by offset.
struct TaskInput {
  static constexpr MessageType kType = MessageType::kTaskInput;
  TaskKey key;
  uint64_t offset = 0;
  Blob data;
  bool eof = false;
  MSGPACK_DEFINE(key.job, key.step, key.attempt, offset, data, eof)
};

// ---- Worker -> broker ----

// On a streamed stdin: the child has been given `consumed` bytes, and the
// worker holds all up to `received`. The first is sent when the child
// starts (both 0), which opens the window; then as it reads. `resume`: what
// came after `received` may be lost (sent on every new connection, and on
// a gap), send from there. `closed`: the child closed its stdin (or
// ended); send no more.
struct InputCredit {
  static constexpr MessageType kType = MessageType::kInputCredit;
  TaskKey key;
  uint64_t consumed = 0;
  uint64_t received = 0;
  bool resume = false;
  bool closed = false;
  MSGPACK_DEFINE(key.job, key.step, key.attempt, consumed, received, resume, closed)
};

// `offset` is where `data` starts in the attempt's stream: a worker sends
// again what the broker may not have had when a connection broke, and the
// broker drops what it already has.
struct TaskOutput {
  static constexpr MessageType kType = MessageType::kTaskOutput;
  TaskKey key;
  Stream stream = Stream::kStdout;
  Blob data;
  uint64_t offset = 0;
  MSGPACK_DEFINE(key.job, key.step, key.attempt, stream, data, offset)
};

// Results numbered from `first_seq` on (one worker instance numbers all its
// results in one sequence, from 1); sent again until acknowledged.
struct TaskResults {
  static constexpr MessageType kType = MessageType::kTaskResults;
  std::vector<TaskResult> results;
  uint64_t first_seq = 0;
  MSGPACK_DEFINE(results, first_seq)
};

struct Goodbye {
  static constexpr MessageType kType = MessageType::kGoodbye;
  MSGPACK_DEFINE()
};

// The attempts of a Retract that the worker could not give back: they had
// started, or it no longer held them.
struct RetractDeclined {
  static constexpr MessageType kType = MessageType::kRetractDeclined;
  std::vector<TaskKey> keys;
  MSGPACK_DEFINE(keys)
};

// The worker takes no new steps from now on, and leaves once those it runs
// are done: it was asked to (Drain), or it was idle for its --idle-timeout.
// `reason` is for people ("idle for 5m"). The broker answers Drain; the
// worker leaves only after that answer, so that nothing the broker sent it
// before it knew is lost with the Goodbye.
struct Draining {
  static constexpr MessageType kType = MessageType::kDraining;
  std::string reason;
  MSGPACK_DEFINE(reason)
};

// ---- Client -> broker ----

struct SubmitJob {
  static constexpr MessageType kType = MessageType::kSubmitJob;
  Blob job;             // the job file, as MessagePack (docs/jobs.md)
  bool follow = true;   // stream the job's events back to this client
  // Made up by the client for this submission: sending it again (after a
  // lost reply) gets the same job back instead of a second one.
  std::string key;
  MSGPACK_DEFINE(job, follow, key)
};

// Follow a job from byte `offset` of its event log (0: from the start).
// Answered by JobAccepted, then JobEvents from `offset` on. With `follow`
// they go on until the job ends; without, they stop where the job's event
// log ended when the watch came (its last JobEvents says `last`), which is
// how `submit logs` and `info` read a running job as it is now.
struct WatchJob {
  static constexpr MessageType kType = MessageType::kWatchJob;
  JobId job;
  uint64_t offset = 0;
  bool follow = true;
  MSGPACK_DEFINE(job, offset, follow)
};

// Run a finished job again as a new job, keeping the steps that succeeded
// (and did the same work, after steps kept too: docs/submit.md, "Resuming
// with an edited file"). `key` as in SubmitJob.
struct ResumeJob {
  static constexpr MessageType kType = MessageType::kResumeJob;
  JobId job;
  bool follow = true;
  std::string key;
  // The job file to run, as MessagePack, when it was edited; empty: the
  // one `job` ran. Checked like SubmitJob.job (JobRejected).
  Blob job_file = {};
  MSGPACK_DEFINE(job, follow, key, job_file)
};

// Cancel a job: running steps are killed and the others never start, but
// its cleanup steps (`when: always`) still run, unless `now`: then they
// are stopped too, also when the job was cancelled before without `now`.
struct CancelJob {
  static constexpr MessageType kType = MessageType::kCancelJob;
  JobId job;
  bool now = false;
  MSGPACK_DEFINE(job, now)
};

struct EventsAck {
  static constexpr MessageType kType = MessageType::kEventsAck;
  JobId job;
  uint64_t offset = 0;  // the client has consumed the job's event log up to here
  MSGPACK_DEFINE(job, offset)
};

struct StatusRequest {
  static constexpr MessageType kType = MessageType::kStatusRequest;
  MSGPACK_DEFINE()
};

// Drain the worker of this name (Drain). Answered by DrainAccepted, or
// ErrorReply{kUnknownWorker}.
struct DrainWorker {
  static constexpr MessageType kType = MessageType::kDrainWorker;
  std::string name;
  MSGPACK_DEFINE(name)
};

// The broker's allocation queues (docs/clusters.md, "Automatic allocation").
enum class AllocOp : uint8_t {
  kAdd = 0,     // a new queue with `params`
  kList = 1,    // a line per queue
  kInfo = 2,    // `queue`, its parameters and its allocations
  kRemove = 3,  // `queue` stops asking; with `now` its allocations are cancelled
  kResume = 4,  // `queue`, paused after failures, asks again
};
inline constexpr AllocOp kAllocOpMax = AllocOp::kResume;

}  // namespace drover

DROVER_WIRE_ENUM(drover::AllocOp, drover::kAllocOpMax);

namespace drover {

// Answered by AllocReply, ErrorReply{kUnknownQueue} (no such queue) or
// ErrorReply{kMalformed} (params that CheckAllocQueueParams refuses).
struct AllocRequest {
  static constexpr MessageType kType = MessageType::kAllocRequest;
  AllocOp op = AllocOp::kList;
  uint32_t queue = 0;           // kInfo, kRemove, kResume
  AllocQueueParams params = {};  // kAdd
  bool now = false;             // kRemove
  MSGPACK_DEFINE(op, queue, params, now)
};

// Forget jobs that have ended, now rather than --forget-after after their
// end: their summaries and output go. Answered by ForgetReply.
struct ForgetJobs {
  static constexpr MessageType kType = MessageType::kForgetJobs;
  std::vector<JobId> jobs;
  MSGPACK_DEFINE(jobs)
};

// Jobs this client may see (its own, or all for an admin) that match every
// filter given, newest first: answered by JobList.
struct ListJobs {
  static constexpr MessageType kType = MessageType::kListJobs;
  std::vector<JobId> ids;          // only these; empty: any
  std::vector<JobState> states;    // in one of these states; empty: any
  std::string name_glob;           // name matches this fnmatch(3) glob; empty: any
  std::string owner;               // submitted by this owner; empty: anyone
  int64_t since_ms = 0;            // submitted at or after this wall time; 0: ever
  uint32_t limit = 0;              // at most this many, the newest; 0: all
  MSGPACK_DEFINE(ids, states, name_glob, owner, since_ms, limit)
};

// ---- Broker -> client ----

// Answers SubmitJob, ResumeJob and WatchJob. Events name steps by index
// into step_ids.
struct JobAccepted {
  static constexpr MessageType kType = MessageType::kJobAccepted;
  JobId job;
  std::string name;
  std::vector<std::string> step_ids;
  // Its cleanup steps (`when: always`), which still run if it is cancelled
  // (CancelJob), as indexes into step_ids.
  std::vector<uint32_t> cleanup_steps = {};
  // Answering ResumeJob: the job it resumes, the steps carried over from it
  // (they start out succeeded; indexes into step_ids), and the ids of that
  // job's steps the edited file no longer has. resumed_from 0: not resumed.
  // (A repeated ResumeJob answered after the broker restarted may lack
  // `dropped`.)
  JobId resumed_from = {};
  std::vector<uint32_t> carried = {};
  std::vector<std::string> dropped = {};
  MSGPACK_DEFINE(job, name, step_ids, cleanup_steps, resumed_from, carried, dropped)
};

struct JobRejected {
  static constexpr MessageType kType = MessageType::kJobRejected;
  std::vector<std::string> problems;  // "steps[3].after[0]: unknown step ..."
  MSGPACK_DEFINE(problems)
};

// A run of the job's event log: `records` is the log's bytes from `offset`
// on, whole records only (see codec.h: AppendEventRecord).
// `last`: no more will come for this watch (WatchJob without `follow`).
struct JobEvents {
  static constexpr MessageType kType = MessageType::kJobEvents;
  JobId job;
  uint64_t offset = 0;
  Blob records;
  bool last = false;
  MSGPACK_DEFINE(job, offset, records, last)
};

struct CancelAccepted {
  static constexpr MessageType kType = MessageType::kCancelAccepted;
  JobId job;
  // Its cleanup steps that still run, or will (0 after `now`).
  uint32_t cleanup_left = 0;
  MSGPACK_DEFINE(job, cleanup_left)
};

struct DrainAccepted {
  static constexpr MessageType kType = MessageType::kDrainAccepted;
  WorkerId worker;
  std::string name;
  uint32_t running = 0;  // steps assigned to it: running, or queued (given back)
  MSGPACK_DEFINE(worker, name, running)
};

// Answers AllocRequest: the queue it was about (the new one's id for kAdd)
// and what to show the user, lines of at most 80 columns.
struct AllocReply {
  static constexpr MessageType kType = MessageType::kAllocReply;
  uint32_t queue = 0;
  std::string text;
  MSGPACK_DEFINE(queue, text)
};

// Answers ForgetJobs: the jobs forgotten now (or before), and a line for
// each of the others saying why not ("job 3 is still running ...").
struct ForgetReply {
  static constexpr MessageType kType = MessageType::kForgetReply;
  std::vector<JobId> forgotten;
  std::vector<std::string> problems;
  MSGPACK_DEFINE(forgotten, problems)
};

struct WorkerStatus {
  WorkerId id;
  std::string name;
  std::string host;
  uint32_t slots = 0;
  uint32_t used = 0;
  std::vector<std::string> labels;
  // Out of touch (silent past the liveness interval) for this long; 0 while
  // in touch. Such a worker still holds its steps until their lease ends.
  int64_t silent_ms = 0;
  ResourceList resources = {};       // what it has besides slots
  ResourceList resources_used = {};  // of which held by its steps
  uint64_t time_left_ms = 0;  // until its time limit; 0: none
  bool draining = false;      // takes no new steps; leaves when done
  uint64_t slurm_job_id = 0;  // the Slurm job it runs in; 0: none
  // Wall clock, ms since the Unix epoch (the broker's): when it connected
  // (this time, after a reconnect) and when it was last heard from.
  int64_t connected_ms = 0;
  int64_t heard_ms = 0;
  MSGPACK_DEFINE(id, name, host, slots, used, labels, silent_ms, resources, resources_used,
                 time_left_ms, draining, slurm_job_id, connected_ms, heard_ms)
};

struct JobStatus {
  JobId id;
  std::string name;
  JobState state = JobState::kRunning;
  std::vector<uint32_t> counts;  // steps in each StepState, indexed by its value
  // Ready steps no connected worker could run, as StepWaiting said:
  // "big: no worker has mem 8G; largest is 4G".
  std::vector<std::string> waiting = {};
  std::string reason = {};  // why it failed, when no step did
  // Who submitted it: a key's name on a broker with keys; else the user
  // name its submit gave, which nothing checks (owner_verified false).
  std::string owner = {};
  bool owner_verified = false;
  // Wall clock, ms since the Unix epoch: when the broker accepted it, and
  // when it ended (0 while it runs). Jobs of a broker older than these
  // times may have 0 for either.
  int64_t submitted_ms = 0;
  int64_t ended_ms = 0;
  MSGPACK_DEFINE(id, name, state, counts, waiting, reason, owner, owner_verified, submitted_ms,
                 ended_ms)
};

struct StatusReply {
  static constexpr MessageType kType = MessageType::kStatusReply;
  std::vector<WorkerStatus> workers;
  std::vector<JobStatus> jobs;
  MSGPACK_DEFINE(workers, jobs)
};

// Answers ListJobs: the jobs chosen, newest first, and how many matched
// before the limit cut them.
struct JobList {
  static constexpr MessageType kType = MessageType::kJobList;
  std::vector<JobStatus> jobs;
  uint32_t matched = 0;
  MSGPACK_DEFINE(jobs, matched)
};

using Message =
    std::variant<Heartbeat, ErrorReply, WorkerHello, ClientHello, Welcome, Dispatch, KillTask,
                 OutputCredit, ResultsAck, TaskOutput, TaskResults, Goodbye, SubmitJob, WatchJob,
                 CancelJob, EventsAck, StatusRequest, ResumeJob, JobAccepted, JobRejected,
                 JobEvents, CancelAccepted, StatusReply, Retract, RetractDeclined, Drain, Draining,
                 DrainWorker, DrainAccepted, AllocRequest, AllocReply, ForgetJobs, ForgetReply,
                 ListJobs, JobList, TaskInput, InputCredit, CloseOutput>;

// ---- Job events: the records of a job's event log and of JobEvents ----

enum class EventType : uint8_t {
  kStepStarted = 1,
  kStepOutput = 2,
  kStepEnded = 3,
  kJobEnded = 4,
  kStepWaiting = 5,
};

struct StepStarted {
  static constexpr EventType kType = EventType::kStepStarted;
  StepIndex step;
  Attempt attempt;
  std::string worker;  // the worker's name
  // When the broker dispatched the attempt (or, for one following another
  // on its worker, let it start): the broker's wall clock, Unix ms. 0 in
  // logs written before it was kept. A trailing field, so a compatible
  // change (decoders accept trailing fields): no new protocol version.
  int64_t at_ms = 0;
  MSGPACK_DEFINE(step, attempt, worker, at_ms)
};

struct StepOutput {
  static constexpr EventType kType = EventType::kStepOutput;
  StepIndex step;
  Attempt attempt;
  Stream stream = Stream::kStdout;
  Blob data;
  // Where `data` starts in the attempt's stream (TaskOutput's offset), so
  // that output a worker sends again after a broker restart is kept once
  // (broker/spool.h). 0 in logs written before it was kept; a trailing
  // field, as StepStarted's at_ms.
  uint64_t offset = 0;
  MSGPACK_DEFINE(step, attempt, stream, data, offset)
};

// An attempt ended, or a step reached a final state without running. `state`
// is the step's state afterwards: kReady when it will be tried again.
struct StepEnded {
  static constexpr EventType kType = EventType::kStepEnded;
  StepIndex step;
  Attempt attempt;  // 0 when the step never ran
  StepState state = StepState::kFailed;
  std::string reason;  // why it failed, was skipped, or will be retried
  std::string worker;
  std::optional<RunResult> run;  // absent when the step never ran
  MSGPACK_DEFINE(step, attempt, state, reason, worker, run)
};

struct JobEnded {
  static constexpr EventType kType = EventType::kJobEnded;
  JobState state = JobState::kSucceeded;
  std::vector<uint32_t> counts;  // steps in each StepState, indexed by its value
  MSGPACK_DEFINE(state, counts)
};

// Ready steps that no connected worker could ever run (labels, slots or
// resources no worker has) have been waiting for a while: `step` is the
// first of them, `steps` how many ask for the same; `reason` says what is
// missing. They go on waiting (a worker that has it may join).
struct StepWaiting {
  static constexpr EventType kType = EventType::kStepWaiting;
  StepIndex step;
  uint32_t steps = 1;
  std::string reason;  // "no worker has mem 8G; the largest has 4G"
  MSGPACK_DEFINE(step, steps, reason)
};

using Event = std::variant<StepStarted, StepOutput, StepEnded, JobEnded, StepWaiting>;

}  // namespace drover

DROVER_WIRE_ENUM(drover::StepState, drover::kStepStateMax);
DROVER_WIRE_ENUM(drover::Outcome, drover::kOutcomeMax);
DROVER_WIRE_ENUM(drover::JobState, drover::kJobStateMax);
DROVER_WIRE_ENUM(drover::Stream, drover::kStreamMax);
DROVER_WIRE_ENUM(drover::ErrorCode, drover::kErrorCodeMax);
