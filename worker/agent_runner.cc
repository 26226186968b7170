// Agent (agent.h): the process runner its core starts and stops tasks
// through (worker/core/process_runner.h). Each task is vetted against the
// worker's run policy, given its environment, and spawned by the ProcessSet.

#include <spdlog/spdlog.h>

#include <stdlib.h>

#include <algorithm>

#include "shared/clock.h"
#include "worker/agent.h"
#include "worker/resources.h"

namespace drover::worker {

std::vector<std::string> Agent::ChildEnv(const Task& task, const Grant& grant) const {
  // The worker's environment (minus its own DROVER_*), then Drover's
  // variables (resources among them), then the step's, each replacing
  // earlier ones of that name.
  auto overridden = [&task](std::string_view entry) {
    const std::string_view name = entry.substr(0, entry.find('='));
    return std::any_of(task.env.begin(), task.env.end(),
                       [&](const auto& kv) { return kv.first == name; });
  };
  std::vector<std::string> env;
  env.reserve(base_env_.size() + 5 + task.env.size());
  for (const std::string& entry : base_env_) {
    if (task.env.empty() || !overridden(entry)) env.push_back(entry);
  }
  std::vector<std::string> drover = {"DROVER_JOB_ID=" + std::to_string(task.key.job.value),
                                     "DROVER_STEP_ID=" + task.step_id,
                                     "DROVER_ATTEMPT=" + std::to_string(task.key.attempt.value),
                                     "DROVER_WORKER=" + options_.name};
  ResourceEnv(options_.resources, task.resources, grant, &drover);
  for (std::string& entry : drover) {
    if (task.env.empty() || !overridden(entry)) env.push_back(std::move(entry));
  }
  for (const auto& [name, value] : task.env) env.push_back(name + "=" + value);
  // Last, so no step can hide from a restarted worker's KillLeftovers.
  if (!options_.instance.empty()) env.push_back("DROVER_WORKER_INSTANCE=" + options_.instance);
  return env;
}

Status Agent::Vet(SpawnSpec* spec, const Task& task) const {
  const RunPolicy& policy = options_.policy;
  auto refused = [&](const std::string& why) {
    return Status::Error("refused by worker " + options_.name + ": " + why);
  };
  if (std::optional<std::string> why = RefuseEnv(policy, task.env)) return refused(*why);
  if (policy.allow.empty()) return Status::Ok();
  // The program as exec would find it, then with every symlink and ".."
  // resolved: that is what the prefixes are about, and what runs.
  Result<std::string> found = FindProgram(spec->argv[0], spec->env, spec->cwd);
  if (!found.ok()) return found.status();  // it could not run anyway: say why
  std::string path = found.value();
  if (path[0] != '/' && !spec->cwd.empty()) path = spec->cwd + "/" + path;
  char* real = realpath(path.c_str(), nullptr);
  if (real == nullptr) return ErrnoStatus("cannot run \"" + spec->argv[0] + "\"", errno);
  spec->program = real;
  free(real);
  if (std::optional<std::string> why = RefuseProgram(policy, spec->program, spec->argv[0])) {
    return refused(*why);
  }
  return Status::Ok();
}

Result<ProcessRunner::Id> Agent::Start(Task& task, const Grant& grant, int64_t /*now*/) {
  SpawnSpec spec;
  spec.argv = std::move(task.argv);
  spec.env = ChildEnv(task, grant);
  spec.cwd = std::move(task.cwd);
  spec.stdin_data = std::move(task.stdin_data.bytes);
  spec.stdin_stream = task.stdin_stream;
  spec.timeout_ms = task.timeout_ms;
  if (Status vetted = Vet(&spec, task); !vetted.ok()) {
    spdlog::info("{} ({}) could not start: {}", ToString(task.key), task.step_id, vetted.message());
    return vetted;
  }
  // The clock now, not the loop turn's `now`: the turn may have spent a
  // while (starting other steps), and the timeout counts from the spawn.
  Result<ProcessSet::Id> id = processes_->Spawn(spec, MonotonicMs());
  if (!id.ok()) {
    spdlog::info("{} ({}) could not start: {}", ToString(task.key), task.step_id,
                 id.status().message());
  } else if (task.stdin_stream && welcomed_) {
    // The child runs: the broker may send its stdin now.
    Send(InputCredit{task.key, 0, 0, false, false});
  }
  return id;
}

void Agent::Stop(ProcessRunner::Id id, Outcome why, int64_t now, int64_t grace_ms) {
  if (RunningTask* task = core_.FindRunning(id); task != nullptr && task->cut_off) {
    spdlog::warn("stopping {}: out of touch with the broker for {:.1f} s of its {:.1f} s lease",
                 ToString(task->key), (now - last_heard_) / 1000.0, task->lease_ms / 1000.0);
  }
  processes_->Terminate(id, why, now, grace_ms);
}

}  // namespace drover::worker
