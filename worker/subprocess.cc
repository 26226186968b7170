#include "worker/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "shared/clock.h"

namespace drover::worker {

struct ProcessSet::Process {
  Id id = 0;
  pid_t pid = -1;  // also the id of its process group
  int stdin_fd = -1;
  int out_fd[2] = {-1, -1};  // indexed by Stream
  // Our copies of the write ends of out_fd, kept until the leader is reaped
  // (see Spawn).
  int out_write_fd[2] = {-1, -1};
  std::string stdin_data;  // what is queued for stdin, from stdin_written on
  size_t stdin_written = 0;
  bool stdin_streamed = false;  // fed by FeedStdin until EndStdin
  bool stdin_ended = false;     // streamed: EndStdin came, close once written
  uint64_t stdin_total = 0;     // streamed: bytes written to the child
  Time timeout_at = -1;      // when to Terminate(kTimedOut); -1: never
  Time kill_at = -1;         // when SIGTERM's grace runs out; -1: no SIGTERM pending
  Time linger_until = -1;    // reaped but a pipe is still open: when to abandon it
  bool terminating = false;  // Drover asked it to stop, for the reason `why`
  Outcome why = Outcome::kKilled;
  bool reaped = false;
  RunResult run;
};

namespace {

// What execvp uses when the environment has no PATH.
constexpr std::string_view kDefaultPath = "/usr/local/bin:/usr/bin:/bin";

std::string Quoted(std::string_view s) {
  std::string q = "\"";
  q += s;
  q += '"';
  return q;
}

std::string_view PathOf(const std::vector<std::string>& env) {
  for (const std::string& var : env) {
    if (var.starts_with("PATH=")) return std::string_view(var).substr(5);
  }
  return kDefaultPath;
}

// Bytes waiting to be read in pipe `fd` (0 for a closed fd).
int BufferedBytes(int fd) {
  int n = 0;
  if (fd < 0 || ioctl(fd, FIONREAD, &n) != 0) return 0;
  return n;
}

int64_t Microseconds(const timeval& tv) { return int64_t{tv.tv_sec} * 1'000'000 + tv.tv_usec; }

// 0 if `program` (after a chdir to `cwd`) is an executable file, else the
// errno that exec would fail with.
int CheckExecutable(const std::string& program, const std::string& cwd) {
  const std::string path = program[0] == '/' || cwd.empty() ? program : cwd + "/" + program;
  struct stat st;
  if (stat(path.c_str(), &st) != 0) return errno;
  if (!S_ISREG(st.st_mode)) return EACCES;
  if (access(path.c_str(), X_OK) != 0) return errno;
  return 0;
}


}  // namespace

// The search is done here so the error can name the PATH searched. As with
// execvp, a match that is not executable makes "Permission denied" if
// nothing better follows. (Under valgrind, which turns the clone into a
// fork, a program named with a '/' that cannot run makes the child exit 127.)
Result<std::string> FindProgram(const std::string& name, const std::vector<std::string>& env,
                                const std::string& cwd) {
  if (name.find('/') != std::string::npos) return name;
  const std::string_view path = PathOf(env);
  bool denied = false;
  size_t begin = 0;
  for (;;) {
    const size_t end = path.find(':', begin);
    std::string_view dir = path.substr(begin, end == std::string_view::npos ? end : end - begin);
    if (dir.empty()) dir = ".";  // POSIX: an empty entry is the current directory
    std::string candidate(dir);
    candidate += '/';
    candidate += name;
    const int err = CheckExecutable(candidate, cwd);
    if (err == 0) return candidate;
    if (err == EACCES) denied = true;
    if (end == std::string_view::npos) break;
    begin = end + 1;
  }
  if (denied) return ErrnoStatus("cannot run " + Quoted(name), EACCES);
  return Status::Error("cannot run " + Quoted(name) + ": not found on PATH (" + std::string(path) +
                       ")");
}

ProcessSet::ProcessSet(ProcessObserver* observer, const sigset_t& child_sigmask,
                       int64_t kill_grace_ms)
    : observer_(observer),
      starter_(child_sigmask),
      kill_grace_ms_(kill_grace_ms),
      chunk_(kOutputChunkBytes) {}

ProcessSet::~ProcessSet() {
  for (auto& [id, p] : processes_) {
    if (!p->reaped) kill(-p->pid, SIGKILL);
    for (int fd :
         {p->stdin_fd, p->out_fd[0], p->out_fd[1], p->out_write_fd[0], p->out_write_fd[1]}) {
      if (fd >= 0) close(fd);
    }
  }
  // Blocking is fine now: every leader left was just sent SIGKILL.
  for (auto& [id, p] : processes_) {
    if (p->reaped) continue;
    while (wait4(p->pid, nullptr, 0, nullptr) < 0 && errno == EINTR) {
    }
  }
}

Result<ProcessSet::Id> ProcessSet::Spawn(const SpawnSpec& spec, Time now) {
  if (spec.argv.empty() || spec.argv[0].empty()) {
    return Status::Error("cannot run an empty command");
  }
  const std::string& name = spec.argv[0];
  // Checked here because a bad cwd would otherwise look like a bad program.
  if (!spec.cwd.empty()) {
    struct stat st;
    if (stat(spec.cwd.c_str(), &st) != 0) {
      return ErrnoStatus("cannot use directory " + Quoted(spec.cwd), errno);
    }
    if (!S_ISDIR(st.st_mode)) {
      return ErrnoStatus("cannot use directory " + Quoted(spec.cwd), ENOTDIR);
    }
  }
  Result<std::string> program = spec.program.empty() ? FindProgram(name, spec.env, spec.cwd)
                                                     : Result<std::string>(spec.program);
  if (!program.ok()) return program.status();

  // [stdin, stdout, stderr][read end, write end]
  int pipes[3][2] = {{-1, -1}, {-1, -1}, {-1, -1}};
  auto close_pipes = [&pipes] {
    for (auto& pipe : pipes) {
      for (int& fd : pipe) {
        if (fd >= 0) close(fd);
        fd = -1;
      }
    }
  };
  for (auto& pipe : pipes) {
    if (&pipe == &pipes[0] && spec.stdin_data.empty() && !spec.stdin_stream) continue;
    if (pipe2(pipe, O_CLOEXEC) != 0) {
      const int err = errno;
      close_pipes();
      return ErrnoStatus("cannot run " + Quoted(name) + ": pipe", err);
    }
  }
  // Only our ends are non-blocking: most programs expect blocking stdio.
  for (int fd : {pipes[0][1], pipes[1][0], pipes[2][0]}) {
    if (fd >= 0) fcntl(fd, F_SETFL, O_NONBLOCK);  // a new pipe has no other status flags
  }

  // Read before the child starts, as `now` was: the attempt's time and its
  // timeout count from the same moment. (After the child starts, the reading could
  // come late by however long the worker waited for a CPU once the child
  // had exec'd, and a step killed at its timeout would seem to have run less.)
  const Time started_ms = WallMs();
  pid_t pid = -1;
  const int err = starter_.Start(*program, spec.argv, spec.env, spec.cwd,
                                 {pipes[0][0], pipes[1][1], pipes[2][1]}, &pid);
  if (pipes[0][0] >= 0) close(pipes[0][0]);
  pipes[0][0] = -1;
  if (err != 0) {
    close_pipes();
    return ErrnoStatus("cannot run " + Quoted(name), err);
  }

  auto owned = std::make_unique<Process>();
  Process* p = owned.get();
  p->id = next_id_++;
  p->pid = pid;
  p->stdin_fd = pipes[0][1];
  p->out_fd[static_cast<int>(Stream::kStdout)] = pipes[1][0];
  p->out_fd[static_cast<int>(Stream::kStderr)] = pipes[2][0];
  // The write ends stay open here while the leader runs, so that its exit
  // (which closes its copies) does not make the pipes readable: the worker
  // then wakes once per exit, on SIGCHLD, instead of up to three times
  // (each pipe's EOF, then the signal), each time taking the CPU from the
  // child that is still exiting. They are closed when the leader is reaped.
  p->out_write_fd[static_cast<int>(Stream::kStdout)] = pipes[1][1];
  p->out_write_fd[static_cast<int>(Stream::kStderr)] = pipes[2][1];
  p->stdin_data = spec.stdin_data;
  p->stdin_streamed = spec.stdin_stream;
  if (spec.timeout_ms > 0) p->timeout_at = now + spec.timeout_ms;
  p->run.started_ms = started_ms;
  processes_.emplace(p->id, std::move(owned));
  pid_owner_.emplace(pid, p->id);
  for (int fd : {p->stdin_fd, p->out_fd[0], p->out_fd[1]}) {
    if (fd >= 0) fd_owner_.emplace(fd, p->id);
  }
  return p->id;
}

void ProcessSet::CollectPollFds(bool want_output, std::vector<PollFd>* out) const {
  for (const auto& [id, p] : processes_) {
    // A streamed stdin with nothing queued would be writable at once, and
    // poll would never sleep.
    if (p->stdin_fd >= 0 && p->stdin_written < p->stdin_data.size()) {
      out->push_back({p->stdin_fd, POLLOUT});
    }
    if (!want_output) continue;
    for (int fd : p->out_fd) {
      if (fd >= 0) out->push_back({fd, POLLIN});
    }
  }
}

void ProcessSet::HandleReady(int fd, short revents, Time now) {
  auto it = fd_owner_.find(fd);
  if (it == fd_owner_.end()) return;
  Process* p = Find(it->second);
  // Readiness may be stale (the fd was closed and reused within one loop
  // turn); that costs one EAGAIN, since every fd of ours is non-blocking.
  if (fd == p->stdin_fd) {
    if (revents & (POLLOUT | POLLERR | POLLHUP)) WriteStdin(p);
    return;
  }
  if (revents & (POLLIN | POLLERR | POLLHUP)) {
    ReadOutput(p, fd == p->out_fd[0] ? Stream::kStdout : Stream::kStderr, now);
  }
}

void ProcessSet::ReapExited(Time now) {
  // Each of our leaders by pid, never waitpid(-1): other code in the worker
  // may have children of its own. A copy, since OnExit may Spawn.
  std::vector<Id> running;
  running.reserve(pid_owner_.size());
  for (const auto& [pid, id] : pid_owner_) running.push_back(id);
  for (Id id : running) {
    Process* p = Find(id);
    if (p != nullptr && !p->reaped) TryReap(p, now);
  }
}

void ProcessSet::OnTick(Time now) {
  for (Id id : Ids()) {
    Process* p = Find(id);
    if (p == nullptr) continue;  // finished by an earlier callback
    if (p->timeout_at >= 0 && now >= p->timeout_at) Terminate(id, Outcome::kTimedOut, now);
    if (p->kill_at >= 0 && now >= p->kill_at) {
      p->kill_at = -1;
      kill(-p->pid, SIGKILL);
    }
    if (p->linger_until >= 0 && now >= p->linger_until) {
      // Whoever holds these pipes left the process group; stop waiting for
      // them. But output already in a pipe is never dropped: the loop may be
      // pushing back (not reading), so wait for it to be read first.
      if (BufferedBytes(p->out_fd[0]) + BufferedBytes(p->out_fd[1]) > 0) {
        p->linger_until = now + kPipeLingerMs;
        continue;
      }
      CloseFd(&p->out_fd[0]);
      CloseFd(&p->out_fd[1]);
      MaybeFinish(p, now);
    }
  }
}

Time ProcessSet::NextDeadline() const {
  Time next = -1;
  for (const auto& [id, p] : processes_) {
    for (Time t : {p->timeout_at, p->kill_at, p->linger_until}) {
      if (t >= 0 && (next < 0 || t < next)) next = t;
    }
  }
  return next;
}

void ProcessSet::CloseOutput(Id id, Stream stream, Time now) {
  Process* p = Find(id);
  if (p == nullptr) return;
  CloseFd(&p->out_fd[static_cast<int>(stream)]);
  // Finished, if it was, at the next OnTick, never here: a caller inside an
  // observer callback may still hold `p` (as Terminate does).
  if (p->reaped && p->out_fd[0] < 0 && p->out_fd[1] < 0) p->linger_until = now;
}

void ProcessSet::Terminate(Id id, Outcome why, Time now, int64_t grace_ms) {
  Process* p = Find(id);
  if (p == nullptr) return;
  if (p->reaped) {
    // It exited by itself; only escaped descendants keep it alive. Let the
    // next OnTick abandon their pipes rather than finish from in here, where
    // an observer callback may have called us.
    if (p->linger_until >= 0) p->linger_until = now;
    return;
  }
  const Time kill_at = now + (grace_ms >= 0 ? grace_ms : kill_grace_ms_);
  if (p->terminating) {
    if (p->kill_at >= 0 && kill_at < p->kill_at) p->kill_at = kill_at;
    return;
  }
  p->terminating = true;
  p->why = why;
  p->timeout_at = -1;
  p->kill_at = kill_at;
  kill(-p->pid, SIGTERM);
}

size_t ProcessSet::size() const { return processes_.size(); }

ProcessSet::Process* ProcessSet::Find(Id id) {
  auto it = processes_.find(id);
  return it == processes_.end() ? nullptr : it->second.get();
}

std::vector<ProcessSet::Id> ProcessSet::Ids() const {
  std::vector<Id> ids;
  ids.reserve(processes_.size());
  for (const auto& [id, p] : processes_) ids.push_back(id);
  return ids;
}

void ProcessSet::WriteStdin(Process* p) {
  const uint64_t before = p->stdin_total;
  bool refused = false;  // EPIPE: the child closed its stdin and wants no more
  while (p->stdin_written < p->stdin_data.size()) {
    const ssize_t n = write(p->stdin_fd, p->stdin_data.data() + p->stdin_written,
                            p->stdin_data.size() - p->stdin_written);
    if (n > 0) {
      p->stdin_written += static_cast<size_t>(n);
      p->stdin_total += static_cast<uint64_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      break;  // the pipe is full; POLLOUT will tell when it drains
    } else {
      refused = true;
      break;
    }
  }
  const bool all_written = p->stdin_written == p->stdin_data.size();
  if (!p->stdin_streamed) {
    if (!all_written && !refused) return;
    CloseFd(&p->stdin_fd);  // EOF tells the child it has everything
    std::string().swap(p->stdin_data);
    return;
  }
  if (all_written) {
    p->stdin_data.clear();
    p->stdin_written = 0;
  }
  const Id id = p->id;
  if (refused) {
    CloseFd(&p->stdin_fd);
    std::string().swap(p->stdin_data);
    p->stdin_written = 0;
    observer_->OnStdinClosed(id);
    return;
  }
  if (all_written && p->stdin_ended) CloseFd(&p->stdin_fd);
  if (p->stdin_total != before) observer_->OnStdinWritten(id, p->stdin_total);
}

bool ProcessSet::FeedStdin(Id id, std::string_view data) {
  Process* p = Find(id);
  if (p == nullptr || !p->stdin_streamed || p->stdin_fd < 0 || p->stdin_ended) return false;
  // What was written leaves the queue once it is half of it: memory stays
  // about what the caller lets be queued, and few bytes move.
  if (p->stdin_written > 0 && p->stdin_written >= p->stdin_data.size() / 2) {
    p->stdin_data.erase(0, p->stdin_written);
    p->stdin_written = 0;
  }
  // Written when poll says the pipe takes it, not here: the observer is
  // called only from the loop's own calls, never from inside its own.
  p->stdin_data.append(data);
  return true;
}

void ProcessSet::EndStdin(Id id) {
  Process* p = Find(id);
  if (p == nullptr || !p->stdin_streamed || p->stdin_fd < 0) return;
  p->stdin_ended = true;
  if (p->stdin_written == p->stdin_data.size()) CloseFd(&p->stdin_fd);
}

void ProcessSet::ReadOutput(Process* p, Stream stream, Time now) {
  int* fd = &p->out_fd[static_cast<int>(stream)];
  ssize_t n;
  do {
    n = read(*fd, chunk_.data(), chunk_.size());
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    observer_->OnOutput(p->id, stream, std::string_view(chunk_.data(), static_cast<size_t>(n)));
    return;
  }
  if (n < 0 && errno == EAGAIN) return;
  CloseFd(fd);  // EOF, or an error that no later read would cure
  if (!p->reaped && p->out_fd[0] < 0 && p->out_fd[1] < 0) {
    // Both pipes closed while the leader was not yet reaped: only by read
    // errors, since our copies of the write ends keep EOF away until then.
    // Reap it if it has exited rather than wait for its SIGCHLD.
    TryReap(p, now);  // finishes it if so
    return;
  }
  MaybeFinish(p, now);
}

void ProcessSet::CloseFd(int* fd) {
  if (*fd < 0) return;
  fd_owner_.erase(*fd);
  close(*fd);
  *fd = -1;
}

void ProcessSet::TryReap(Process* p, Time now) {
  // WNOWAIT leaves the leader a zombie, and a zombie leader keeps its pgid
  // from being reused, so the group can be killed safely before the reaping.
  siginfo_t info{};
  int r;
  do {
    r = waitid(P_PID, p->pid, &info, WEXITED | WNOHANG | WNOWAIT);
  } while (r < 0 && errno == EINTR);
  if (r == 0 && info.si_pid == 0) return;  // still running

  int status = 0;
  rusage usage{};
  if (r == 0) {
    kill(-p->pid, SIGKILL);  // whatever it left running in its group
    pid_t reaped;
    do {
      reaped = wait4(p->pid, &status, 0, &usage);
    } while (reaped < 0 && errno == EINTR);
    r = reaped == p->pid ? 0 : -1;
  }
  p->run.ended_ms = WallMs();
  if (r != 0) {
    // ECHILD: someone in this process reaped our child behind our back.
    p->run.outcome = Outcome::kLost;
    p->run.error = "the process was reaped by someone else";
  } else {
    p->run.user_cpu_us = Microseconds(usage.ru_utime);
    p->run.sys_cpu_us = Microseconds(usage.ru_stime);
    p->run.max_rss_kb = usage.ru_maxrss;
    if (WIFSIGNALED(status)) {
      p->run.signal = WTERMSIG(status);
      p->run.outcome = p->terminating ? p->why : Outcome::kSignaled;
    } else {
      // A child that catches SIGTERM and exits still ran out of time.
      p->run.exit_code = WEXITSTATUS(status);
      p->run.outcome = p->terminating ? p->why : Outcome::kExited;
    }
  }
  pid_owner_.erase(p->pid);
  p->reaped = true;
  p->timeout_at = -1;
  p->kill_at = -1;
  CloseFd(&p->stdin_fd);
  std::string().swap(p->stdin_data);
  for (int& fd : p->out_write_fd) {
    close(fd);
    fd = -1;
  }
  // Its pipes most likely reached EOF with it: look now rather than in a
  // later loop turn. Only pipes with nothing buffered: reading data here
  // would go around the caller's push-back.
  for (int s = 0; s < 2; ++s) {
    int* fd = &p->out_fd[s];
    if (*fd < 0 || BufferedBytes(*fd) > 0) continue;
    ssize_t n;
    do {
      n = read(*fd, chunk_.data(), chunk_.size());
    } while (n < 0 && errno == EINTR);
    if (n > 0) {  // written between the two calls: deliver it, like any read
      observer_->OnOutput(p->id, static_cast<Stream>(s),
                          std::string_view(chunk_.data(), static_cast<size_t>(n)));
    } else if (n == 0 || errno != EAGAIN) {
      CloseFd(fd);
    }
  }
  MaybeFinish(p, now);
}

void ProcessSet::MaybeFinish(Process* p, Time now) {
  if (!p->reaped) return;
  if (p->out_fd[0] >= 0 || p->out_fd[1] >= 0) {
    if (p->linger_until < 0) p->linger_until = now + kPipeLingerMs;
    return;
  }
  const Id id = p->id;
  RunResult run = std::move(p->run);
  processes_.erase(id);  // before OnExit, which may Spawn; `p` dangles now
  observer_->OnExit(id, run);
}

}  // namespace drover::worker
