// ProcessSet against real children: shells, pipes, signals and /proc. Each
// test drives the set from a poll loop shaped like the worker's.
#include "worker/subprocess.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "shared/clock.h"
#include "shared/signal_fd.h"

extern char** environ;

namespace drover::worker {
namespace {

using Id = ProcessSet::Id;

constexpr int64_t kGraceMs = 200;
// Generous: only there so a broken build fails instead of hanging.
constexpr int64_t kDeadlineMs = 30'000;

// SIGCHLD as an fd, as in the worker; blocked once for the whole binary.
SignalFd& ChildSignals() {
  static SignalFd fd = [] {
    signal(SIGPIPE, SIG_IGN);
    Result<SignalFd> created = SignalFd::Create({SIGCHLD});
    if (!created.ok()) {
      std::fprintf(stderr, "%s\n", created.status().message().c_str());
      std::abort();
    }
    return std::move(created).value();
  }();
  return fd;
}

struct Recorder : ProcessObserver {
  void OnOutput(Id id, Stream stream, std::string_view data) override {
    const int s = static_cast<int>(stream);
    bytes[s][id] += data.size();
    if (keep_output) text[s][id] += data;
    max_chunk = std::max(max_chunk, data.size());
  }
  void OnExit(Id id, const RunResult& run) override {
    exits[id] = run;
    ++exit_calls[id];
    if (on_exit) on_exit(id);
  }

  void OnStdinWritten(Id id, uint64_t total) override {
    CHECK(total > stdin_written[id]);
    stdin_written[id] = total;
    if (on_stdin_written) on_stdin_written(id, total);
  }
  void OnStdinClosed(Id id) override { ++stdin_closed[id]; }

  std::string Out(Id id) { return text[static_cast<int>(Stream::kStdout)][id]; }
  std::string Err(Id id) { return text[static_cast<int>(Stream::kStderr)][id]; }

  bool keep_output = true;
  std::map<Id, std::string> text[2];  // by Stream
  std::map<Id, size_t> bytes[2];
  size_t max_chunk = 0;
  std::map<Id, RunResult> exits;
  std::map<Id, int> exit_calls;
  std::function<void(Id)> on_exit;
  std::map<Id, uint64_t> stdin_written;
  std::map<Id, int> stdin_closed;
  std::function<void(Id, uint64_t)> on_stdin_written;
};

// One loop turn after another, like the worker's, until `done()` or the
// deadline; false on the deadline.
bool RunUntil(ProcessSet& set, const std::function<bool()>& done, bool want_output = true,
              int64_t timeout_ms = kDeadlineMs) {
  SignalFd& signals = ChildSignals();
  const int64_t deadline = MonotonicMs() + timeout_ms;
  while (!done()) {
    const int64_t now = MonotonicMs();
    if (now >= deadline) return false;
    std::vector<PollFd> fds;
    set.CollectPollFds(want_output, &fds);
    std::vector<pollfd> polled = {{signals.fd(), POLLIN, 0}};
    for (const PollFd& f : fds) polled.push_back({f.fd, f.events, 0});
    int64_t wait = deadline - now;
    if (const Time next = set.NextDeadline(); next >= 0)
      wait = std::clamp<int64_t>(next - now, 0, wait);
    if (poll(polled.data(), polled.size(), static_cast<int>(wait)) < 0 && errno != EINTR) {
      FAIL("poll: " << std::strerror(errno));
    }
    const Time t = MonotonicMs();
    if (polled[0].revents != 0) {
      signals.ReadPending();
      set.ReapExited(t);
    }
    for (size_t i = 1; i < polled.size(); ++i) {
      if (polled[i].revents != 0) set.HandleReady(polled[i].fd, polled[i].revents, t);
    }
    set.OnTick(t);
  }
  return true;
}

bool RunUntilDone(ProcessSet& set, bool want_output = true) {
  return RunUntil(
      set, [&set] { return set.size() == 0; }, want_output);
}

struct Fixture {
  Fixture() : set(&recorder, ChildSignals().original_mask(), kGraceMs) {}

