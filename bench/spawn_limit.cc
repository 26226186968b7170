// spawn_limit: the operating system's limit for running short commands, the
// baseline every spawn benchmark is a ratio to. Runs `--count` commands,
// keeping `--parallel` children in flight with plain posix_spawn and
// waitpid, and nothing else: no pipes, no process groups, no bookkeeping.
//
//   spawn_limit --count 10000 --parallel 2 [--chain] [--latency] -- /bin/true
//
// --latency: run the command --count times one at a time and print the
//   median and p99 of spawn-to-reaped in microseconds, one per line.
// Otherwise prints the elapsed seconds.

#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;

pid_t Spawn(char** argv) {
  pid_t pid = -1;
  const int err = posix_spawn(&pid, argv[0], nullptr, nullptr, argv, environ);
  if (err != 0) {
    fprintf(stderr, "spawn_limit: cannot run %s: %s\n", argv[0], strerror(err));
    exit(1);
  }
  return pid;
}

void Reap(pid_t pid) {
  int status = 0;
  if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "spawn_limit: a child failed\n");
    exit(1);
  }
}

}  // namespace

int main(int argc, char** argv) {
  long count = 10000, parallel = 2;
  bool latency = false;
  int i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; ++i) {
    if (!strcmp(argv[i], "--count") && i + 1 < argc) count = atol(argv[++i]);
    else if (!strcmp(argv[i], "--parallel") && i + 1 < argc) parallel = atol(argv[++i]);
    else if (!strcmp(argv[i], "--latency")) latency = true;
    else {
      fprintf(stderr, "usage: spawn_limit [--count N] [--parallel P] [--latency] -- CMD...\n");
      return 2;
    }
  }
  if (i + 1 >= argc) {
    fprintf(stderr, "spawn_limit: no command after --\n");
    return 2;
  }
  char** cmd = argv + i + 1;

  if (latency) {
    std::vector<double> us;
    for (long n = 0; n < count; ++n) {
      const auto t0 = Clock::now();
      Reap(Spawn(cmd));
      us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - t0).count());
    }
    std::sort(us.begin(), us.end());
    printf("%.1f\n%.1f\n", us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]);
    return 0;
  }

  const auto t0 = Clock::now();
  long started = 0, running = 0;
  while (started < count || running > 0) {
    while (running < parallel && started < count) {
      Spawn(cmd);
      ++started;
      ++running;
    }
    int status = 0;
    if (wait(&status) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      fprintf(stderr, "spawn_limit: a child failed\n");
      return 1;
    }
    --running;
  }
  printf("%.4f\n", std::chrono::duration<double>(Clock::now() - t0).count());
  return 0;
}
