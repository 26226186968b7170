// Owners: a job belongs to whoever submitted it. With keys, a submitter sees,
// follows, cancels, resumes and forgets only its own jobs, unless its key is
// on admins.allow; without keys, the owner is the user name submit gave,
// shown as unverified, and everyone sees everything.

#include <signal.h>

#include <doctest/doctest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/harness.h"

namespace drover::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

const nlohmann::json kSlowJob = {{"name", "slow"},
                                 {"steps", {{{"id", "nap"}, {"argv", {"sleep", "30"}}}}}};

// `submit ARGS... --broker ENDPOINT` with the key pair `base` ("" for the
// cluster's own user).
Run As(Cluster& c, const std::string& base, std::vector<std::string> args) {
  std::vector<std::string> argv = {BinDir() + "/submit"};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.insert(argv.end(), {"--broker", c.endpoint()});
  return RunCommand(argv, c.dir(), seconds(60), base.empty() ? c.user_env() : c.KeyEnv(base));
}

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

TEST_CASE("owners: with keys a submitter acts on its own jobs only, an admin on all") {
  Cluster c({.keys = true});
  // No worker: the job stays running. Its owner is the key named "user".
  Run sent = c.Submit(c.dir().Write("slow.json", kSlowJob.dump()), {"--detach"});
  REQUIRE_MESSAGE(sent.exit_code == 0, sent.err);
  REQUIRE(sent.out == "1\n");

  const std::string bob = c.MakeKey("bob"), boss = c.MakeKey("boss");
  c.dir().Write("keys/submitters.allow",
                ReadFile(c.key_dir() + "/submitters.allow") + ReadFile(bob + ".pub"));
  c.dir().Write("keys/admins.allow", ReadFile(boss + ".pub"));
  c.broker().Signal(SIGHUP);
  Run bob_status;
  REQUIRE(WaitUntil(milliseconds(10'000), [&] {
    bob_status = As(c, bob, {"status"});
    return bob_status.exit_code == 0;
  }));
  CHECK_MESSAGE(Has(bob_status.out, "0 job(s)"), bob_status.out);

  Run watch = As(c, bob, {"--watch", "1"});
  CHECK(watch.exit_code == 2);
  CHECK_MESSAGE(Has(watch.err, "job 1 belongs to user: only its owner or an admin "
                               "(admins.allow) may watch it"),
                watch.err);
  Run cancel = As(c, bob, {"--cancel", "1"});
  CHECK(cancel.exit_code == 2);
  CHECK(Has(cancel.err, "may cancel it"));
  Run forget = As(c, bob, {"forget", "1"});
  CHECK(forget.exit_code == 2);
  CHECK(Has(forget.err, "may forget it"));
  // Nor list it, or read its steps or output.
  CHECK(As(c, bob, {"jobs"}).out == "no jobs\n");
  Run logs = As(c, bob, {"logs", "1"});
  CHECK(logs.exit_code == 2);
  CHECK_MESSAGE(Has(logs.err, "job 1 belongs to user: only its owner or an admin (admins.allow) "
                              "may read it"),
                logs.err);
  CHECK(As(c, bob, {"info", "1"}).exit_code == 2);
  Run admin_jobs = As(c, boss, {"jobs", "--json"});
  REQUIRE(JsonLines(admin_jobs.out).size() == 1);
  CHECK(JsonLines(admin_jobs.out)[0]["owner"] == "user");
  CHECK(JsonLines(admin_jobs.out)[0]["owner_verified"] == true);
  CHECK(As(c, boss, {"info", "1"}).exit_code == 0);

  // Its owner sees it, named; so does the admin, who may cancel it.
  CHECK(Has(As(c, "", {"status"}).out, "job 1 (slow): running, 0/1 succeeded, 0 running, "
                                       "0 failed, by user\n"));
  CHECK(Has(As(c, boss, {"status"}).out, "job 1 (slow): running"));
  Run admin_cancel = As(c, boss, {"--cancel", "1"});
  CHECK_MESSAGE(admin_cancel.exit_code == 0, admin_cancel.err);

  // Bob's own job is his, and the owners outlive a restart.
  Run bobs = As(c, bob, {c.dir().path() + "/slow.json", "--detach"});
  REQUIRE(bobs.out == "2\n");
  c.KillBroker();
  c.RestartBroker();
  Run user_status;
  REQUIRE(WaitUntil(milliseconds(10'000), [&] {
    user_status = As(c, "", {"status"});
    return user_status.exit_code == 0;
  }));
  CHECK(Has(user_status.out, "job 1 (slow): cancelled"));
  CHECK_FALSE(Has(user_status.out, "job 2 "));
  CHECK(Has(As(c, bob, {"status"}).out, "job 2 (slow): running, 0/1 succeeded, 0 running, "
                                        "0 failed, by bob\n"));
  CHECK(As(c, bob, {"--resume", "1", "--detach"}).exit_code == 2);
  CHECK(As(c, bob, {"--watch", "1"}).exit_code == 2);
  CHECK(As(c, boss, {"forget", "1"}).exit_code == 0);
}

TEST_CASE("owners: without keys the owner is the user name submit gave, unverified") {
  Cluster c;
  Run sent = c.Submit(c.dir().Write("slow.json", kSlowJob.dump()), {"--detach"});
  REQUIRE(sent.exit_code == 0);
  Run status = As(c, "", {"status"});
  // On the job's line, or under it when that would pass 80 columns.
  CHECK_MESSAGE(Has(status.out, " (unverified)\n"), status.out);
  CHECK(Has(status.out, "job 1 (slow): running, 0/1 succeeded, 0 running, 0 failed"));
  for (const std::string& line : Lines(status.out)) CHECK(line.size() <= 80);
}

}  // namespace
}  // namespace drover::testing
