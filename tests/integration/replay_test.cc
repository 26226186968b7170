// Replay is total: whatever a broker accepted, it starts again with, under
// any limits it is restarted with; a record that cannot be applied costs
// its one job (marked failed, with the reason), never the broker.

#include <signal.h>

#include <doctest/doctest.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "broker/recovery.h"
#include "shared/crc32c.h"
#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using std::chrono::seconds;

Run Status(Cluster& c) {
  // A broker replaying a 100,001-step job under a sanitizer takes seconds
  // before it listens.
  return RunCommand({BinDir() + "/submit", "--connect-timeout", "60", "status", "--broker",
                     c.endpoint()},
                    c.dir(), seconds(90));
}

// Submitted with --detach (no worker runs it): its id.
std::string Detach(Cluster& c, const std::string& name, const nlohmann::json& job,
                   const std::vector<std::string>& flags = {}) {
  std::vector<std::string> args = {"--detach"};
  args.insert(args.end(), flags.begin(), flags.end());
  Run r = c.Submit(c.dir().Write(name, job.dump()), args);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  return r.out.substr(0, r.out.find('\n'));
}

TEST_CASE("replay: jobs accepted under wider limits come back, whatever the limits") {
  Cluster c({.broker_args = {"--max-env-vars", "10000"}});
  nlohmann::json env = nlohmann::json::object();
  for (int i = 0; i < 5000; ++i) env["V" + std::to_string(i)] = "x";
  Detach(c, "env.json",
         {{"name", "env"}, {"steps", {{{"id", "a"}, {"argv", {"true"}}, {"env", env}}}}},
         {"--max-env-vars", "10000"});
  // 100,000 `after` entries on one step: the default limit, exactly. (Not
  // under a sanitizer: there the 100,001 steps alone take half a minute.)
  const int wide_steps = SanitizedPrograms() ? 1'000 : 100'000;
  nlohmann::json wide = {{"name", "wide"}, {"steps", nlohmann::json::array()}};
  nlohmann::json after = nlohmann::json::array();
  for (int i = 0; i < wide_steps; ++i) {
    wide["steps"].push_back({{"id", "s" + std::to_string(i)}, {"argv", {"true"}}});
    after.push_back("s" + std::to_string(i));
  }
  wide["steps"].push_back({{"id", "last"}, {"argv", {"true"}}, {"after", after}});
  Detach(c, "wide.json", wide);

  c.KillBroker();
  c.RestartBroker();
  Run status = Status(c);
  INFO(c.BrokerLogs());
  REQUIRE(status.exit_code == 0);
  CHECK(status.out.find("job 1 (env): running, 0/1 succeeded") != std::string::npos);
  CHECK(status.out.find("job 2 (wide): running, 0/" + std::to_string(wide_steps + 1) +
                        " succeeded") != std::string::npos);
  // Restarted with the defaults (4096 variables): still there.
  c.KillBroker();
  c.RestartBroker();
  CHECK(Status(c).out.find("job 1 (env): running") != std::string::npos);
}

// Rewrites, in the journal file at `path`, the job file of job `job`'s
// JobRecord with bytes MessagePack never uses, keeping its size and making
// its checksum right: damage no checksum can see.
bool DamageJobRecord(const std::string& path, uint64_t job) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  for (size_t at = 0; at + 8 <= bytes.size();) {
    uint32_t length = 0;
    std::memcpy(&length, bytes.data() + at, 4);
    if (at + 8 + length > bytes.size()) break;
    std::string_view payload(bytes.data() + at + 8, length);
    Result<broker::Record> record = broker::DecodeRecord(payload);
    auto* r = record.ok() ? std::get_if<broker::JobRecord>(&record.value()) : nullptr;
    if (r != nullptr && r->job.value == job) {
      std::fill(r->job_file.bytes.begin(), r->job_file.bytes.end(), '\xc1');
      std::string out;
      broker::EncodeRecord(*r, &out);
      if (out.size() != length) return false;
      std::memcpy(bytes.data() + at + 8, out.data(), length);
      const uint32_t crc = Crc32cExtend(Crc32cExtend(0, bytes.data() + at, 4), out.data(), length);
      std::memcpy(bytes.data() + at + 4, &crc, 4);
      f.seekp(0);
      f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      return true;
    }
    at += 8 + length;
  }
  return false;
}

TEST_CASE("replay: a damaged record costs its one job, marked failed, and the broker starts") {
  Cluster c;
  for (const char* name : {"one", "two", "three"}) {
    Detach(c, std::string(name) + ".json",
           {{"name", name}, {"steps", {{{"id", "a"}, {"argv", {"true"}}}}}});
  }
  c.KillBroker();
  REQUIRE(DamageJobRecord(c.dir().path() + "/state/journal/journal-1", 2));
  c.RestartBroker();
  Run status = Status(c);
  INFO(c.BrokerLogs());
  REQUIRE(status.exit_code == 0);
  CHECK(status.out.find("job 1 (one): running") != std::string::npos);
  CHECK(status.out.find("job 2: failed") != std::string::npos);
  CHECK(status.out.find("    the broker could not bring it back after a restart: job 2 no "
                        "longer loads") != std::string::npos);
  CHECK(status.out.find("job 3 (three): running") != std::string::npos);
  CHECK(c.broker().err().find("broker critical: job 2 cannot be brought back") !=
        std::string::npos);
  Run watched = RunCommand({BinDir() + "/submit", "--watch", "2", "--broker", c.endpoint()},
                           c.dir(), seconds(30));
  CHECK(watched.exit_code != 0);
  CHECK(watched.err.find("job 2 failed: the broker could not bring it back") != std::string::npos);
  // It stays so across the next restart and snapshot; ids go on after it.
  c.broker().Signal(SIGTERM);
  REQUIRE(c.broker().Wait(seconds(10)).has_value());
  c.RestartBroker();
  CHECK(Status(c).out.find("could not bring it back") != std::string::npos);
  CHECK(Detach(c, "four.json", {{"name", "four"}, {"steps", {{{"id", "a"}, {"argv", {"true"}}}}}}) ==
        "4");
}

}  // namespace
}  // namespace drover::testing
