// zmq_pingpong: the transport's own floor. A DEALER and a ROUTER in two
// processes on loopback TCP bounce a small message N times; prints the median
// and p99 round trip in microseconds, one per line. Every Drover round trip
// (client-broker, broker-worker) costs at least this.
//
//   zmq_pingpong --count 2000 [--port P]

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

int main(int argc, char** argv) {
  int count = 2000, port = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--count")) count = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
  }
  if (port == 0) port = 20000 + getpid() % 20000;
  const std::string endpoint = "tcp://127.0.0.1:" + std::to_string(port);
  const pid_t echo = fork();  // before any ZeroMQ context exists
  if (echo == 0) {
    zmq::context_t ctx(1);
    zmq::socket_t router(ctx, zmq::socket_type::router);
    router.bind(endpoint);
    for (int i = 0; i < count + 1; ++i) {
      zmq::message_t id, body;
      if (!router.recv(id) || !router.recv(body)) _exit(1);
      router.send(id, zmq::send_flags::sndmore);
      router.send(body, zmq::send_flags::none);
    }
    usleep(100'000);
    _exit(0);
  }
  zmq::context_t ctx(1);
  zmq::socket_t dealer(ctx, zmq::socket_type::dealer);
  dealer.connect(endpoint);
  std::vector<double> us;
  const std::string payload(40, 'x');
  for (int i = 0; i < count + 1; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    dealer.send(zmq::buffer(payload));
    zmq::message_t reply;
    if (!dealer.recv(reply)) return 1;
    if (i > 0) {  // the first one pays for connecting
      us.push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    }
  }
  waitpid(echo, nullptr, 0);
  std::sort(us.begin(), us.end());
  printf("%.1f\n%.1f\n", us[us.size() / 2], us[std::min(us.size() - 1, us.size() * 99 / 100)]);
  return 0;
}