  Id Start(SpawnSpec spec) {
    if (spec.env.empty()) spec.env = {"PATH=/usr/bin:/bin"};
    Result<Id> id = set.Spawn(spec, MonotonicMs());
    REQUIRE_MESSAGE(id.ok(), id.status().message());
    return *id;
  }
  Id Shell(const std::string& script, uint32_t timeout_ms = 0) {
    SpawnSpec spec;
    spec.argv = {"/bin/sh", "-c", script};
    spec.timeout_ms = timeout_ms;
    return Start(std::move(spec));
  }
  std::string SpawnError(SpawnSpec spec) {
    Result<Id> id = set.Spawn(spec, MonotonicMs());
    REQUIRE_FALSE(id.ok());
    return id.status().message();
  }

  Recorder recorder;
  ProcessSet set;
};

struct TempDir {
  TempDir() {
    std::string pattern = std::filesystem::temp_directory_path() / "drover-subprocess-XXXXXX";
    REQUIRE(mkdtemp(pattern.data()) != nullptr);
    path = std::filesystem::canonical(pattern);
  }
  ~TempDir() { std::filesystem::remove_all(path); }

  std::string Write(const std::string& name, const std::string& content, mode_t mode) {
    const std::string file = path + "/" + name;
    std::ofstream(file) << content;
    REQUIRE(chmod(file.c_str(), mode) == 0);
    return file;
  }

  std::string path;
};

std::vector<pid_t> Pids(const std::string& text) {
  std::vector<pid_t> pids;
  std::istringstream in(text);
  for (pid_t pid; in >> pid;) pids.push_back(pid);
  return pids;
}

// The state letter of `pid` from /proc ('Z' for a zombie), or 0 if gone.
char ProcState(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  return paren == std::string::npos || paren + 2 >= stat.size() ? 0 : stat[paren + 2];
}

// True once `pid` no longer runs (gone, or a zombie its new parent has not
// reaped yet). A SIGKILLed process dies asynchronously, hence the wait.
bool Dies(pid_t pid) {
  const int64_t deadline = MonotonicMs() + kDeadlineMs;
  while (MonotonicMs() < deadline) {
    const char state = ProcState(pid);
    if (state == 0 || state == 'Z') return true;
    usleep(10'000);
  }
  return false;
}

// The parent of `pid` from /proc, or 0 if it is gone.
pid_t ParentOf(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::istringstream fields(stat.substr(paren + 2));
  char state;
  pid_t ppid = 0;
  fields >> state >> ppid;
  return ppid;
}

// The value of `field` in a /proc/<pid>/status text.
std::string StatusField(const std::string& status, const std::string& field) {
  std::istringstream in(status);
  for (std::string line; std::getline(in, line);) {
    if (line.starts_with(field + ":")) {
      const size_t value = line.find_first_not_of(" \t", field.size() + 1);
      return value == std::string::npos ? "" : line.substr(value);
    }
  }
  return "(no " + field + ")";
}

// Our children, from /proc: each "pid state".
std::vector<std::string> OwnChildren() {
  std::vector<std::string> children;
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream in(entry.path() / "stat");
    std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    const size_t paren = stat.rfind(')');
    if (paren == std::string::npos) continue;
    std::istringstream fields(stat.substr(paren + 2));
    char state;
    pid_t ppid;
    if (fields >> state >> ppid && ppid == getpid()) children.push_back(name + " " + state);
  }
  return children;
}

size_t OpenFds() {
  size_t n = 0;
  for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) {
    ++n;
  }
  return n;
}

TEST_CASE("exit codes are reported with wall-clock times") {
  Fixture f;
  const int64_t before = WallMs();
  const Id zero = f.Shell("exit 0");
  const Id three = f.Shell("exit 3");
  const Id max = f.Shell("exit 255");
  REQUIRE(RunUntilDone(f.set));
  const int64_t after = WallMs();
  for (const auto& expected : {std::pair{zero, 0}, {three, 3}, {max, 255}}) {
    const Id id = expected.first;
    const int code = expected.second;
    CAPTURE(code);
    const RunResult& run = f.recorder.exits[id];
    CHECK(run.outcome == Outcome::kExited);
    CHECK(run.exit_code == code);
    CHECK(run.signal == 0);
    CHECK(run.started_ms >= before);
    CHECK(run.started_ms <= run.ended_ms);
    CHECK(run.ended_ms <= after);
    CHECK(f.recorder.exit_calls[id] == 1);
  }
  CHECK(f.recorder.exits[zero].succeeded());
  CHECK_FALSE(f.recorder.exits[three].succeeded());
}

TEST_CASE("a child's exit makes none of its pipes readable before it is reaped") {
  // So that the worker is woken once per exit, by SIGCHLD, and not first by
  // each pipe's end-of-file while the child is still on its way out.
  Fixture f;
  const Id id = f.Shell("echo out; echo err >&2");
  siginfo_t info{};
  REQUIRE(waitid(P_ALL, 0, &info, WEXITED | WNOWAIT) == 0);  // a zombie now, not reaped
  std::vector<PollFd> fds;
  f.set.CollectPollFds(/*want_output=*/true, &fds);
  std::vector<pollfd> polled;
  for (const PollFd& fd : fds) polled.push_back({fd.fd, fd.events, 0});
  REQUIRE(polled.size() == 2);
  REQUIRE(poll(polled.data(), polled.size(), 0) == 2);  // the output waits in both
  for (pollfd& p : polled) {
    CHECK(p.revents == POLLIN);  // data, but no end-of-file
    f.set.HandleReady(p.fd, p.revents, MonotonicMs());
  }
  REQUIRE(poll(polled.data(), polled.size(), 0) == 0);
  CHECK(f.recorder.exits.count(id) == 0);
  f.set.ReapExited(MonotonicMs());
  REQUIRE(f.recorder.exits.count(id) == 1);  // reaped, and both pipes at their end
  CHECK(f.recorder.exits[id].exit_code == 0);
  CHECK(f.recorder.Out(id) == "out\n");
  CHECK(f.recorder.Err(id) == "err\n");
}

TEST_CASE("a signal Drover did not send is reported as kSignaled") {
  Fixture f;
  const Id term = f.Shell("kill -TERM $$");
  const Id kill = f.Shell("kill -KILL $$");
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.exits[term].outcome == Outcome::kSignaled);
  CHECK(f.recorder.exits[term].signal == SIGTERM);
  CHECK(f.recorder.exits[kill].outcome == Outcome::kSignaled);
  CHECK(f.recorder.exits[kill].signal == SIGKILL);
}

