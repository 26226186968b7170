// CommandRunner with real processes: what a result holds for each way a
// command can end, the order of results, the caps on output, the signal
// state children start with, and that nothing outlives a timeout or the
// runner. Bounds on time are generous: only the timeout test waits on
// purpose, 0.3 s.
#include "broker/command_runner.h"
#include "tests/temp_dir.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace drover::broker {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr int64_t kTimeoutMs = 20'000;  // for commands that should end by themselves

// Waits (polling fd() as the broker's loop will) until `n` results have come.
std::vector<CommandResult> WaitFor(CommandRunner& runner, size_t n) {
  std::vector<CommandResult> all;
  const auto give_up = Clock::now() + seconds(30);
  while (all.size() < n && Clock::now() < give_up) {
    pollfd p{runner.fd(), POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) continue;
    for (CommandResult& r : runner.Take()) all.push_back(std::move(r));
  }
  REQUIRE(all.size() == n);
  return all;
}

CommandResult RunOne(std::vector<std::string> argv, int64_t timeout_ms = kTimeoutMs) {
  CommandRunner runner;
  runner.Run(7, std::move(argv), timeout_ms);
  std::vector<CommandResult> results = WaitFor(runner, 1);
  CHECK(results[0].tag == 7);
  return std::move(results[0]);
}

bool Readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1;
}

// Whether `pid` runs: exists and is not a zombie (an orphan's zombie waits
// for whoever reaps orphans here, which may be slow or nobody).
bool Alive(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return false;
  const size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] != 'Z';
}

bool GoneWithin(pid_t pid, milliseconds within) {
  const auto give_up = Clock::now() + within;
  while (Alive(pid)) {
    if (Clock::now() > give_up) return false;
    std::this_thread::sleep_for(milliseconds(10));
  }
  return true;
}

using testing::TempDir;

// The pids a command wrote to `file` ("LEADER CHILD"), once it has.
std::vector<pid_t> PidsIn(const std::string& file) {
  const auto give_up = Clock::now() + seconds(10);
  for (;;) {
    std::ifstream in(file);
    std::string line;
    if (std::getline(in, line) && !line.empty()) {
      std::istringstream words(line);
      std::vector<pid_t> pids;
      for (pid_t p; words >> p;) pids.push_back(p);
      if (pids.size() == 2) return pids;
    }
    REQUIRE(Clock::now() < give_up);
    std::this_thread::sleep_for(milliseconds(10));
  }
}

