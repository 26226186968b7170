// Server: the broker's ZeroMQ shell around the Scheduler core, with its
// journal (durability) and spool (output).
//
// One ROUTER socket serves workers and clients alike. Each loop turn:
//   1. wait (zmq_poll) for messages, signals or a finished journal sync, at
//      most until the next deadline (tick, events due to followers, delayed
//      retry, journal sync);
//   2. decode each waiting message with the shared codec and hand it to one
//      Scheduler entry point (or answer it directly: hello, status, ...),
//      journaling every decision the scheduler could not take again by itself;
//   3. run one Scheduler::Schedule() pass;
//   4. write the turn's journal records, and only then send the turn's
//      messages: no dispatch, acknowledgement or reply leaves before the
//      record it depends on is written. Records are synced on the sync
//      thread within kSyncMs, or at once when a submission waits: a
//      submission is acknowledged (JobAccepted, and its client follows it)
//      only once its record is durable, in the turn after the sync ends;
//      its steps may be dispatched before that;
//   5. feed each follower the job events it has room for (once a job ends,
//      once 64 KiB wait, or at most every kEventsDelayMs), flush the spool,
//      and credit the workers for the output it now holds.
// Everything the core asks for arrives through the Outbox methods below.
//
// Peers are known by their ZeroMQ routing id after their hello; workers also
// by their instance, which survives reconnections and broker restarts. A
// message from an unknown peer gets ErrorReply{kNeedHello}; a malformed one
// gets ErrorReply{kMalformed}, one outside the peer's role (broker/core/roles.h)
// ErrorReply{kWrongRole}; either changes nothing else and is logged once per
// peer. A message over ServerOptions::max_message_bytes never arrives:
// ZeroMQ closes that peer's connection.
//
// With keys (UseKeys, docs/security.md) the ROUTER is a CURVE server: only
// keys on the key directory's allow-lists complete a handshake (ZapHandler),
// and every message is checked against the lists in force by its sender's
// key (access.h): a role the key lacks gets ErrorReply{kWrongRole}, a key
// no longer listed ErrorReply{kForbidden}. The lists are reread on SIGHUP
// and when their files change (checked every tick); peers whose key lost
// its role are dropped at once, a worker as if it had gone silent (its
// attempts follow their leases).
//
// Files (files under the state directory, docs/reliability.md): the journal
// (broker/journal.h, records in broker/recovery.h) and the spool.
//
// A full state disk (server_disk.cc, broker/core/disk_space.h) is a refusal,
// not a loss: with less than --min-free-mb free, or once a write failed for
// want of space, submissions are refused (ErrorReply{kStateDiskFull}, and
// nothing of them is kept), running steps' output is cut (spool.h), and
// snapshots wait; the jobs running go on, their records using the reserve.
// A journal write that fails even so keeps the records in memory and the
// broker running: nothing new is dispatched and no result acknowledged
// until they are written. All of it ends by itself when space returns.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>
#include <zmq.hpp>

#include "broker/alloc_driver.h"
#include "broker/core/access.h"
#include "broker/core/carry_over.h"
#include "broker/core/disk_space.h"
#include "broker/core/finished_jobs.h"
#include "broker/core/input_feed.h"
#include "broker/http/snapshot.h"
#include "broker/journal.h"
#include "broker/key_dir.h"
#include "broker/metrics.h"
#include "broker/recovery.h"
#include "broker/core/roles.h"
#include "broker/core/scheduler.h"
#include "broker/spool.h"
#include "broker/zap.h"
#include "shared/clock.h"
#include "shared/codec.h"
#include "shared/job_load.h"
#include "shared/signal_fd.h"