TEST_CASE("children get SIGPIPE back at its default although the worker ignores it") {
  Fixture f;
  // With SIGPIPE ignored, `yes` would see EPIPE and complain on stderr; at
  // its default it dies quietly when `head` leaves.
  const Id id = f.Shell("yes | head -c 1 >/dev/null; trap");
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.exits.at(id).exit_code == 0);
  CHECK(f.recorder.Err(id) == "");
  CHECK(f.recorder.Out(id) == "");  // `trap` lists no ignored signals
}

TEST_CASE("stdout and stderr are kept apart") {
  Fixture f;
  const Id id = f.Shell("echo out; echo err >&2; echo more");
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.Out(id) == "out\nmore\n");
  CHECK(f.recorder.Err(id) == "err\n");
}

TEST_CASE("stdin reaches the child and is then closed") {
  Fixture f;
  SpawnSpec spec;
  spec.argv = {"cat"};
  spec.stdin_data = "hello\nworld\n";
  const Id id = f.Start(spec);
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.Out(id) == "hello\nworld\n");
  CHECK(f.recorder.exits[id].succeeded());
}

TEST_CASE("without stdin data the child reads EOF at once") {
  Fixture f;
  const Id id = f.Shell("wc -c");
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.Out(id) == "0\n");
}

TEST_CASE("stdin far larger than a pipe buffer arrives intact") {
  Fixture f;
  std::string data(4 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7919 % 251);
  SpawnSpec spec;
  spec.argv = {"cat"};
  spec.stdin_data = data;
  const Id id = f.Start(spec);
  std::vector<PollFd> fds;
  f.set.CollectPollFds(/*want_output=*/false, &fds);
  REQUIRE(fds.size() == 1);  // stdin is fed even while output waits
  CHECK(fds[0].events == POLLOUT);
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.Out(id).size() == data.size());
  CHECK(f.recorder.Out(id) == data);
}

