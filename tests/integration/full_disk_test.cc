// A full state disk, end to end: the broker's --state-dir on a small tmpfs,
// filled by the test. A submission is refused with a clear error and leaves
// nothing behind, the job already running finishes with its result, its
// output is cut with a marker rather than filling the disk, and once the
// filler is deleted the broker takes jobs again by itself.
//
// Mounting needs root: without it, or if the mount fails, the tests say
// "skipped: <why>" and pass, unless DROVER_REQUIRE_TMPFS is set (scripts/test
// sets it as root), which makes that a failure.

#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <doctest/doctest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr char kMarker[] = "[drover: output not kept: broker's state disk is full]";

// A tmpfs of `mib` MiB on a fresh directory, unmounted when done (lazily:
// nothing left running inside can keep it).
class SmallDisk {
 public:
  explicit SmallDisk(int mib) : path_(dir_.path() + "/disk") {
    if (geteuid() != 0) {
      why_ = "mounting a tmpfs needs root";
      return;
    }
    REQUIRE(mkdir(path_.c_str(), 0700) == 0);
    const std::string options = "size=" + std::to_string(mib) + "m,mode=0700";
    if (mount("tmpfs", path_.c_str(), "tmpfs", MS_NOSUID | MS_NODEV, options.c_str()) != 0) {
      why_ = std::string("cannot mount a tmpfs: ") + std::strerror(errno);
      return;
    }
    mounted_ = true;
  }
  ~SmallDisk() {
    if (mounted_) umount2(path_.c_str(), MNT_DETACH);
  }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  // True (and the test should return) if there is no disk: says why, or
  // fails when DROVER_REQUIRE_TMPFS is set.
  bool Skip() const {
    if (mounted_) return false;
    if (std::getenv("DROVER_REQUIRE_TMPFS")) FAIL("a tmpfs is required: " << why_);
    MESSAGE("skipped: " << why_);
    return true;
  }
  const std::string& path() const { return path_; }
  std::string filler() const { return path_ + "/filler"; }