namespace drover::broker {

// What a SubmitJob carries besides the job file: its type, fields and key.
inline constexpr int64_t kMessageEnvelopeBytes = 1 << 20;
// A Dispatch holds tasks up to about this many bytes; more go in another
// message, so a worker's largest message is one task (its stdin) at most.
inline constexpr size_t kDispatchBatchBytes = 16 << 20;
// A JobRejected lists at most this many problems, then says how many more:
// a file with a million mistakes gets a reply of a readable size.
inline constexpr size_t kMaxProblemsReplied = 1000;

struct ServerOptions {
  std::string bind = "tcp://127.0.0.1:7700";
  uint32_t heartbeat_ms = kHeartbeatMs;
  uint32_t liveness = kHeartbeatLiveness;  // heartbeats a peer may miss
  int64_t lease_ms = 30'000;               // jobs may set their own
  // Journal size that triggers a snapshot (or four times the state it
  // would hold, if that is more: Server::SnapshotDue).
  uint64_t snapshot_bytes = 16 << 20;
  JobLimits job_limits;
  // Largest message taken from a peer (ZMQ_MAXMSGSIZE): a peer that sends
  // more is disconnected by ZeroMQ before the message is buffered. Must
  // hold a SubmitJob of job_limits.max_job_bytes (kMessageEnvelopeBytes more).
  int64_t max_message_bytes = (128 << 20) + kMessageEnvelopeBytes;
  // A connection that has not finished ZeroMQ's greeting by then is closed
  // (ZMQ_HANDSHAKE_IVL): a peer that connects and says nothing, or trickles
  // bytes, holds a file descriptor only this long.
  int handshake_ms = 10'000;
  // Automatic allocation (broker/alloc_driver.h): batch scripts and their
  // output go in alloc_dir; the workers they start run alloc_worker and
  // connect to advertise.
  std::string alloc_dir = "alloc";
  std::string alloc_worker = "worker";
  std::string advertise;  // "": bind
  bool advertise_is_loopback = false;  // its host name is this machine's loopback
  int64_t alloc_tick_ms = AllocDriver::kTickMs;
  int64_t alloc_poll_ms = AllocDriver::kPollMs;
  int64_t alloc_backoff_ms = kFailureBackoffFirstMs;
  // A job that ended is forgotten this long after (its summary, journal
  // records and spool go); 0 keeps jobs forever.
  int64_t forget_after_ms = 7 * 24 * 3600 * 1000LL;
  // The state directory, as its disk is named when it is full.
  std::string state_dir;
  // Free space kept on the state disk for the jobs accepted already (their
  // journal records, a little of their output): with less, submissions are
  // refused (broker/core/disk_space.h). 0 turns the check off.
  uint64_t min_free_bytes = uint64_t{64} << 20;
};

class Server : private Outbox {
 public:
  Server(ServerOptions options, std::unique_ptr<Spool> spool);
  ~Server() override;

  // Replays the journal in `dir`, bringing back every job it holds, and
  // keeps journaling there. Before Bind().
  Status Recover(const std::string& dir);
  // Turns keys on: CURVE with the key directory's key pair and allow-lists
  // (an error names a bad list's file and line). Before Bind().
  Status UseKeys(KeyDir keys);
  // Binds the ROUTER socket. The error names the endpoint.
  Status Bind(zmq::context_t* ctx);
  // Takes a snapshot for the dashboard (broker/http/snapshot.h) whenever
  // `board` wants one. Before Run(); `board` outlives the server.
  void ServeSnapshots(http::SnapshotBoard* board) { board_ = board; }
  // Serves until SIGINT or SIGTERM arrives on `signals`, then takes a
  // snapshot (so that the next start replays little).
  Status Run(SignalFd* signals);

 private:
  static constexpr int64_t kSyncMs = 5;  // group commit: records are durable within this
  // A snapshot is due once the journal holds --snapshot-mb and this many
  // times the state a snapshot would hold (estimated: running jobs' files,
  // plus kSnapshotBytesPerStep for each of their steps).
  static constexpr uint64_t kSnapshotGrowth = 4;
  static constexpr uint64_t kSnapshotBytesPerStep = 12;
  static constexpr uint64_t kSnapshotBytesPerFinishedJob = 64;
  static constexpr int64_t kEventsDelayMs = 5;
  static constexpr uint64_t kEventsPromptBytes = 64 << 10;

  struct Peer {
    using Role = PeerRole;
    Role role;
    std::string name;  // worker name or "user@host", for logs
    WorkerId worker;   // kWorker only
    uint64_t output_received = 0;  // TaskOutput bytes taken from this worker
    uint64_t output_credited = 0;  // ... and acknowledged with OutputCredit
    uint64_t results_seen = 0;     // highest result sequence number journaled
    uint64_t results_acked = 0;    // ... and acknowledged (ResultsAck, or in a Dispatch)
    bool reads_dispatch_acks = false;  // its hello said so
    int64_t last_heard = 0;
    bool complained = false;  // logged a bad message from it already
    std::string key = {};     // its CURVE public key (Z85); empty without keys
    uint64_t slurm_job_id = 0;  // a worker's Slurm job, as its hello said; 0: none
  };
  struct Follower {
    std::string route;
    JobId job;
    uint64_t sent = 0;   // log offset sent up to
    uint64_t acked = 0;  // log offset the client has consumed
    int64_t sent_at = 0;  // when events were last sent
    // A watch without `follow` ends here (the log's size when it came),
    // after a JobEvents that says `last`; a following one never does.
    uint64_t stop = UINT64_MAX;
  };
  // What the shell keeps of a running job besides the core's state.
  struct RunningJob {
    std::string key;          // the client's submission key ("" if none)
    uint64_t file_bytes = 0;  // its job file's size (SnapshotDue)
    int64_t submitted_ms = 0;  // Unix ms
    std::string owner = {};      // recovery.h, JobRecord
    std::string owner_key = {};
    JobId resumed_from = {};  // 0: not resumed
  };