TEST_CASE("command runner: what a result holds for each way a command ends") {
  SUBCASE("exits 0, with its stdout") {
    CommandResult r = RunOne({"echo", "hello", "world"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "hello world\n");
    CHECK(r.err == "");
    CHECK(r.failure == "");
    CHECK(!r.truncated);
  }
  SUBCASE("exits 1: no failure, the status says it") {
    CommandResult r = RunOne({"false"});
    CHECK(r.exit_code == 1);
    CHECK(r.failure == "");
  }
  SUBCASE("stderr and a status of its own") {
    CommandResult r = RunOne({"sh", "-c", "echo out; echo x >&2; exit 3"});
    CHECK(r.exit_code == 3);
    CHECK(r.out == "out\n");
    CHECK(r.err == "x\n");
    CHECK(r.failure == "");
  }
  SUBCASE("a program that is not there") {
    CommandResult r = RunOne({"drover-no-such-program", "--parsable"});
    CHECK(r.exit_code == -1);
    CHECK(r.failure == "cannot run drover-no-such-program: No such file or directory");
  }
  SUBCASE("no program at all") {
    CommandResult r = RunOne({});
    CHECK(r.exit_code == -1);
    CHECK(r.failure == "cannot run an empty command");
  }
  SUBCASE("killed by a signal") {
    CommandResult r = RunOne({"sh", "-c", "kill -KILL $$"});
    CHECK(r.exit_code == -1);
    CHECK(r.failure == "killed by SIGKILL");
  }
  SUBCASE("stdin is /dev/null: a reader of stdin ends at once") {
    CommandResult r = RunOne({"cat"});
    CHECK(r.exit_code == 0);
    CHECK(r.out == "");
  }
}

TEST_CASE("command runner: a timed-out command is killed with what it started") {
  TempDir dir;
  const std::string pids = dir.path() + "/pids";
  CommandRunner runner;
  const auto start = Clock::now();
  runner.Run(1, {"sh", "-c", "sleep 100 & echo $$ $! > " + pids + "; wait"}, 300);
  std::vector<CommandResult> results = WaitFor(runner, 1);
  CHECK(Clock::now() - start < seconds(10));
  CHECK(results[0].exit_code == -1);
  CHECK(results[0].failure == "timed out after 0.3s");
  for (pid_t pid : PidsIn(pids)) CHECK(GoneWithin(pid, seconds(5)));
}

TEST_CASE("command runner: a command that exits leaves nothing running in its group") {
  TempDir dir;
  const std::string pids = dir.path() + "/pids";
  // The background sleep keeps stdout open: it is killed when sh exits,
  // which ends the command then, not at its timeout.
  CommandResult r = RunOne({"sh", "-c", "sleep 100 & echo $$ $! > " + pids + "; exit 4"});
  CHECK(r.exit_code == 4);
  CHECK(r.failure == "");
  for (pid_t pid : PidsIn(pids)) CHECK(GoneWithin(pid, seconds(5)));
}

TEST_CASE("command runner: output beyond the caps is read and dropped") {
  CommandResult r = RunOne({"sh", "-c", "head -c 3000000 /dev/zero; head -c 100000 /dev/zero >&2"});
  CHECK(r.exit_code == 0);
  CHECK(r.out.size() == kMaxOut);
  CHECK(r.err.size() == kMaxErr);
  CHECK(r.truncated);
  // At the caps exactly, nothing is lost.
  r = RunOne({"sh", "-c", "head -c 1048576 /dev/zero; head -c 65536 /dev/zero >&2"});
  CHECK(r.out.size() == kMaxOut);
  CHECK(r.err.size() == kMaxErr);
  CHECK(!r.truncated);
}

TEST_CASE("command runner: one at a time, results in order, fd readable while they wait") {
  CommandRunner runner;
  CHECK(runner.pending() == 0);
  CHECK(!Readable(runner.fd()));
  // The first is the slowest: were they run at once, it would end last.
  runner.Run(1, {"sh", "-c", "sleep 0.2; echo one"}, kTimeoutMs);
  runner.Run(2, {"echo", "two"}, kTimeoutMs);
  runner.Run(3, {"drover-no-such-program"}, kTimeoutMs);
  runner.Run(4, {"sh", "-c", "exit 9"}, kTimeoutMs);
  CHECK(runner.pending() >= 3);
  std::vector<CommandResult> results = WaitFor(runner, 4);
  CHECK(results[0].tag == 1);
  CHECK(results[0].out == "one\n");
  CHECK(results[1].tag == 2);
  CHECK(results[1].out == "two\n");
  CHECK(results[2].tag == 3);
  CHECK(results[2].exit_code == -1);
  CHECK(results[3].tag == 4);
  CHECK(results[3].exit_code == 9);
  CHECK(runner.pending() == 0);
  CHECK(!Readable(runner.fd()));
  CHECK(runner.Take().empty());
  // And again after a pause: the thread waits for more.
  runner.Run(5, {"echo", "five"}, kTimeoutMs);
  results = WaitFor(runner, 1);
  CHECK(results[0].tag == 5);
  CHECK(results[0].out == "five\n");
}

TEST_CASE(
    "command runner: children start with no signal blocked or ignored, in a group of their own") {
  // What the broker's threads have: signals blocked for its signalfd, and
  // SIGPIPE ignored. The runner's thread inherits the mask from here.
  sigset_t blocked, old_mask;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGTERM);
  sigaddset(&blocked, SIGINT);
  sigaddset(&blocked, SIGCHLD);
  REQUIRE(pthread_sigmask(SIG_BLOCK, &blocked, &old_mask) == 0);
  struct sigaction ignore = {};
  struct sigaction old_pipe = {};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(sigaction(SIGPIPE, &ignore, &old_pipe) == 0);
  std::vector<CommandResult> results;
  {
    CommandRunner runner;
    runner.Run(1, {"cat", "/proc/self/status"}, kTimeoutMs);
    runner.Run(2, {"cat", "/proc/self/stat"}, kTimeoutMs);
    results = WaitFor(runner, 2);
  }
  sigaction(SIGPIPE, &old_pipe, nullptr);
  pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);

  const std::string& status = results[0].out;
  INFO(status);
  CHECK(status.find("SigBlk:\t0000000000000000\n") != std::string::npos);
  // Of the standard signals (1 to 31) none is ignored. glibc's spawn sets
  // its own two internal ones (32, 33) to ignored; exec gives them back to
  // the new program's glibc.
  const size_t ign = status.find("SigIgn:\t");
  REQUIRE(ign != std::string::npos);
  CHECK((std::stoull(status.substr(ign + 8, 16), nullptr, 16) & 0x7fffffff) == 0);
  // /proc/PID/stat: "PID (comm) STATE PPID PGRP ...": its own group's leader.
  std::istringstream stat(results[1].out.substr(results[1].out.rfind(')') + 2));
  std::string state;
  pid_t ppid = 0, pgrp = 0;
  stat >> state >> ppid >> pgrp;
  const pid_t pid = std::stoi(results[1].out);
  CHECK(pgrp == pid);
  CHECK(pgrp != getpgrp());
}

TEST_CASE("command runner: a child reaped elsewhere is reported, not waited for") {
  // SIGCHLD ignored: the kernel reaps children as they exit.
  struct sigaction ignore = {};
  struct sigaction old_chld = {};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(sigaction(SIGCHLD, &ignore, &old_chld) == 0);
  const auto start = Clock::now();
  CommandResult r = RunOne({"true"});
  sigaction(SIGCHLD, &old_chld, nullptr);
  CHECK(r.exit_code == -1);
  CHECK(r.failure == "its exit status was taken elsewhere in the broker");
  CHECK(Clock::now() - start < seconds(10));
}

TEST_CASE("command runner: destroyed while a command runs, it returns at once and leaves nothing") {
  TempDir dir;
  const std::string pids = dir.path() + "/pids";
  std::vector<pid_t> started;
  auto start = Clock::now();
  {
    CommandRunner runner;
    runner.Run(1, {"sh", "-c", "sleep 100 & echo $$ $! > " + pids + "; wait"}, 100'000);
    runner.Run(2, {"sh", "-c", "touch " + dir.path() + "/second"}, kTimeoutMs);
    started = PidsIn(pids);
    CHECK(runner.pending() == 2);
    start = Clock::now();
  }
  CHECK(Clock::now() - start < seconds(5));
  for (pid_t pid : started) CHECK(GoneWithin(pid, seconds(5)));
  // The one still queued never ran.
  CHECK(!std::filesystem::exists(dir.path() + "/second"));
}

}  // namespace
}  // namespace drover::broker