  uint64_t FreeBytes() const {
    struct statvfs st;
    REQUIRE(statvfs(path_.c_str(), &st) == 0);
    return uint64_t{st.f_bavail} * st.f_frsize;
  }
  // Grows filler() until `leave` bytes are free (0: until nothing more fits).
  void Fill(uint64_t leave) const {
    const int fd = open(filler().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    if (leave > 0) {
      const uint64_t free = FreeBytes();
      REQUIRE(free > leave);
      struct stat st;
      REQUIRE(fstat(fd, &st) == 0);
      REQUIRE(posix_fallocate(fd, st.st_size, static_cast<off_t>(free - leave)) == 0);
    } else {
      const std::string block(4096, 'f');
      while (write(fd, block.data(), block.size()) > 0) {
      }
    }
    close(fd);
  }
  void Unfill() const { REQUIRE(unlink(filler().c_str()) == 0); }

 private:
  TempDir dir_;
  std::string path_;
  bool mounted_ = false;
  std::string why_;
};

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// The first fields of `step`'s row in submit's summary table (on stderr):
// STEP, STATE, TRIES, WORKER, EXIT; empty if there is none.
std::vector<std::string> SummaryRow(const std::string& err, const std::string& step) {
  for (const std::string& line : Lines(err)) {
    std::istringstream words(line);
    std::vector<std::string> fields;
    for (std::string w; words >> w;) fields.push_back(w);
    if (fields.size() >= 5 && fields[0] == step) return {fields.begin(), fields.begin() + 5};
  }
  return {};
}

Run SubmitCommand(Cluster& c, const std::vector<std::string>& args) {
  std::vector<std::string> argv = {BinDir() + "/submit"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--broker", c.endpoint()});
  return RunCommand(argv, c.dir(), seconds(60));
}

// A step "big" that says it started, waits for the test's go, and prints
// about 200 KB (more than a step keeps on a short disk) between "start" and
// "end"; then `followers` steps after it, s0 s1 ..., the last exiting 3.
std::string GatedJob(Cluster& c, int followers = 0) {
  const std::string d = c.dir().path();
  const std::string cmd = "touch " + d + "/started; while [ ! -e " + d +
                          "/go ]; do sleep 0.02; done; echo start; "
                          "yes 0123456789012345678901234567890123456789 | head -n 5000; "
                          "echo end";
  json steps = {{{"id", "big"}, {"cmd", cmd}}};
  for (int i = 0; i < followers; ++i) {
    steps.push_back({{"id", "s" + std::to_string(i)},
                     {"cmd", i + 1 == followers ? "exit 3" : "true"},
                     {"after", {"big"}}});
  }
  return c.dir().Write("gated.json", json{{"name", "gated"}, {"steps", steps}}.dump());
}

// A job of one step printing 100 lines; its file padded to `pad` bytes (a
// record that cannot fit in the last page of a full disk's journal).
std::string SmallJob(Cluster& c, size_t pad = 0) {
  json step = {{"id", "small"}, {"cmd", "seq 100"}};
  if (pad > 0) step["env"] = {{"PAD", std::string(pad, 'p')}};
  return c.dir().Write("small.json", json{{"name", "small"}, {"steps", {step}}}.dump());
}

void StartGated(Cluster& c, int followers = 0) {
  Run first = c.Submit(GatedJob(c, followers), {"--detach"});
  REQUIRE_MESSAGE(first.exit_code == 0, first.err);
  REQUIRE(first.out == "1\n");
  REQUIRE(WaitUntil(seconds(20), [&] {
    return Alive(c.broker().pid()) && std::filesystem::exists(c.dir().path() + "/started");
  }));
}

// `refused`, the second submission, was refused for the full state disk,
// and nothing of it was kept: no spool file, no job 2 in the status.
void CheckRefusedJob2(const Run& refused, const SmallDisk& disk, Cluster& c) {
  CHECK(refused.exit_code == 2);
  CHECK_MESSAGE(refused.err.find("submit: broker's state disk is full: " + disk.path() +
                                 "/state: No space left on device") != std::string::npos,
                refused.err);
  for (const auto& e : std::filesystem::directory_iterator(disk.path() + "/state/spool")) {
    CHECK_MESSAGE(!e.path().filename().string().starts_with("2."), e.path());
  }
  CHECK(SubmitCommand(c, {"status"}).out.find("job 2") == std::string::npos);
}

// Lets the gated job's step go on (GatedJob).
void LetGatedGo(Cluster& c) {
  REQUIRE(close(open((c.dir().path() + "/go").c_str(), O_CREAT | O_WRONLY, 0600)) == 0);
}

TEST_CASE("full disk: under --min-free-mb jobs are refused and the running one finishes") {
  SmallDisk disk(8);
  if (disk.Skip()) return;
  Cluster c({.broker_args = {"--min-free-mb", "2"}, .state_dir = disk.path() + "/state"});
  c.AddWorker("w1", 2);
  StartGated(c);

  disk.Fill(1 << 20);  // 1 MiB left: under the 2 MiB kept for running jobs
  Run refused = c.Submit(SmallJob(c));
  CheckRefusedJob2(refused, disk, c);

  // The running step goes on and finishes; its result is recorded, its
  // output kept up to a bound and then cut, the marker saying so once.
  LetGatedGo(c);
  Run watched = SubmitCommand(c, {"--watch", "1"});
  CHECK_MESSAGE(watched.exit_code == 0, watched.err);
  CHECK(Count(watched.out, kMarker) == 1);
  CHECK(watched.out.find("[big] start") != std::string::npos);
  CHECK(watched.out.find("[big] end") == std::string::npos);
  CHECK(watched.out.size() < 100'000);
  CHECK_MESSAGE(watched.err.find("job 1 (gated) succeeded") != std::string::npos, watched.err);
  CHECK(SummaryRow(watched.err, "big") ==
        std::vector<std::string>{"big", "succeeded", "1", "w1", "0"});

  // Room again: the next submission is taken, and its output kept whole.
  disk.Unfill();
  Run again = c.Submit(SmallJob(c));
  CHECK_MESSAGE(again.exit_code == 0, again.err);
  CHECK(again.out.find("[small] 100\n") != std::string::npos);
  CHECK(again.err.find("job 2 (small) succeeded") != std::string::npos);
  CHECK(again.out.find(kMarker) == std::string::npos);

  // Each change of the disk is logged once, not per write.
  const std::string logs = c.BrokerLogs();
  CHECK_MESSAGE(Count(logs, "kept for running jobs (--min-free-mb)") == 1, logs);
  CHECK_MESSAGE(Count(logs, "room again (") == 1, logs);
  CHECK(c.broker().running());
}

TEST_CASE("full disk: with the check off a failed write refuses the job and loses nothing") {
  SmallDisk disk(8);
  if (disk.Skip()) return;
  Cluster c({.broker_args = {"--min-free-mb", "0"}, .state_dir = disk.path() + "/state"});
  c.AddWorker("w1", 2);
  // The records of a hundred steps' dispatches and results cannot all fit
  // in what a full disk leaves of the journal's last page.
  StartGated(c, 100);

  disk.Fill(0);  // nothing more fits
  // Larger than a page, so that its record cannot slip into the journal's
  // last, partly used page.
  Run refused = c.Submit(SmallJob(c, 16 << 10));
  CheckRefusedJob2(refused, disk, c);

  // The job goes on until its records no longer fit: they wait in memory,
  // the broker says so, and runs on.
  LetGatedGo(c);
  CHECK_MESSAGE(WaitUntil(seconds(20), [&] { return Count(c.broker().err(), "NOT DURABLE") > 0; }),
                c.BrokerLogs());
  std::this_thread::sleep_for(milliseconds(300));
  CHECK(c.broker().running());
  disk.Unfill();

  Run watched = SubmitCommand(c, {"--watch", "1"});
  CHECK_MESSAGE(watched.exit_code == 1, watched.err);  // s99 exits 3
  CHECK(SummaryRow(watched.err, "s99") ==
        std::vector<std::string>{"s99", "failed", "1", "w1", "3"});
  CHECK(watched.err.find("job 1 (gated) failed after") != std::string::npos);
  CHECK(watched.err.find(": 100 succeeded, 1 failed\n") != std::string::npos);
  CHECK(Count(watched.out, kMarker) == 1);
  Run again = c.Submit(SmallJob(c));
  CHECK_MESSAGE(again.exit_code == 0, again.err);
  CHECK(again.err.find("job 2 (small) succeeded") != std::string::npos);

  const std::string logs = c.BrokerLogs();
  CHECK_MESSAGE(Count(logs, "new submissions are refused, and steps' output is not kept") == 1,
                logs);
  CHECK_MESSAGE(Count(logs, "NOT DURABLE") == 1, logs);
  CHECK_MESSAGE(Count(logs, "the records held in memory are written") == 1, logs);
  CHECK_MESSAGE(Count(logs, "room again (") == 1, logs);

  // What it held in memory is on disk now: a broker killed and started
  // again has both jobs as they ended.
  c.KillBroker();
  c.RestartBroker();
  CHECK(WaitUntil(seconds(20), [&] {
    const std::string status = SubmitCommand(c, {"status"}).out;
    return status.find("job 1 (gated): failed, 100/101 succeeded") != std::string::npos &&
           status.find("job 2 (small): succeeded") != std::string::npos;
  }));
}

}  // namespace
}  // namespace drover::testing