  // Outbox
  void Dispatch(WorkerId worker, const TaskKey& key, std::optional<TaskKey> after) override;
  void Kill(WorkerId worker, const TaskKey& key) override;
  void Publish(JobId job, const Event& event) override;
  void AttemptLost(const TaskKey& key, const std::string& reason) override;
  void Retract(WorkerId worker, const TaskKey& key) override;
  void CloseOutput(WorkerId worker, const TaskKey& key) override;

  // server.cc: the loop, peers and workers.
  // `key`: the sender's public key with keys on, else empty.
  void HandleFrame(const std::string& route, std::string_view key, std::string_view frame,
                   int64_t now);
  void HandleHello(const std::string& route, std::string_view key, Message& msg, int64_t now);
  // Why a worker's `hello` is refused: `holder`, connected, has its name.
  std::string NameTakenMessage(const Worker& holder, const WorkerHello& hello, int64_t now) const;
  // `frame` is the message's bytes as received (journaled as they are).
  void HandleWorkerMessage(Peer& peer, const std::string& route, Message& msg,
                           std::string_view frame, int64_t now);
  // Logs `what` once per peer (known or not), naming it: a peer that sends
  // garbage in a loop costs one log line, not one per message.
  void Complain(const std::string& route, const std::string& what);
  void Reply(const std::string& route, const Message& msg);
  void ReplyError(const std::string& route, ErrorCode code, std::string message);
  void FlushOutgoing();
  void Tick(int64_t now);
  void ScheduleAndDispatch(int64_t now);
  void SendCredits();

  // server_inputs.cc: stdin streamed from captured stdout.
  // The sizes of the captures `step` reads (stdin_from), in order; an error
  // names the producer whose capture is lost or short.
  Result<std::vector<uint64_t>> InputSizes(const Job& job, StepIndex step);
  // The sizes of what attempt `key` on `worker` reads, in order; none if
  // it is not that worker's, reads nothing, or its input is gone (then
  // the attempt is stopped).
  std::optional<std::vector<uint64_t>> StreamedSources(WorkerId worker, const TaskKey& key);
  // A streamed stdin_from's source as it stands: its producer's attempt,
  // what its capture holds, and whether that is all of it (it succeeded);
  // none once that attempt neither runs nor succeeded (its readers are
  // withdrawn); an error if its capture is lost.
  struct StreamSource {
    TaskKey producer;
    uint64_t size = 0;
    bool complete = false;
  };
  Result<std::optional<StreamSource>> StreamState(const Job& job, StepIndex reader);
  // Brings each streamed feed's source up to date (a turn's first step).
  void GrowStreams();
  void HandleInputCredit(const Peer& peer, const InputCredit& credit);
  // server_journal.cc: a replayed result's stdout count, for the spool.
  void NoteReplayedCount(const TaskResult& result);
  // Stops attempt `key`, whose input cannot be read (`why`), for good.
  void StopForInput(WorkerId worker, const TaskKey& key, const std::string& why);
  // Reads `piece` into input_buffer_.
  Status ReadPiece(const InputPiece& piece);
  // The turn's pieces of input, read and queued to send.
  void FeedInputs();
  // How the core hears that the shell stops talking to a worker.
  enum class WorkerEnd {
    kLost,     // gone for good: its attempts are lost now, for `reason`
    kShutOut,  // its key lost the role: its attempts wait out their leases
    kGone,     // the core has let it go already
  };
  // Removes worker `id` from every index of the shell (its route, its peer)
  // after telling the core as `end` says: the one way a worker leaves.
  void ForgetWorker(WorkerId id, WorkerEnd end, std::string_view reason, int64_t now);
  void DropClient(const std::string& route);
  int64_t NextDeadline() const;

