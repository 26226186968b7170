// Server (server.h): what clients ask about: `submit status` and `submit
// jobs`. Running jobs come from the core, ended ones from FinishedJobs; the
// shell adds what only it keeps (owners, submission times).

#include <algorithm>
#include <memory>

#include "broker/server.h"
#include "shared/clock.h"

namespace drover::broker {

std::vector<JobStatus> Server::JobsSeenBy(const std::string* route) const {
  std::vector<JobStatus> jobs = scheduler_.JobStatuses();
  std::erase_if(jobs, [&](JobStatus& j) {
    auto r = running_.find(j.id);
    if (r == running_.end()) return false;
    j.owner = r->second.owner;
    j.owner_verified = !r->second.owner_key.empty();
    j.submitted_ms = r->second.submitted_ms;
    return route != nullptr && !MayTouch(*route, r->second.owner_key);
  });
  for (const auto& [id, job] : finished_.all()) {
    if (route != nullptr && !MayTouch(*route, job.owner_key)) continue;
    JobStatus& j = jobs.emplace_back(JobStatus{id, job.name, job.state, job.counts, {}, job.reason,
                                               job.owner, !job.owner_key.empty()});
    j.submitted_ms = job.submitted_ms;
    j.ended_ms = job.ended_ms;
  }
  return jobs;
}

StatusReply Server::BuildStatus(const std::string& route, int64_t now) const {
  StatusReply reply;
  reply.workers = scheduler_.WorkerStatuses(now, WallMs());
  reply.jobs = VisibleJobs(route);
  std::sort(reply.jobs.begin(), reply.jobs.end(),
            [](const JobStatus& a, const JobStatus& b) { return a.id < b.id; });
  return reply;
}

std::shared_ptr<const http::Snapshot> Server::DashboardSnapshot(int64_t now) const {
  auto snapshot = std::make_shared<http::Snapshot>();
  snapshot->taken_mono_ms = now;
  snapshot->now_ms = WallMs();
  snapshot->started_ms = started_ms_;
  snapshot->workers = scheduler_.WorkerStatuses(now, snapshot->now_ms);
  snapshot->jobs = JobsSeenBy(nullptr);
  std::sort(snapshot->jobs.begin(), snapshot->jobs.end(),
            [](const JobStatus& a, const JobStatus& b) { return a.id < b.id; });
  for (const auto& [route, peer] : peers_) {
    if (peer.role == Peer::Role::kWorker) {
      ++snapshot->worker_connections;
    } else {
      ++snapshot->client_connections;
    }
  }
  snapshot->metrics = metrics_;
  snapshot->spool_dir = spool_->dir();
  return snapshot;
}

}  // namespace drover::broker