TEST_CASE("a child that does not read its stdin does not block the set") {
  Fixture f;
  SpawnSpec spec;
  spec.argv = {"true"};
  spec.stdin_data = std::string(1 << 20, 'x');
  const Id id = f.Start(spec);
  REQUIRE(RunUntilDone(f.set));  // EPIPE, not a hang or a SIGPIPE
  CHECK(f.recorder.exits[id].succeeded());
}

// Streamed stdin: pieces of `data` fed as the child takes them, at most
// `window` bytes queued at once, as the worker's credit window allows.
TEST_CASE("a streamed stdin reaches the child whole, fed in pieces within a window") {
  Fixture f;
  std::string data(8 << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7919 % 251);
  SpawnSpec spec;
  spec.argv = {"cat"};
  spec.stdin_stream = true;
  const Id id = f.Start(spec);
  std::vector<PollFd> fds;
  f.set.CollectPollFds(/*want_output=*/false, &fds);
  CHECK(fds.empty());  // nothing queued: no POLLOUT, or the loop would spin
  const size_t window = 1 << 20;
  const size_t piece = 100'000;
  size_t fed = 0;
  auto feed = [&](Id, uint64_t written) {
    while (fed < data.size() && fed - written + piece <= window) {
      const size_t n = std::min(piece, data.size() - fed);
      REQUIRE(f.set.FeedStdin(id, std::string_view(data).substr(fed, n)));
      fed += n;
    }
    if (fed == data.size()) f.set.EndStdin(id);
  };
  f.recorder.on_stdin_written = feed;
  feed(id, 0);
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.stdin_written[id] == data.size());
  CHECK(f.recorder.stdin_closed[id] == 0);
  CHECK(f.recorder.Out(id).size() == data.size());
  CHECK(f.recorder.Out(id) == data);
}

TEST_CASE("a streamed stdin stays open until EndStdin, then the child reads EOF") {
  Fixture f;
  SpawnSpec spec;
  spec.argv = {"wc", "-c"};
  spec.stdin_stream = true;
  const Id id = f.Start(spec);
  // Nothing yet: the child waits for more rather than reading EOF.
  CHECK_FALSE(RunUntil(f.set, [&] { return f.set.size() == 0; }, true, 300));
  REQUIRE(f.set.FeedStdin(id, "abc"));
  CHECK_FALSE(RunUntil(f.set, [&] { return f.set.size() == 0; }, true, 200));
  f.set.EndStdin(id);
  CHECK_FALSE(f.set.FeedStdin(id, "more"));  // ended: nothing more is taken
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.Out(id) == "3\n");
}

TEST_CASE("a child closing its streamed stdin midway is told apart from a failure") {
  Fixture f;
  SpawnSpec spec;
  spec.argv = {"/bin/sh", "-c", "head -c 10 >/dev/null; exec 0<&-; echo took 10; sleep 0.3"};
  spec.stdin_stream = true;
  const Id id = f.Start(spec);
  // Fed until the child has gone: its pipe then refuses (EPIPE).
  const std::string piece(64 << 10, 'y');
  REQUIRE(RunUntil(f.set, [&] {
    if (f.recorder.stdin_closed[id] == 0) (void)f.set.FeedStdin(id, piece);
    return f.recorder.stdin_closed[id] > 0;
  }));
  CHECK(f.recorder.stdin_closed[id] == 1);
  CHECK_FALSE(f.set.FeedStdin(id, piece));
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.Out(id) == "took 10\n");
  CHECK(f.recorder.exits[id].succeeded());
}