  // server_clients.cc: jobs as clients see them.
  void HandleClientMessage(Peer& peer, const std::string& route, Message& msg, int64_t now);
  void HandleSubmit(const std::string& route, SubmitJob& submit, int64_t now);
  void HandleWatch(const std::string& route, const WatchJob& watch);
  void HandleCancel(const std::string& route, const CancelJob& cancel, int64_t now);
  // Drains every worker of that name (protocol.h: DrainWorker).
  void HandleDrainWorker(const std::string& route, const DrainWorker& drain);
  // Tells worker `id` to drain (`why` for the log), unless it does already.
  void StartDraining(WorkerId id, std::string_view why);
  void HandleResume(const std::string& route, ResumeJob& resume, int64_t now);

  // server_alloc.cc: allocation queues.
  void HandleAllocRequest(const std::string& route, const AllocRequest& request, int64_t now);
  // Drains the connected workers of the queue's allocations that have not
  // ended: removed without --now, they finish their steps and leave.
  void DrainAllocated(AllocQueueId queue);
  // The turn's part of automatic allocation, after the scheduling pass
  // (the demand is what that pass could not place).
  void AllocTurn(int64_t now);
  // Appends what the alloc queues changed to the journal.
  void JournalAlloc();
  // A submission (or resumption) sent again with the same key after its
  // reply was lost: answers with the job it made. False if the key is new.
  bool AnswerRepeat(const std::string& route, const std::string& key, bool follow);
  // What `submit status` shows the client at `route`.
  // server_queries.cc: what clients ask about. Both answer `route` with
  // the jobs its key may see (MayTouch); workers are everyone's to see.
  StatusReply BuildStatus(const std::string& route, int64_t now) const;
  // Running and ended jobs, with owners and times, in no particular order.
  std::vector<JobStatus> VisibleJobs(const std::string& route) const { return JobsSeenBy(&route); }
  // The same for the client at `*route`, or every job (nullptr).
  std::vector<JobStatus> JobsSeenBy(const std::string* route) const;
  // What the dashboard shows now (board_).
  std::shared_ptr<const http::Snapshot> DashboardSnapshot(int64_t now) const;
  // Counts `event` in metrics_.
  void CountEvent(const Event& event);
  // Accepts a validated job under a new id, its record written at once;
  // JobId() if that write failed, the client told why and nothing of the
  // job kept. A resumed job (`resumed_from`) starts with the steps `carry`
  // keeps.
  JobId Accept(const std::string& route, JobSpec spec, std::string job_file, std::string key,
               bool follow, JobId resumed_from, const CarryOver* carry, int64_t now);
  // Answers a job file with problems (JobRejected), at most
  // kMaxProblemsReplied of them.
  void Reject(const std::string& route, const std::vector<Problem>& problems);
  // A resumed job's steps read the stdout of producers that succeeded in
  // job `from` (and do not run again) from there: the spool carries it over.
  void CarryCaptures(JobId from, JobId to, const JobSpec& spec, const CarryOver& carry);
  // The JobAccepted for a job, running or over (reads its file if over);
  // for a resumed job still running, with what it carried over.
  Result<JobAccepted> AcceptedFor(JobId job) const;
  // Returns when a follower next has events to send (-1: none waiting).
  int64_t PumpFollowers(int64_t now);
  // Keeps a summary of each job that ended this turn; the core forgets it.
  void RetireEndedJobs();
  // Writes the job files taken this turn (job_files_due_) to the spool.
  void WriteJobFiles();
  // Closes the spool files of an ended job nobody follows any more.
  void CloseIfUnwatched(JobId job);
  // Forgets ended job `id` (held in finished_): journaled, its followers
  // told, its spool files deleted once the record is written.
  void ForgetJob(JobId id);
  // Forgets the jobs that ended more than --forget-after ago.
  void ForgetExpired();
  void HandleForget(const std::string& route, const ForgetJobs& forget);
  // Why there is no job `id` to speak of: forgotten, or never was.
  std::string NoSuchJob(JobId id) const;

