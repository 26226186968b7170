// A stand-in for the worker, for subprocess_test: runs one step through a
// ProcessSet, copies the step's stdout to its own, and runs its loop until it
// is killed. The test SIGKILLs it to see whether the step dies with it.
//
//   process_set_host SCRIPT    (the step is /bin/sh -c SCRIPT)
#include <poll.h>
#include <unistd.h>

#include <cstdio>
#include <string_view>
#include <vector>

#include "shared/clock.h"
#include "shared/signal_fd.h"
#include "worker/subprocess.h"

namespace {

using drover::worker::ProcessObserver;

struct CopyToStdout : ProcessObserver {
  void OnOutput(Id, drover::Stream stream, std::string_view data) override {
    if (stream != drover::Stream::kStdout) return;
    while (!data.empty()) {
      const ssize_t n = write(STDOUT_FILENO, data.data(), data.size());
      if (n <= 0) return;
      data.remove_prefix(static_cast<size_t>(n));
    }
  }
  void OnExit(Id, const drover::RunResult&) override {}
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: process_set_host SCRIPT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);
  drover::Result<drover::SignalFd> signals = drover::SignalFd::Create({SIGCHLD});
  if (!signals.ok()) {
    std::fprintf(stderr, "process_set_host: %s\n", signals.status().message().c_str());
    return 1;
  }
  CopyToStdout observer;
  drover::worker::ProcessSet set(&observer, signals->original_mask(), 1000);
  drover::worker::SpawnSpec spec;
  spec.argv = {"/bin/sh", "-c", argv[1]};
  spec.env = {"PATH=/usr/bin:/bin"};
  if (auto id = set.Spawn(spec, drover::MonotonicMs()); !id.ok()) {
    std::fprintf(stderr, "process_set_host: %s\n", id.status().message().c_str());
    return 1;
  }
  for (;;) {
    std::vector<drover::worker::PollFd> fds;
    set.CollectPollFds(true, &fds);
    std::vector<pollfd> polled = {{signals->fd(), POLLIN, 0}};
    for (const drover::worker::PollFd& f : fds) polled.push_back({f.fd, f.events, 0});
    poll(polled.data(), polled.size(), 1000);
    const drover::worker::Time now = drover::MonotonicMs();
    if (polled[0].revents != 0) {
      signals->ReadPending();
      set.ReapExited(now);
    }
    for (size_t i = 1; i < polled.size(); ++i) {
      if (polled[i].revents != 0) set.HandleReady(polled[i].fd, polled[i].revents, now);
    }
    set.OnTick(now);
  }
}