TEST_CASE("a child whose stdout is closed gets SIGPIPE at its next write, as in a shell pipe") {
  Fixture f;
  const Id id = f.Shell("echo started; exec yes");
  REQUIRE(RunUntil(f.set, [&] { return f.recorder.Out(id).size() > 100'000; }));
  f.set.CloseOutput(id, Stream::kStdout, MonotonicMs());
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.exits[id].outcome == Outcome::kSignaled);
  CHECK(f.recorder.exits[id].signal == SIGPIPE);
  CHECK(f.recorder.exit_calls[id] == 1);
}

TEST_CASE("100 MB of output is counted exactly in bounded chunks") {
  Fixture f;
  f.recorder.keep_output = false;
  const Id id = f.Shell("head -c 100000000 /dev/zero");
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.bytes[static_cast<int>(Stream::kStdout)][id] == 100'000'000);
  CHECK(f.recorder.max_chunk <= kOutputChunkBytes);
  CHECK(f.recorder.exits[id].succeeded());
}

TEST_CASE("the child gets its env and a bare program name is found on its own PATH") {
  Fixture f;
  TempDir dir;
  dir.Write("drover-greet", "#!/bin/sh\necho \"$GREETING from $0\"\n", 0755);
  REQUIRE(std::string(std::getenv("PATH") ? std::getenv("PATH") : "").find(dir.path) ==
          std::string::npos);
  SpawnSpec spec;
  spec.argv = {"drover-greet"};
  spec.env = {"PATH=/nonexistent:" + dir.path + ":/usr/bin:/bin", "GREETING=hi"};
  const Id id = f.Start(spec);
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.Out(id) == "hi from " + dir.path + "/drover-greet\n");
}

TEST_CASE("an env without PATH searches the default path") {
  Fixture f;
  SpawnSpec spec;
  spec.argv = {"sh", "-c", "echo ok"};
  spec.env = {"HOME=/"};
  const Id id = f.Start(spec);
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.Out(id) == "ok\n");
}

TEST_CASE("cwd is honoured and a relative program path is resolved in it") {
  Fixture f;
  TempDir dir;
  dir.Write("where", "#!/bin/sh\npwd\n", 0755);
  SpawnSpec spec;
  spec.argv = {"pwd"};
  spec.cwd = dir.path;
  const Id pwd = f.Start(spec);
  spec.argv = {"./where"};
  const Id relative = f.Start(spec);
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.Out(pwd) == dir.path + "\n");
  CHECK(f.recorder.Out(relative) == dir.path + "\n");
}

TEST_CASE("spawn errors return the OS error and leave nothing behind") {
  Fixture f;
  TempDir dir;
  const std::string plain = dir.Write("plain", "#!/bin/sh\n", 0644);
  const size_t fds_before = OpenFds();

  SpawnSpec spec;
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.argv = {"drover-no-such-program"};
  CHECK(f.SpawnError(spec) ==
        "cannot run \"drover-no-such-program\": not found on PATH (/usr/bin:/bin)");
  spec.argv = {"/nonexistent/prog"};
  CHECK(f.SpawnError(spec) == "cannot run \"/nonexistent/prog\": No such file or directory");
  spec.argv = {plain};
  CHECK(f.SpawnError(spec) == "cannot run \"" + plain + "\": Permission denied");
  spec.argv = {"plain"};
  spec.env = {"PATH=" + dir.path};
  CHECK(f.SpawnError(spec) == "cannot run \"plain\": Permission denied");
  spec.argv = {"true"};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.cwd = "/nope";
  CHECK(f.SpawnError(spec) == "cannot use directory \"/nope\": No such file or directory");
  spec.cwd = plain;
  CHECK(f.SpawnError(spec) == "cannot use directory \"" + plain + "\": Not a directory");
  spec.cwd = "";
  spec.argv = {};
  CHECK_FALSE(f.SpawnError(spec).empty());

  CHECK(f.set.size() == 0);
  CHECK(f.set.NextDeadline() == -1);
  CHECK(OpenFds() == fds_before);
  CHECK(OwnChildren().empty());
  CHECK(RunUntil(
            f.set, [] { return false; }, true, 200) == false);  // drain stray SIGCHLDs
  CHECK(f.recorder.exits.empty());
}