  // server_access.cc: keys.
  // Whether the sender (`key`, from the message's metadata) may send
  // `msg`; if not, answers it and drops the peer where it must. Also true
  // without keys.
  bool CheckAccess(const std::string& route, std::string_view key, const Message* msg, int64_t now);
  // Rereads the allow-lists (`why`: for the log) and drops the peers whose
  // key lost its role.
  void ReloadAccess(const char* why, int64_t now);
  // Stops listening to a peer: tells it why, forgets it.
  void ShutOut(const std::string& route, const std::string& why, int64_t now);
  // Who a client is, as the owner of what it submits: its key's name on
  // the allow-lists with keys; else the user name its hello gave.
  std::string OwnerName(const Peer& peer) const;
  // Whether the client at `route` may see and act on a job of `owner_key`:
  // always without keys, for a job without an owner key (submitted before
  // owners were recorded, or on a broker without keys), and for its owner
  // and the admins (admins.allow).
  bool MayTouch(const std::string& route, const std::string& owner_key) const;
  // "" if the client at `route` may `verb` ("watch", "cancel", ...) job
  // `id` (or there is no such job); else why not, for ErrorReply{kForbidden}.
  std::string Forbidden(const std::string& route, JobId id, const char* verb) const;

  // server_disk.cc: the state disk's free space (DiskSpace).
  // Measures it (statvfs of the journal's and the spool's directories, the
  // smaller) and acts on a change of level.
  void MeasureDisk();
  // Tells disk_ what was written since the last call; measures if due.
  void WatchDisk();
  // After a write failed: want of space makes the disk full (logged once,
  // when it becomes so); another error is logged as "`what`: message".
  void NoteWriteFailure(std::string_view what, const Status& s);
  // Why a submission whose job file has `file_bytes` cannot be taken now
  // for want of space; "" if it can.
  std::string DiskRefusal(uint64_t file_bytes);
  // "broker's state disk is full: DIR: No space left on device".
  std::string DiskFullMessage() const;
  // Retries writing the journal records a failed write left in memory;
  // Ok if none are left.
  Status CatchUpJournal();
  // A journal write failed with `s` (not for good): the records wait in
  // memory (journal_stalled_), said loudly once.
  void JournalStalled(const Status& s);
  // They are written: said once, if they had waited.
  void JournalWrittenAgain();

  // server_journal.cc: durability.
  // Appends `record` (one of Record's alternatives) to the journal.
  template <typename T>
  void Journal(const T& record) {
    AppendRecord([&record](std::string* out) { EncodeRecordOf(record, out); });
  }
  // The same for a record that `encode(std::string* out)` appends to *out;
  // nothing while replaying. The dispatch records gathered so far go first.
  template <typename Encode>
  void AppendRecord(Encode&& encode) {
    if (replaying_) return;
    if (!dispatch_records_.empty()) JournalDispatches();
    journal_->AppendEncoded(std::forward<Encode>(encode));
  }
  // Appends the dispatch records gathered so far (dispatch_records_), if any.
  void JournalDispatches();
  // The number by which this journal file's records refer to worker `w`,
  // journaling a WorkerRecord first if it has none yet.
  uint32_t JournalWorker(const Worker& w);
  Status ApplyRecord(const Record& record, int64_t now);
  // Replay's RestoreJobFile: a file it cannot write yet is written later.
  void RestoreJobFile(JobId job, const std::string& file);
  // A job whose records cannot be applied (its file no longer loads, its
  // state is damaged): marked failed with `why`, loudly, so that one bad
  // record costs one job, not the broker. Returns Ok, for replay to go on.
  Status Unreplayable(JobId job, const std::string& key, const std::string& why);
  // Writes the turn's records, syncing them if due; false if the journal
  // failed (the broker must stop: it could not keep its promise).
  bool WriteJournal(int64_t now);
  // Acknowledges the submissions whose records are durable now.
  void ReleaseAcks();
  bool SnapshotDue() const;
  Status TakeSnapshot();
  // On SIGTERM or SIGINT: writes what is left and takes a snapshot. An
  // error only if records the journal holds in memory are lost.
  Status Stop();

  ServerOptions options_;
  DiskSpace disk_;
  std::unique_ptr<Spool> spool_;
  Scheduler scheduler_;
  AllocDriver alloc_;
  std::unique_ptr<broker::Journal> journal_;
  std::unique_ptr<zmq::socket_t> router_;
  std::optional<KeyDir> keys_;                       // set: CURVE on
  AccessLists access_;                               // the allow-lists in force
  std::unique_ptr<ZapHandler> zap_;                  // with keys
  std::unordered_set<std::string> refusals_logged_;  // keys; cleared on reload
  bool replaying_ = false;

