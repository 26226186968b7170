// zmq_relay: the floor under Drover's latency, with nothing of Drover in it.
// Three processes on loopback TCP take the path a step takes: a client sends
// a request to a relay (the broker's place), the relay passes it to a spawner
// (the worker's place), which runs the command with posix_spawn and waitpid
// and answers; the relay passes the answer back. Four ZeroMQ hops and one
// spawn, no decoding, no bookkeeping, no disk. Prints the median and p99 of
// request-to-answer at the client in microseconds, one per line.
//
//   zmq_relay --count 200 [--port P] -- /bin/true
//
// The relay waits in zmq_poll on both of its sockets, as the broker does; the
// spawner blocks in recv and waitpid, which is the quickest a process can
// notice either (the worker polls a signalfd and its socket instead).

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>
#include <zmq.hpp>

extern char** environ;

namespace {

// Passes every message from one ROUTER to the other: requests from the
// client to the one spawner, answers back to the client.
[[noreturn]] void Relay(const std::string& front_endpoint, const std::string& back_endpoint,
                        int count) {
  zmq::context_t ctx(1);
  zmq::socket_t front(ctx, zmq::socket_type::router);
  zmq::socket_t back(ctx, zmq::socket_type::router);
  front.bind(front_endpoint);
  back.bind(back_endpoint);
  zmq::message_t spawner_id, client_id;
  {  // the spawner says hello first, so the relay knows where to send
    zmq::message_t hello;
    if (!back.recv(spawner_id) || !back.recv(hello)) _exit(1);
  }
  zmq::pollitem_t items[] = {{front.handle(), 0, ZMQ_POLLIN, 0}, {back.handle(), 0, ZMQ_POLLIN, 0}};
  for (int answered = 0; answered < count;) {
    zmq::poll(items, 2, std::chrono::milliseconds(-1));
    if (items[0].revents & ZMQ_POLLIN) {
      zmq::message_t body;
      if (!front.recv(client_id) || !front.recv(body)) _exit(1);
      zmq::message_t to(spawner_id.data(), spawner_id.size());
      back.send(to, zmq::send_flags::sndmore);
      back.send(body, zmq::send_flags::none);
    }
    if (items[1].revents & ZMQ_POLLIN) {
      zmq::message_t id, body;
      if (!back.recv(id) || !back.recv(body)) _exit(1);
      zmq::message_t to(client_id.data(), client_id.size());
      front.send(to, zmq::send_flags::sndmore);
      front.send(body, zmq::send_flags::none);
      ++answered;
    }
  }
  usleep(100'000);
  _exit(0);
}

[[noreturn]] void Spawner(const std::string& back_endpoint, char** command, int count) {
  zmq::context_t ctx(1);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.connect(back_endpoint);
  dealer.send(zmq::str_buffer("hello"));
  for (int i = 0; i < count; ++i) {
    zmq::message_t request;
    if (!dealer.recv(request)) _exit(1);
    pid_t pid = -1;
    int status = 0;
    if (posix_spawn(&pid, command[0], nullptr, nullptr, command, environ) != 0 ||
        waitpid(pid, &status, 0) < 0) {
      _exit(1);
    }
    dealer.send(zmq::buffer(&status, sizeof status));
  }
  usleep(100'000);
  _exit(0);
}

}  // namespace

int main(int argc, char** argv) {
  int count = 200, port = 0, i = 1;
  for (; i < argc && strcmp(argv[i], "--") != 0; ++i) {
    if (!strcmp(argv[i], "--count") && i + 1 < argc)
      count = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--port") && i + 1 < argc)
      port = atoi(argv[++i]);
    else
      break;
  }
  if (i >= argc - 1 || strcmp(argv[i], "--") != 0 || count < 1) {
    fprintf(stderr, "usage: zmq_relay [--count N] [--port P] -- CMD...\n");
    return 2;
  }
  char** command = argv + i + 1;
  if (port == 0) port = 20000 + getpid() % 20000;
  const std::string front = "tcp://127.0.0.1:" + std::to_string(port);
  const std::string back = "tcp://127.0.0.1:" + std::to_string(port + 1);
  const int rounds = count + 1;  // the first one pays for connecting
  // Forked before any ZeroMQ context exists.
  const pid_t relay = fork();
  if (relay == 0) Relay(front, back, rounds);
  const pid_t spawner = fork();
  if (spawner == 0) Spawner(back, command, rounds);

  zmq::context_t ctx(1);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  // A relay that could not bind (the port taken) must not hang the bench.
  dealer.set(zmq::sockopt::rcvtimeo, 10'000);
  dealer.set(zmq::sockopt::linger, 0);
  dealer.connect(front);
  // On an error the relay and spawner would wait for rounds that never come.
  const auto fail = [&](const std::string& why) {
    fprintf(stderr, "zmq_relay: %s\n", why.c_str());
    kill(relay, SIGKILL);
    kill(spawner, SIGKILL);
    waitpid(relay, nullptr, 0);
    waitpid(spawner, nullptr, 0);
    return 1;
  };
  std::vector<double> us;
  const std::string payload(40, 'x');
  for (int round = 0; round < rounds; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    dealer.send(zmq::buffer(payload));
    zmq::message_t answer;
    if (!dealer.recv(answer)) {
      return fail("no answer in 10 s (is port " + std::to_string(port) + " or " +
                  std::to_string(port + 1) + " taken?)");
    }
    int status = -1;
    memcpy(&status, answer.data(), std::min(answer.size(), sizeof status));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return fail("the command failed");
    if (round > 0) {
      us.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  waitpid(relay, nullptr, 0);
  waitpid(spawner, nullptr, 0);
  std::sort(us.begin(), us.end());
  printf("%.1f\n%.1f\n", us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]);
  return 0;
}