TEST_CASE("a timeout terminates the whole process group") {
  Fixture f;
  const Id id = f.Shell("sleep 1000 & echo $!; sleep 1000 & echo $!; wait", 300);
  REQUIRE(RunUntilDone(f.set));
  const RunResult& run = f.recorder.exits[id];
  CHECK(run.outcome == Outcome::kTimedOut);
  CHECK(run.signal == SIGTERM);
  const std::vector<pid_t> grandchildren = Pids(f.recorder.Out(id));
  REQUIRE(grandchildren.size() == 2);
  for (pid_t pid : grandchildren) CHECK(Dies(pid));
}

TEST_CASE("a child that ignores SIGTERM is killed after the grace period") {
  Fixture f;
  const Id id = f.Shell("trap '' TERM; sleep 1000", 300);
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.exits[id].outcome == Outcome::kTimedOut);
  CHECK(f.recorder.exits[id].signal == SIGKILL);
}

TEST_CASE("Terminate reports kKilled") {
  Fixture f;
  const Id id = f.Shell("sleep 1000");
  f.set.Terminate(id, Outcome::kKilled, MonotonicMs());
  f.set.Terminate(id + 100, Outcome::kKilled, MonotonicMs());  // unknown: ignored
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.exits[id].outcome == Outcome::kKilled);
  CHECK(f.recorder.exits[id].signal == SIGTERM);
}

TEST_CASE("a terminated child that exits by itself keeps Drover's outcome and its exit code") {
  Fixture f;
  const Id id = f.Shell("trap 'exit 7' TERM; echo ready; sleep 1000 & wait");
  REQUIRE(RunUntil(f.set, [&] { return f.recorder.Out(id) == "ready\n"; }));
  f.set.Terminate(id, Outcome::kKilled, MonotonicMs());
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.exits[id].outcome == Outcome::kKilled);
  CHECK(f.recorder.exits[id].exit_code == 7);
  CHECK(f.recorder.exits[id].signal == 0);
}

TEST_CASE("NextDeadline gives the timeout and then the end of the kill grace") {
  Fixture f;
  const Time t0 = MonotonicMs();
  CHECK(f.set.NextDeadline() == -1);
  SpawnSpec spec;
  spec.argv = {"sleep", "1000"};
  spec.env = {"PATH=/usr/bin:/bin"};
  spec.timeout_ms = 5000;
  Result<Id> id = f.set.Spawn(spec, t0);
  REQUIRE(id.ok());
  CHECK(f.set.NextDeadline() == t0 + 5000);
  f.set.OnTick(t0 + 4999);  // nothing due yet
  CHECK(f.set.NextDeadline() == t0 + 5000);
  f.set.OnTick(t0 + 5000);  // the timeout: SIGTERM, and the grace starts
  CHECK(f.set.NextDeadline() == t0 + 5000 + kGraceMs);
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.exits[*id].outcome == Outcome::kTimedOut);
  CHECK(f.set.NextDeadline() == -1);
}

TEST_CASE("what the leader leaves in its group is killed when it exits") {
  Fixture f;
  // The background sleep holds stdout too, so without the kill the process
  // would only finish after kPipeLingerMs.
  const Id id = f.Shell("sleep 1000 & echo $!");
  REQUIRE(RunUntilDone(f.set));
  CHECK(f.recorder.exits[id].succeeded());
  const std::vector<pid_t> left = Pids(f.recorder.Out(id));
  REQUIRE(left.size() == 1);
  CHECK(Dies(left[0]));
}

