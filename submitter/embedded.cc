#include "submitter/embedded.h"

#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

extern char** environ;

namespace drover::submit {
namespace {

// The directory `submit` itself lives in.
std::string OwnDirectory() {
  char path[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
  if (n <= 0) return "";
  path[n] = '\0';
  return std::filesystem::path(path).parent_path().string();
}

// `name` next to submit if it is there, else the bare name for PATH lookup.
std::string FindProgram(const std::string& name) {
  const std::string beside = OwnDirectory() + "/" + name;
  if (access(beside.c_str(), X_OK) == 0) return beside;
  return name;
}

Result<pid_t> Spawn(const std::vector<std::string>& args, const std::string& log,
                    const sigset_t& mask) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  posix_spawn_file_actions_adddup2(&actions, 1, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK);
  posix_spawnattr_setpgroup(&attr, 0);
  posix_spawnattr_setsigmask(&attr, &mask);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int err = posix_spawnp(&pid, argv[0], &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (err != 0) return ErrnoStatus("cannot start " + args[0], err);
  return pid;
}

std::string Tail(const std::string& path, size_t lines) {
  std::ifstream in(path);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::ostringstream out;
  for (size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) {
    out << "  " << all[i] << "\n";
  }
  return out.str();
}

}  // namespace

Result<std::unique_ptr<EmbeddedCluster>> EmbeddedCluster::Start(
    const sigset_t& child_mask, const std::vector<std::string>& worker_args) {
  std::string tmpl = (std::getenv("TMPDIR") ? std::string(std::getenv("TMPDIR")) : "/tmp") +
                     "/drover-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) return ErrnoStatus("cannot create " + tmpl, errno);
  std::unique_ptr<EmbeddedCluster> cluster(new EmbeddedCluster());
  cluster->dir_ = tmpl;
  cluster->endpoint_ = "ipc://" + tmpl + "/broker.sock";

  // Its state is thrown away with the one job it runs, which needs little
  // kept back for its records: a small $TMPDIR still runs jobs.
  Result<pid_t> broker = Spawn({FindProgram("broker"), "--bind", cluster->endpoint_, "--state-dir",
                                tmpl + "/state", "--die-with-parent", "--log-level", "warn",
                                "--min-free-mb", std::to_string(kEmbeddedMinFreeMb)},
                               tmpl + "/broker.log", child_mask);
  if (!broker.ok()) return broker.status();
  cluster->broker_ = broker.value();
  // No keys, whatever DROVER_KEY says: this broker has none, and only this
  // machine can reach it. (submit has read them already, and uses none here.)
  unsetenv("DROVER_KEY");
  unsetenv("DROVER_BROKER_KEY");
  std::vector<std::string> argv = {FindProgram("worker"), "--broker", cluster->endpoint_,
                                   "--state-dir", tmpl + "/worker-state", "--die-with-parent",
                                   "--log-level", "warn"};
  argv.insert(argv.end(), worker_args.begin(), worker_args.end());
  Result<pid_t> worker = Spawn(argv, tmpl + "/worker.log", child_mask);
  if (!worker.ok()) return worker.status();
  cluster->worker_ = worker.value();
  return cluster;
}

std::string EmbeddedCluster::CheckAlive() {
  for (auto [pid, name] : {std::pair{&broker_, "broker"}, std::pair{&worker_, "worker"}}) {
    if (*pid <= 0) continue;
    int status = 0;
    if (waitpid(*pid, &status, WNOHANG) == *pid) {
      *pid = -1;
      return std::string("the embedded ") + name + " exited unexpectedly; the end of its log:\n" +
             Tail(dir_ + "/" + name + ".log", 10);
    }
  }
  return "";
}

void EmbeddedCluster::Stop(pid_t* pid) {
  if (*pid <= 0) return;
  kill(*pid, SIGTERM);
  for (int i = 0; i < 1000; ++i) {  // up to 10 s: the worker gives steps a grace period
    if (waitpid(*pid, nullptr, WNOHANG) == *pid) {
      *pid = -1;
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  kill(*pid, SIGKILL);
  waitpid(*pid, nullptr, 0);
  *pid = -1;
}

EmbeddedCluster::~EmbeddedCluster() {
  Stop(&worker_);  // first, so it leaves the broker cleanly
  Stop(&broker_);
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

}  // namespace drover::submit
