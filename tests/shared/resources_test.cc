// shared/resources.h: resource names, amounts and `--resource` values as
// people write them, and how they read.

#include "shared/resources.h"

#include <doctest/doctest.h>

namespace drover {
namespace {

uint64_t Amount(std::string_view text) {
  Result<uint64_t> r = ParseAmount(text);
  REQUIRE_MESSAGE(r.ok(), text);
  return r.value();
}

std::string Problem(std::string_view text) {
  Result<uint64_t> r = ParseAmount(text);
  REQUIRE_MESSAGE(!r.ok(), text);
  return r.status().message();
}

WorkerResource Flag(std::string_view text) {
  Result<WorkerResource> r = ParseResourceFlag(text);
  REQUIRE_MESSAGE(r.ok(), text);
  return r.value();
}

std::string FlagProblem(std::string_view text) {
  Result<WorkerResource> r = ParseResourceFlag(text);
  REQUIRE_MESSAGE(!r.ok(), text);
  return r.status().message();
}

TEST_CASE("--resource takes amounts, device lists, and gpus as a count of devices") {
  CHECK(Flag("mem=64G") == WorkerResource{"mem", 64ull << 30, {}});
  CHECK(Flag("licence=2") == WorkerResource{"licence", 2, {}});
  CHECK(Flag("gpus=2") == WorkerResource{"gpus", 2, {"0", "1"}});
  CHECK(Flag("gpus=1,3") == WorkerResource{"gpus", 2, {"1", "3"}});
  CHECK(Flag("gpus=[3]") == WorkerResource{"gpus", 1, {"3"}});
  CHECK(Flag("gpus=[GPU-8f3a,GPU-11b2]") == WorkerResource{"gpus", 2, {"GPU-8f3a", "GPU-11b2"}});
  CHECK(Flag("fpga=[a,b]") == WorkerResource{"fpga", 2, {"a", "b"}});
  CHECK(FlagProblem("mem") == "\"mem\": expected NAME=AMOUNT (e.g. mem=64G, gpus=0,1, licence=2)");
  CHECK(FlagProblem("Mem=4G") == "\"Mem=4G\": \"Mem\" is not a resource name (a lowercase "
                                 "letter, then lowercase letters, digits or _ (at most 32))");
  CHECK(FlagProblem("mem=lots") == "\"mem=lots\": expected a whole number, or a size such as "
                                   "\"4G\" or \"512M\", got \"lots\"");
  CHECK(FlagProblem("gpus=0,,1") == "\"gpus=0,,1\": \"\" is not a device id (letters, digits "
                                    "and _ . : -)");
  CHECK(FlagProblem("gpus=0,0") == "\"gpus=0,0\": device \"0\" is listed twice");
}

TEST_CASE("amounts: whole numbers, and sizes in powers of 1024 as Slurm writes them") {
  CHECK(Amount("0") == 0);
  CHECK(Amount("2") == 2);
  CHECK(Amount("4G") == 4ull << 30);
  CHECK(Amount("4g") == 4ull << 30);
  CHECK(Amount("4GB") == 4ull << 30);
  CHECK(Amount("4GiB") == 4ull << 30);
  CHECK(Amount("512M") == 512ull << 20);
  CHECK(Amount("1.5G") == 3ull << 29);
  CHECK(Amount("0.5K") == 512);
  CHECK(Amount("1.001K") == 1026);  // a part of a byte rounds up
  CHECK(Amount("2T") == 2ull << 40);
  CHECK(Amount("8P") == 8ull << 50);
  CHECK(Amount("8191P") == 8191ull << 50);
  CHECK(Amount("9223372036854775808") == 1ull << 63);
}

TEST_CASE("amounts: what is not one says what was expected") {
  CHECK(Problem("4 G") ==
        "expected a whole number, or a size such as \"4G\" or \"512M\", got \"4 G\"");
  CHECK(Problem("G").find("expected a whole number") == 0);
  CHECK(Problem("") .find("expected a whole number") == 0);
  CHECK(Problem("-1").find("expected a whole number") == 0);
  CHECK(Problem("1e9").find("expected a whole number") == 0);
  CHECK(Problem("4X").find("expected a whole number") == 0);
  CHECK(Problem("4GX").find("expected a whole number") == 0);
  CHECK(Problem("1..5G").find("expected a whole number") == 0);
  CHECK(Problem(".5G").find("expected a whole number") == 0);
  CHECK(Problem("1.5") == "a count must be a whole number, got \"1.5\"");
  CHECK(Problem("8193P") == "\"8193P\" is too large");
  CHECK(Problem("9223372036854775809") == "\"9223372036854775809\" is too large");
  CHECK(Problem("99999999999999999999") == "\"99999999999999999999\" is too large");
}

TEST_CASE("memory reads as a size, other resources as numbers") {
  CHECK(FormatAmount("mem", 4ull << 30) == "4G");
  CHECK(FormatAmount("mem", 3ull << 29) == "1.5G");
  CHECK(FormatAmount("mem", (4ull << 30) - 1) == "3.9G");  // never rounded up to what it is not
  CHECK(FormatAmount("mem", 512ull << 20) == "512M");
  CHECK(FormatAmount("mem", 100) == "100B");
  CHECK(FormatAmount("mem", 0) == "0");
  CHECK(FormatAmount("gpus", 2) == "2");
  CHECK(FormatAmount("licence", 1ull << 30) == "1073741824");
  CHECK(FormatResources({{"gpus", 1}, {"mem", 8ull << 30}}) == "gpus 1, mem 8G");
  CHECK(ResourceEnvName("scratch_disk") == "DROVER_RESOURCE_SCRATCH_DISK");
}

TEST_CASE("resource names and lists from elsewhere are checked") {
  CHECK(IsResourceName("mem"));
  CHECK(IsResourceName("gpus"));
  CHECK(IsResourceName("licence_2"));
  CHECK_FALSE(IsResourceName(""));
  CHECK_FALSE(IsResourceName("Mem"));
  CHECK_FALSE(IsResourceName("2gpus"));
  CHECK_FALSE(IsResourceName("my-licence"));
  CHECK_FALSE(IsResourceName(std::string(33, 'a')));
  CHECK(CheckResourceList({{"gpus", 2}, {"mem", 1}}).empty());
  CHECK(CheckResourceList({{"mem", 1}, {"gpus", 2}}) == "not sorted by name, or a name twice");
  CHECK(CheckResourceList({{"mem", 1}, {"mem", 2}}) == "not sorted by name, or a name twice");
  CHECK(CheckResourceList({{"mem", 0}}) == "mem: amount 0 out of range");
  CHECK(CheckResourceList({{"Bad Name", 1}}) == "\"Bad Name\" is not a resource name");
  CHECK(CheckResourceList(ResourceList(17, ResourceAmount{"a", 1})) == "17 of them, more than 16");
}

}  // namespace
}  // namespace drover