TEST_CASE("a descendant that escapes with setsid holding stdout is abandoned after a while") {
  Fixture f;
  TempDir dir;
  const Time start = MonotonicMs();
  // The leader waits until the escape is done, or its exit would kill the
  // descendant while still in the group.
  const Id id =
      f.Shell("setsid sh -c 'echo $$ > " + dir.path + "/pid; exec sleep 1000' & until [ -s " +
              dir.path + "/pid ]; do sleep 0.01; done; cat " + dir.path + "/pid");
  REQUIRE(RunUntilDone(f.set));
  const Time end = MonotonicMs();
  CHECK(f.recorder.exits[id].succeeded());
  CHECK(end - start >= ProcessSet::kPipeLingerMs);  // it really held the pipe
  const std::vector<pid_t> escaped = Pids(f.recorder.Out(id));
  REQUIRE(escaped.size() == 1);
  CHECK(ProcState(escaped[0]) != 0);  // out of our reach, so still there
  kill(escaped[0], SIGKILL);
}

TEST_CASE("without want_output the pipes are not polled and a chatty child waits") {
  Fixture f;
  f.recorder.keep_output = false;
  const Id id = f.Shell("head -c 10000000 /dev/zero");
  std::vector<PollFd> fds;
  f.set.CollectPollFds(/*want_output=*/false, &fds);
  CHECK(fds.empty());
  f.set.CollectPollFds(/*want_output=*/true, &fds);
  CHECK(fds.size() == 2);
  fds.clear();

  // Far more than a pipe holds: the child blocks in write() until we read.
  CHECK_FALSE(RunUntil(
      f.set, [] { return false; }, /*want_output=*/false, 1000));
  CHECK(f.set.size() == 1);
  CHECK(f.recorder.exits.empty());
  CHECK(f.recorder.bytes[static_cast<int>(Stream::kStdout)][id] == 0);

  REQUIRE(RunUntilDone(f.set, /*want_output=*/true));
  CHECK(f.recorder.bytes[static_cast<int>(Stream::kStdout)][id] == 10'000'000);
  CHECK(f.recorder.exits[id].succeeded());
}

TEST_CASE("many children at once are all reaped and leave no zombies") {
  Fixture f;
  std::vector<Id> ids;
  for (int i = 0; i < 200; ++i) {
    SpawnSpec spec;
    spec.argv = {"/bin/true"};
    ids.push_back(f.Start(spec));
  }
  CHECK(f.set.size() == 200);
  REQUIRE(RunUntilDone(f.set));
  REQUIRE(f.recorder.exits.size() == 200);
  for (Id id : ids) {
    CHECK(f.recorder.exit_calls[id] == 1);
    CHECK(f.recorder.exits[id].succeeded());
  }
  CHECK(OwnChildren().empty());
}

TEST_CASE("the observer may spawn from OnExit") {
  Fixture f;
  int remaining = 5;
  f.recorder.on_exit = [&](Id) {
    if (--remaining > 0) f.Shell("echo again");
  };
  f.Shell("echo first");
  REQUIRE(RunUntilDone(f.set));
  CHECK(remaining == 0);
  CHECK(f.recorder.exits.size() == 5);
}

TEST_CASE("resource usage is reported") {
  Fixture f;
  const Id id = f.Shell("i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done");
  REQUIRE(RunUntilDone(f.set));
  const RunResult& run = f.recorder.exits[id];
  CHECK(run.succeeded());
  CHECK(run.user_cpu_us > 0);
  CHECK(run.max_rss_kb > 0);
}

TEST_CASE("children inherit no fds and the parent leaks none") {
  Fixture f;
  const size_t before = OpenFds();
  std::vector<Id> ids;
  for (int i = 0; i < 50; ++i) {
    // Lists the child's own fds: only 0, 1, 2 (and ls's own directory fd).
    ids.push_back(f.Shell("ls /proc/self/fd | wc -l"));
    SpawnSpec spec;
    spec.argv = {"cat"};
    spec.stdin_data = "x";
    ids.push_back(f.Start(spec));
  }
  f.Shell("sleep 1000", 50);
  REQUIRE(RunUntilDone(f.set));
  CHECK(OpenFds() == before);
  for (size_t i = 0; i < ids.size(); i += 2) CHECK(f.recorder.Out(ids[i]) == "4\n");
}

