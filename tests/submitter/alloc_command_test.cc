// submitter/alloc_command.h: `submit alloc add`'s flags as typed, turned
// into an allocation queue's parameters, and every mistake named by its flag.

#include "submitter/alloc_command.h"

#include <doctest/doctest.h>

namespace drover::submit {
namespace {

AllocAddFlags Flags() { return AllocAddFlags{.manager = "slurm", .time_limit = "1h"}; }

AllocQueueParams Params(const AllocAddFlags& flags) {
  Result<AllocQueueParams> p = AllocParamsFromFlags(flags);
  REQUIRE_MESSAGE(p.ok(), (p.ok() ? "" : p.status().message()));
  return p.value();
}

std::string Problem(const AllocAddFlags& flags) {
  Result<AllocQueueParams> p = AllocParamsFromFlags(flags);
  REQUIRE(!p.ok());
  return p.status().message();
}

TEST_CASE("alloc add: flags not given keep AllocQueueParams' defaults") {
  const AllocQueueParams p = Params(Flags());
  const AllocQueueParams defaults;
  CHECK(p.manager == "slurm");
  CHECK(p.time_limit_ms == 3'600'000);
  CHECK(p.idle_timeout_ms == kDefaultAllocIdleTimeoutMs);
  CHECK(p.max_workers == defaults.max_workers);
  CHECK(p.workers_per_alloc == defaults.workers_per_alloc);
  CHECK(p.backlog == defaults.backlog);
  CHECK(p.slots == defaults.slots);
  CHECK(p.name.empty());
  CHECK(p.labels.empty());
  CHECK(p.resources.empty());
  CHECK(p.worker_args.empty());
  CHECK(p.sbatch_args.empty());
}

TEST_CASE("alloc add: every flag lands in its field") {
  AllocAddFlags f = Flags();
  f.idle_timeout = "90s";
  f.max_workers = 16;
  f.workers_per_alloc = 4;
  f.backlog = 2;
  f.name = "gpu";
  f.slots = 8;
  f.labels = {"gpu", "zone=a"};
  f.resources = {"mem=64G", "gpus=4"};
  f.worker_args = {"--key", "/home/me/.config/drover/worker.key"};
  f.sbatch_args = {"--partition", "debug", "-N", "2"};
  CHECK(Params(f) == AllocQueueParams{.name = "gpu",
                                      .manager = "slurm",
                                      .time_limit_ms = 3'600'000,
                                      .max_workers = 16,
                                      .workers_per_alloc = 4,
                                      .backlog = 2,
                                      .idle_timeout_ms = 90'000,
                                      .slots = 8,
                                      .labels = {"gpu", "zone=a"},
                                      .resources = {{"gpus", 4}, {"mem", 64ull << 30}},
                                      .worker_args = f.worker_args,
                                      .sbatch_args = f.sbatch_args});
}

TEST_CASE("alloc add: durations as people and Slurm write them") {
  const std::pair<const char*, int64_t> cases[] = {
      {"3600", 3'600'000},      {"90m", 5'400'000},         {"12h", 43'200'000},
      {"2d", 172'800'000},      {"1.5", 1'500},             {"30:00", 1'800'000},
      {"1:30:00", 5'400'000},   {"1-00:00:00", 86'400'000}, {"2-12", 216'000'000},
  };
  for (const auto& c : cases) {
    // Not a structured binding: clang 14 cannot capture one (CAPTURE does).
    const char* text = c.first;
    const int64_t ms = c.second;
    CAPTURE(text);
    AllocAddFlags f = Flags();
    f.time_limit = text;
    f.idle_timeout = text;
    const AllocQueueParams p = Params(f);
    CHECK(p.time_limit_ms == ms);
    CHECK(p.idle_timeout_ms == ms);
  }
}

TEST_CASE("alloc add: a bad duration names its flag and value") {
  AllocAddFlags f = Flags();
  f.time_limit = "an hour";
  CHECK(Problem(f) ==
        "--time-limit: expected a duration above 0 such as 3600, 90m, 12h or 1-00:00:00, got "
        "\"an hour\"");
  for (const char* bad : {"0", "0s", "-5m", "UNLIMITED", ""}) {
    CAPTURE(bad);
    f.time_limit = bad;
    CHECK(Problem(f).starts_with("--time-limit: expected a duration above 0"));
  }
  f = Flags();
  f.idle_timeout = "5 min";
  CHECK(Problem(f) ==
        "--idle-timeout: expected a duration above 0 such as 3600, 90m, 12h or 1-00:00:00, got "
        "\"5 min\"");
  f.idle_timeout = "0";
  CHECK(Problem(f).starts_with("--idle-timeout: expected a duration above 0"));
}

TEST_CASE("alloc add: resources in the worker's grammar, sorted, each once") {
  AllocAddFlags f = Flags();
  f.resources = {"licence=2", "mem=1.5G", "gpus=2"};
  CHECK(Params(f).resources ==
        ResourceList{{"gpus", 2}, {"licence", 2}, {"mem", (3ull << 30) / 2}});

  f.resources = {"mem"};
  CHECK(Problem(f) ==
        "--resource \"mem\": expected NAME=AMOUNT (e.g. mem=64G, gpus=0,1, licence=2)");
  f.resources = {"GPU=1"};
  CHECK(Problem(f).starts_with("--resource \"GPU=1\": \"GPU\" is not a resource name"));
  f.resources = {"mem=lots"};
  CHECK(Problem(f).starts_with("--resource \"mem=lots\": expected a whole number"));
  f.resources = {"gpus=2", "mem=4G", "gpus=4"};
  CHECK(Problem(f) == "--resource gpus is given twice");
  f.resources = {"licence=0"};
  CHECK(Problem(f) == "--resource \"licence=0\": the amount must be above 0");
}

TEST_CASE("alloc add: device lists are refused, with the count to give instead") {
  AllocAddFlags f = Flags();
  f.resources = {"gpus=0,1"};
  CHECK(Problem(f) ==
        "--resource \"gpus=0,1\": give an amount (gpus=2), not device ids: which devices a node "
        "has is not known before it is allocated");
  f.resources = {"gpus=[3]"};
  CHECK(Problem(f).starts_with("--resource \"gpus=[3]\": give an amount (gpus=1)"));
}

TEST_CASE("alloc add: the broker's own checks, in the flags' words") {
  AllocAddFlags f = Flags();
  f.time_limit.reset();
  CHECK(Problem(f) == "a time limit is needed (--time-limit)");
  f = Flags();
  f.manager = "pbs";
  CHECK(Problem(f) == "unknown manager \"pbs\" (only slurm)");
  f = Flags();
  f.workers_per_alloc = 0;
  CHECK(Problem(f) == "--workers-per-alloc must be at least 1");
  f = Flags();
  f.backlog = 0;
  CHECK(Problem(f) == "--backlog must be at least 1");
  f = Flags();
  f.workers_per_alloc = 4;
  f.max_workers = 2;
  CHECK(Problem(f) == "--max-workers 2 is below --workers-per-alloc 4: no allocation could ever "
                      "be submitted");
  f.max_workers = 0;  // no limit
  CHECK(Params(f).max_workers == 0);
  f = Flags();
  f.slots = 0;
  CHECK(Problem(f) == "--slots must be at least 1");
  f = Flags();
  f.labels = {"gpu", "two words"};
  CHECK(Problem(f) == "--label \"two words\": use only letters, digits and _ . : = + -");
  f = Flags();
  for (int i = 0; i < 17; ++i) f.resources.push_back("r" + std::to_string(i) + "=1");
  CHECK(Problem(f) == "--resource: 17 of them, more than 16");
}

TEST_CASE("alloc add: worker arguments verbatim, but not what has a flag of its own") {
  AllocAddFlags f = Flags();
  f.worker_args = {"--key=/k/worker.key", "--broker-key", "/k/broker.pub", "--slotsy"};
  CHECK(Params(f).worker_args == f.worker_args);
  for (const char* own : {"--slots", "--slots=4", "--label", "--resource=mem=4G",
                          "--idle-timeout"}) {
    CAPTURE(own);
    f.worker_args = {"--prefetch", "0", own};
    CHECK(Problem(f).starts_with("--worker-arg \"" + std::string(own) + "\": give it as `submit "
                                 "alloc add --"));
  }
  // What the broker's script sets for each worker: refused by the shared
  // check, which the broker makes too.
  for (const char* set : {"--name", "--broker=tcp://x:1", "--state-dir"}) {
    CAPTURE(set);
    f.worker_args = {set, "x"};
    CHECK(Problem(f).starts_with("--worker-arg --"));
  }
}

TEST_CASE("alloc add: another cluster's allocations are refused: they could not be followed") {
  AllocAddFlags f = Flags();
  for (const char* other : {"-M", "-Mbig", "--clusters=big", "--cluster"}) {
    CAPTURE(other);
    f.sbatch_args = {other, "big"};
    CHECK(Problem(f).starts_with(std::string("sbatch option ") + other + ": allocations on "));
  }
  f.sbatch_args = {"--mem=4G", "--mail-type=END"};
  CHECK(Params(f).sbatch_args == f.sbatch_args);
}

TEST_CASE("alloc add: sbatch arguments verbatim, starting with an option") {
  AllocAddFlags f = Flags();
  f.sbatch_args = {"--partition", "debug", "-N", "2", "--constraint=a&b", "--comment", "x y"};
  CHECK(Params(f).sbatch_args == f.sbatch_args);
  f.sbatch_args = {"debug", "--partition"};
  CHECK(Problem(f) == "sbatch arguments: \"debug\" is not an option; they go after -- and start "
                      "with one (-- --partition debug)");
}

}  // namespace
}  // namespace drover::submit