  std::unordered_map<std::string, Peer> peers_;  // by routing id
  std::unordered_set<std::string> complained_unknown_;  // peers without a hello we logged
  std::unordered_map<WorkerId, std::string> worker_routes_;
  std::vector<Follower> followers_;
  FinishedJobs finished_;
  std::unordered_map<std::string, JobId> submission_keys_;
  std::unordered_map<JobId, RunningJob> running_;
  uint64_t next_job_ = 1;
  int64_t next_tick_ = 0;
  int64_t next_pump_ = -1;  // when followers next have events due
  int64_t sync_due_ = -1;   // when the written journal must be synced
  bool trim_due_ = false;   // a large graph was taken this turn (malloc_trim)
  std::string journal_dir_;
  bool journal_stalled_ = false;   // records a failed write left in memory
  uint64_t disk_written_ = 0;      // journal and spool bytes told to disk_
  uint64_t snapshot_after_ = 0;    // a failed snapshot: not again before this journal size
  // Worker numbers of the current journal file (recovery.h, WorkerRecord):
  // cleared when a snapshot starts a new file, and for one worker when it
  // says hello again (its name may have changed). Indexed by WorkerId
  // (ids count up from 1), 0 where none: looked up for every dispatch.
  std::vector<uint32_t> journal_workers_;
  // Dispatches decided but not yet appended to the journal, one record per
  // worker (recovery.h, DispatchesRecord). Appended before any other record
  // and before the turn's records are written, so that nothing that could
  // depend on a dispatch comes before it, and nothing is sent before its
  // record. dispatch_record_of_ is by WorkerId: index + 1, 0 if none.
  std::vector<std::pair<WorkerId, DispatchesRecord>> dispatch_records_;
  std::vector<uint32_t> dispatch_record_of_;
  uint32_t next_worker_number_ = 1;
  // While replaying: what the numbers read so far stand for.
  std::unordered_map<uint32_t, std::pair<std::string, std::string>> replay_workers_;
  struct Counters {
    uint64_t turns = 0, received = 0, sent = 0;
  } counters_;  // logged at shutdown: what a turn costs is in these
  BrokerMetrics metrics_;  // for /metrics
  const int64_t started_ms_ = WallMs();  // Unix ms
  http::SnapshotBoard* board_ = nullptr;  // with the dashboard on

  // Filled during a turn, dealt with at its end.
  std::vector<std::pair<std::string, std::string>> outgoing_;  // (route, encoded message)
  std::unordered_map<WorkerId, std::vector<TaskRef>> pending_dispatch_;
  // Attempts to ask back, by worker: one Retract each, after its Dispatch.
  std::unordered_map<WorkerId, std::vector<TaskKey>> pending_retract_;
  // Stdouts to close (streams), after the turn's dispatches: a producer's
  // Dispatch and its close may come from one turn, and must arrive in order.
  std::vector<std::pair<WorkerId, TaskKey>> pending_close_;
  std::deque<std::string> stdin_read_;  // stdin_from bytes the pending dispatches view
  std::deque<StepSpec> rendered_;       // array elements the pending dispatches point at
  InputFeeds inputs_;         // streamed stdin of running attempts
  std::set<TaskKey> inputs_refused_;  // stopped for their input: no feed again
  std::map<TaskKey, TaskKey> streams_;  // feeds of streamed readers: their producer's attempt
  std::string input_buffer_;  // one piece of it, read from the spool
  // Attempts that failed before reaching a worker (e.g. stdin_from too big).
  std::vector<std::pair<WorkerId, TaskResult>> failed_before_start_;
  // Submissions waiting for their JobRecord (number `record`) to be durable
  // before they are acknowledged, and their client follows the job.
  struct PendingAck {
    uint64_t record;
    std::string route;
    JobAccepted reply;
    bool follow;
    bool big;  // a large graph: trim the heap once the reply is sent (trim_due_)
  };
  std::vector<PendingAck> pending_acks_;
  // Job files taken this turn, written to the spool once its messages have
  // left (the journal already holds them).
  std::vector<std::pair<JobId, std::string>> job_files_due_;
  std::vector<std::string> gone_clients_;  // sends to them failed this turn
  std::vector<std::string> credit_due_;    // workers owed an OutputCredit
  std::vector<std::string> acks_due_;      // workers with results not yet acknowledged
  std::vector<JobId> ended_jobs_;          // ended this turn
  // Forgotten this turn: their spool files go once the journal says so
  // (a crash before that replays them, and they are forgotten again).
  std::vector<std::pair<JobId, std::vector<uint32_t>>> spool_forget_due_;
  std::string read_scratch_;               // event log bytes read from disk
};

}  // namespace drover::broker