TEST_CASE("the destructor kills and reaps what is left") {
  pid_t grandchild = 0;
  {
    Fixture f;
    const Id id = f.Shell("sleep 1000 & echo $!; wait");
    REQUIRE(RunUntil(f.set, [&] { return !f.recorder.Out(id).empty(); }));
    grandchild = Pids(f.recorder.Out(id)).at(0);
  }
  CHECK(Dies(grandchild));
  CHECK(OwnChildren().empty());
}

TEST_CASE("children find every signal at its default and the worker's mask") {
  Fixture f;
  // Whatever the worker does to its signals after making the set.
  struct sigaction caught {};
  caught.sa_handler = +[](int) {};
  struct sigaction ignored {};
  ignored.sa_handler = SIG_IGN;
  struct sigaction old_usr1, old_usr2;
  REQUIRE(sigaction(SIGUSR1, &caught, &old_usr1) == 0);
  REQUIRE(sigaction(SIGUSR2, &ignored, &old_usr2) == 0);
  SpawnSpec spec;
  spec.argv = {"cat", "/proc/self/status"};  // cat itself changes none
  const Id id = f.Start(spec);
  sigaction(SIGUSR1, &old_usr1, nullptr);
  sigaction(SIGUSR2, &old_usr2, nullptr);
  REQUIRE(RunUntilDone(f.set));
  const std::string status = f.recorder.Out(id);
  CHECK(StatusField(status, "SigIgn") == "0000000000000000");
  CHECK(StatusField(status, "SigCgt") == "0000000000000000");
  // The mask the worker started with, but glibc's own signals unblocked.
  uint64_t mask = 0;
  for (int sig = 1; sig <= 64; ++sig) {
    if ((sig < 32 || sig >= SIGRTMIN) && sigismember(&ChildSignals().original_mask(), sig) == 1) {
      mask |= uint64_t{1} << (sig - 1);
    }
  }
  char expected[17];
  std::snprintf(expected, sizeof(expected), "%016llx", static_cast<unsigned long long>(mask));
  CHECK(StatusField(status, "SigBlk") == expected);
}

TEST_CASE("children die with the worker") {
  // A stand-in worker runs the step; killing it must kill the step, which
  // was not even in its way (a sleep, not reading any pipe).
  const std::string host = std::string(DROVER_BIN_DIR) + "/process_set_host";
  std::string script = "echo $$; exec sleep 1000";
  int out[2];
  REQUIRE(pipe2(out, O_CLOEXEC) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  // Started as a worker is: nothing blocked or ignored.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t sigdefault;
  sigemptyset(&sigdefault);
  sigaddset(&sigdefault, SIGPIPE);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  posix_spawnattr_setsigmask(&attr, &ChildSignals().original_mask());
  posix_spawnattr_setsigdefault(&attr, &sigdefault);
  char* argv[] = {const_cast<char*>(host.c_str()), script.data(), nullptr};
  pid_t host_pid = -1;
  const int err = posix_spawn(&host_pid, host.c_str(), &actions, &attr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  close(out[1]);
  REQUIRE_MESSAGE(err == 0, host << ": " << std::strerror(err));

  // The step's pid, copied out by the host.
  std::string text;
  const int64_t deadline = MonotonicMs() + kDeadlineMs;
  while (text.find('\n') == std::string::npos && MonotonicMs() < deadline) {
    pollfd p = {out[0], POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(deadline - MonotonicMs())) <= 0) continue;
    char buf[64];
    const ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  const std::vector<pid_t> pids = Pids(text);
  const pid_t step = pids.empty() ? 0 : pids[0];
  CHECK(step > 0);
  if (step > 0) CHECK(ParentOf(step) == host_pid);  // running, and the host's

  kill(host_pid, SIGKILL);
  int status = 0;
  while (waitpid(host_pid, &status, 0) < 0 && errno == EINTR) {
  }
  CHECK(WIFSIGNALED(status));
  if (step > 0) {
    const bool died = Dies(step);
    CHECK(died);
    if (!died) kill(step, SIGKILL);  // leave nothing behind even so
  }
}

}  // namespace
}  // namespace drover::worker
