// RunPolicy: what a worker agrees to run, decided before a step starts
// (`worker --allow PREFIX`, `worker --allow-loader-env`; docs/jobs.md).
//
// Pure: no file system, no process. The agent resolves a step's program the
// way it would exec it (PATH search, then realpath) and asks here whether
// the result may run; the reasons returned are for people and end up as the
// step's failure reason.
//
//   - Program prefixes match whole path components: "/opt/jobs" allows
//     "/opt/jobs" itself and "/opt/jobs/x/y", never "/opt/jobsX/evil". Both
//     sides must already be canonical (absolute, no "..", no symlinks).
//   - No prefixes at all means any program may run.
//   - Loader variables (IsLoaderEnvName) in a step's own env are refused
//     unless allow_loader_env: they make every program load code of the
//     job's choosing, whatever the allow-list says. The worker's own
//     environment is the operator's and is not checked.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace drover::worker {

struct RunPolicy {
  std::vector<std::string> allow;  // canonical path prefixes; empty: anything runs
  bool allow_loader_env = false;
};

// True when `path` is `prefix` or lies under it, compared component by
// component. REQUIRES: both absolute and canonical.
bool IsUnderPrefix(std::string_view path, std::string_view prefix);

// True for the environment variables through which glibc loads code or
// reads files a program trusts: every LD_* (the dynamic loader: LD_PRELOAD,
// LD_LIBRARY_PATH, LD_AUDIT, ...), GCONV_PATH (iconv modules), GLIBC_TUNABLES,
// LOCPATH, NLSPATH, GETCONF_DIR and MALLOC_TRACE. The list is glibc's own list
// of variables it removes for set-user-ID programs (unsecvars.h) less those
// that only change data a program reads (TMPDIR, TZDIR, the resolver's).
bool IsLoaderEnvName(std::string_view name);

// Why a program (canonical path) may not run, or nullopt if it may:
// "/usr/bin/rm is not under an allowed prefix (/opt/jobs/, /usr/local/bin/)",
// or with `as_written` (argv[0], when it differs from the path)
// "\"rm\" (/usr/bin/rm) is not under ...".
std::optional<std::string> RefuseProgram(const RunPolicy& policy, std::string_view program,
                                         std::string_view as_written = {});

// Why a step's own environment may not be used, or nullopt:
// "its env sets LD_PRELOAD, which changes the code programs load (the worker
// allows that only with --allow-loader-env)".
std::optional<std::string> RefuseEnv(const RunPolicy& policy,
                                     const std::vector<std::pair<std::string, std::string>>& env);

}  // namespace drover::worker
