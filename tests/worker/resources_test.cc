// The worker's resources: what it declares from `worker --resource`
// (worker/resources.h), its own account of them (worker/core/
// resource_book.h), and what a step is told it was given.

#include "worker/resources.h"

#include <doctest/doctest.h>

#include "tests/worker/core_fixture.h"
#include "worker/core/resource_book.h"

namespace drover::worker {
namespace {

TEST_CASE("declared resources: memory found unless given, each name once, sorted") {
  Result<std::vector<WorkerResource>> found = DeclaredResources({"licence=2"});
  REQUIRE(found.ok());
  REQUIRE(found->size() == 2);
  CHECK(found->at(0).name == "licence");
  CHECK(found->at(1).name == "mem");
  CHECK(found->at(1).amount == DetectMemoryBytes());
  CHECK(DetectMemoryBytes() > (64ull << 20));  // this machine has memory
  Result<std::vector<WorkerResource>> given = DeclaredResources({"mem=1G", "gpus=0,1"});
  REQUIRE(given.ok());
  CHECK(Amounts(given.value()) == ResourceList{{"gpus", 2}, {"mem", 1ull << 30}});
  Result<std::vector<WorkerResource>> none = DeclaredResources({"mem=0"});
  REQUIRE(none.ok());
  CHECK(none->empty());  // mem=0 turns memory off
  CHECK(DeclaredResources({"gpus=1", "gpus=2"}).status().message() ==
        "--resource gpus is given twice");
  std::vector<std::string> sixteen;
  for (int i = 0; i < 16; ++i) sixteen.push_back("r" + std::to_string(i + 10) + "=1");
  CHECK(DeclaredResources(sixteen).status().message() ==
        "more than 16 resources, mem (found on its own unless given) among them");
  sixteen.push_back("mem=0");
  CHECK(DeclaredResources(sixteen).ok());
}

TEST_CASE("the resource book hands out the lowest free devices and takes them back") {
  ResourceBook book({{"gpus", 3, {"0", "1", "2"}}, {"mem", 8, {}}});
  const ResourceList two = {{"gpus", 2}, {"mem", 4}};
  const ResourceList one = {{"gpus", 1}};
  CHECK(book.Free(two));
  const Grant a = book.Take(two);
  REQUIRE(a.devices.size() == 1);
  CHECK(a.devices[0].second == std::vector<std::string>{"0", "1"});
  CHECK_FALSE(book.Free(two));
  CHECK(book.Free(one));
  const Grant b = book.Take(one);
  CHECK(b.devices[0].second == std::vector<std::string>{"2"});
  book.CheckInvariants();
  book.Give(two, a);
  const Grant c = book.Take(one);
  CHECK(c.devices[0].second == std::vector<std::string>{"0"});
  book.CheckInvariants();
  CHECK(book.Used("gpus") == 2);
  CHECK(book.Used("mem") == 0);
  CHECK(book.NeverFits({{"gpus", 4}}) == "this worker has gpus 3");
  CHECK(book.NeverFits({{"licence", 1}}) == "this worker has no licence");
  CHECK(book.NeverFits(two).empty());
}

TEST_CASE("a step is told what it was given, on a gpu worker, one that asked for none sees none") {
  const std::vector<WorkerResource> declared = {{"gpus", 2, {"0", "1"}}, {"mem", 8, {}}};
  Grant grant;
  grant.devices.emplace_back("gpus", std::vector<std::string>{"1"});
  std::vector<std::string> env;
  ResourceEnv(declared, {{"gpus", 1}, {"mem", 4}}, grant, &env);
  CHECK(env == std::vector<std::string>{"DROVER_RESOURCE_GPUS=1", "DROVER_RESOURCE_MEM=4",
                                        "CUDA_VISIBLE_DEVICES=1", "DROVER_GPUS=1"});
  env.clear();
  ResourceEnv(declared, {}, Grant{}, &env);
  CHECK(env == std::vector<std::string>{"CUDA_VISIBLE_DEVICES=", "DROVER_GPUS="});
  env.clear();
  ResourceEnv({{"mem", 8, {}}}, {}, Grant{}, &env);
  CHECK(env.empty());  // no gpus here: nothing to hide
}

// The worker core with resources (core_fixture.h).
Task WithResources(Task t, ResourceList wants) {
  t.resources = std::move(wants);
  return t;
}

TEST_CASE("the core starts a task only when its resources are free, and gives devices apart") {
  CoreFixture f(/*slots=*/4, {{"gpus", 2, {"0", "1"}}, {"mem", 4ull << 30, {}}});
  f.Dispatch({WithResources(CoreFixture::MakeTask(0), {{"gpus", 1}}),
              WithResources(CoreFixture::MakeTask(1), {{"gpus", 1}}),
              WithResources(CoreFixture::MakeTask(2), {{"gpus", 1}, {"mem", 3ull << 30}}),
              CoreFixture::MakeTask(3)});
  // Two one-gpu tasks at once, on different devices; the third waits for a
  // gpu, and the plain task behind it waits its turn (the queue keeps order).
  REQUIRE(f.StartedSteps() == std::vector<uint32_t>{0, 1});
  CHECK(f.runner.started[0].grant.devices[0].second == std::vector<std::string>{"0"});
  CHECK(f.runner.started[1].grant.devices[0].second == std::vector<std::string>{"1"});
  f.Exit(1);
  REQUIRE(f.StartedSteps() == std::vector<uint32_t>{0, 1, 2, 3});
  CHECK(f.runner.started[2].grant.devices[0].second == std::vector<std::string>{"1"});
  f.Exit(0);
  f.Exit(2);
  f.Exit(3);
}

TEST_CASE("a task asking for more than the worker has fails at once, saying so") {
  CoreFixture f(/*slots=*/2, {{"mem", 1ull << 30, {}}});
  f.Dispatch({WithResources(CoreFixture::MakeTask(0), {{"mem", 8ull << 30}}),
              WithResources(CoreFixture::MakeTask(1), {{"gpus", 1}}), CoreFixture::MakeTask(2)});
  CHECK(f.StartedSteps() == std::vector<uint32_t>{2});
  CHECK(f.OutcomeOf(0) == Outcome::kSpawnFailed);
  CHECK(f.OutcomeOf(1) == Outcome::kSpawnFailed);
  REQUIRE(f.sent.size() >= 2);
  CHECK(f.sent[0].run.error == "it asks for mem 8G and this worker has mem 1G");
  CHECK(f.sent[1].run.error == "it asks for gpus 1 and this worker has no gpus");
}

}  // namespace
}  // namespace drover::worker
