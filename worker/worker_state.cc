#include "worker/worker_state.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace drover::worker {
namespace {

std::string NewInstanceId() {
  unsigned char bytes[16];
  if (getrandom(bytes, sizeof bytes, 0) != static_cast<ssize_t>(sizeof bytes)) {
    // No entropy source: pid and time still make one unlikely to repeat.
    for (size_t i = 0; i < sizeof bytes; ++i) bytes[i] = static_cast<unsigned char>(rand());
  }
  static const char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned char b : bytes) {
    id += kHex[b >> 4];
    id += kHex[b & 15];
  }
  return id;
}

std::string ReadSmallFile(const std::string& path) {
  std::string text;
  if (FILE* f = fopen(path.c_str(), "re")) {
    char buf[256];
    const size_t n = fread(buf, 1, sizeof buf, f);
    text.assign(buf, n);
    fclose(f);
  }
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

}  // namespace

Result<Run> StartRun(const std::string& dir, const std::string& name) {
  for (size_t slash = dir.find('/', 1);; slash = dir.find('/', slash + 1)) {
    const std::string prefix = dir.substr(0, slash);
    if (mkdir(prefix.c_str(), 0750) != 0 && errno != EEXIST) {
      return ErrnoStatus("cannot create " + prefix, errno);
    }
    if (slash == std::string::npos) break;
  }
  Run run;
  const std::string lock_path = dir + "/lock-" + name;
  run.lock_fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
  if (run.lock_fd < 0) return ErrnoStatus("cannot open " + lock_path, errno);
  if (flock(run.lock_fd, LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    close(run.lock_fd);
    if (error == EWOULDBLOCK) {
      return Status::Error("a worker named \"" + name + "\" is already running with state in " +
                           dir + "; give this one another --name or --state-dir");
    }
    return ErrnoStatus("cannot lock " + lock_path, error);
  }
  const std::string path = dir + "/instance-" + name;
  run.previous_instance = ReadSmallFile(path);
  run.instance = NewInstanceId();
  // Replaced whole (write, then rename), so a crash leaves one id or the other.
  const std::string tmp = path + ".tmp";
  FILE* f = fopen(tmp.c_str(), "we");
  if (f == nullptr) return ErrnoStatus("cannot write " + tmp, errno);
  fprintf(f, "%s\n", run.instance.c_str());
  if (fclose(f) != 0 || rename(tmp.c_str(), path.c_str()) != 0) {
    return ErrnoStatus("cannot write " + path, errno);
  }
  if (!run.previous_instance.empty()) {
    unlink((dir + "/spill-" + run.previous_instance).c_str());  // its output's broker is gone
  }
  return run;
}

int KillLeftovers(const std::string& instance) {
  if (instance.empty()) return 0;
  const std::string marker = "DROVER_WORKER_INSTANCE=" + instance;
  int killed = 0;
  DIR* proc = opendir("/proc");
  if (proc == nullptr) return 0;
  while (dirent* entry = readdir(proc)) {
    char* end = nullptr;
    const long pid = strtol(entry->d_name, &end, 10);
    if (*end != '\0' || pid <= 1 || pid == getpid()) continue;
    const std::string environ_path = std::string("/proc/") + entry->d_name + "/environ";
    const int fd = open(environ_path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;  // gone, or not ours to read
    std::string env;
    char buf[8192];
    for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) env.append(buf, static_cast<size_t>(n));
    close(fd);
    // Entries are NUL-separated "NAME=value".
    for (size_t pos = 0; pos < env.size();) {
      const size_t nul = env.find('\0', pos);
      const std::string_view var(env.data() + pos, (nul == std::string::npos ? env.size() : nul) - pos);
      if (var == marker) {
        if (kill(static_cast<pid_t>(pid), SIGKILL) == 0) ++killed;
        break;
      }
      if (nul == std::string::npos) break;
      pos = nul + 1;
    }
  }
  closedir(proc);
  return killed;
}

}  // namespace drover::worker
