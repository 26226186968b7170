#include "worker/run_policy.h"

#include <doctest/doctest.h>

namespace drover::worker {
namespace {

TEST_CASE("prefixes match whole path components") {
  CHECK(IsUnderPrefix("/opt/jobs/run", "/opt/jobs"));
  CHECK(IsUnderPrefix("/opt/jobs/run", "/opt/jobs/"));
  CHECK(IsUnderPrefix("/opt/jobs/a/b/c", "/opt/jobs"));
  CHECK(IsUnderPrefix("/opt/jobs", "/opt/jobs"));  // a prefix may name one program
  CHECK_FALSE(IsUnderPrefix("/opt/jobsX/evil", "/opt/jobs"));
  CHECK_FALSE(IsUnderPrefix("/opt/job", "/opt/jobs"));
  CHECK_FALSE(IsUnderPrefix("/opt", "/opt/jobs"));
  CHECK_FALSE(IsUnderPrefix("/usr/bin/rm", "/opt/jobs"));
  CHECK(IsUnderPrefix("/usr/bin/rm", "/"));
  CHECK(IsUnderPrefix("/usr/bin/dash", "/usr/bin/dash"));
  CHECK_FALSE(IsUnderPrefix("/usr/bin/dash2", "/usr/bin/dash"));
}

TEST_CASE("no prefixes allow every program, and a refusal lists the prefixes") {
  RunPolicy open;
  CHECK_FALSE(RefuseProgram(open, "/usr/bin/rm").has_value());
  RunPolicy closed{{"/opt/jobs", "/usr/local/bin/"}, false};
  CHECK_FALSE(RefuseProgram(closed, "/opt/jobs/train").has_value());
  CHECK_FALSE(RefuseProgram(closed, "/usr/local/bin/tool").has_value());
  const auto reason = RefuseProgram(closed, "/usr/bin/rm");
  REQUIRE(reason.has_value());
  CHECK(*reason == "/usr/bin/rm is not under an allowed prefix (/opt/jobs/, /usr/local/bin/)");
  CHECK(RefuseProgram(closed, "/opt/jobsX/evil").has_value());
  CHECK(*RefuseProgram(closed, "/usr/bin/rm", "rm") ==
        "\"rm\" (/usr/bin/rm) is not under an allowed prefix (/opt/jobs/, /usr/local/bin/)");
}

TEST_CASE("variables that load code are loader variables and ordinary ones are not") {
  for (const char* name :
       {"LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "LD_BIND_NOW", "LD_DEBUG_OUTPUT", "LD_PROFILE",
        "GCONV_PATH", "GLIBC_TUNABLES", "LOCPATH", "NLSPATH", "GETCONF_DIR", "MALLOC_TRACE"}) {
    CHECK_MESSAGE(IsLoaderEnvName(name), name);
  }
  for (const char* name : {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "OLD_PRELOAD", "ld_preload",
                           "LD", "PYTHONPATH"}) {
    CHECK_MESSAGE(!IsLoaderEnvName(name), name);
  }
}

TEST_CASE("a step's loader variables are refused unless the worker allows them") {
  const std::vector<std::pair<std::string, std::string>> env = {{"A", "1"},
                                                                {"LD_PRELOAD", "/tmp/x.so"}};
  RunPolicy policy;
  const auto reason = RefuseEnv(policy, env);
  REQUIRE(reason.has_value());
  CHECK(reason->find("LD_PRELOAD") != std::string::npos);
  CHECK(reason->find("--allow-loader-env") != std::string::npos);
  CHECK_FALSE(RefuseEnv(policy, {{"A", "1"}, {"PATH", "/bin"}}).has_value());
  policy.allow_loader_env = true;
  CHECK_FALSE(RefuseEnv(policy, env).has_value());
}

}  // namespace
}  // namespace drover::worker
