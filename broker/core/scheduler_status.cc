// What the scheduler tells people (scheduler.h): ready steps that no
// connected worker could run, reported once as StepWaiting with the reason,
// and the StatusReply of workers and jobs. Apart from scheduler.cc because
// neither decides anything: they read the state the decisions left.

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "broker/core/scheduler.h"

namespace drover::broker {

void Scheduler::WatchWaiting(Time now) {
  // It costs what changed: the classes that became non-empty, those whose
  // report falls due, and all of them only when the workers themselves
  // changed (one joined, left, or lost touch), which is rare.
  const uint64_t capacity = pool_.capacity_generation();
  const bool workers_changed = capacity != watched_capacity_;
  const bool due = waiting_due_ >= 0 && now >= waiting_due_;
  watched_capacity_ = capacity;
  std::vector<std::pair<JobId, uint32_t>> visit;
  for (JobId id : jobs_with_ready_) {
    Job* job = jobs_.at(id).get();
    if (workers_changed) {
      job->TakeFreshClasses();
      for (uint32_t i = 0; i < job->classes().size(); ++i) {
        if (!job->classes()[i].empty()) visit.emplace_back(id, i);
      }
    } else {
      for (uint32_t i : job->TakeFreshClasses()) visit.emplace_back(id, i);
    }
  }
  if (due || workers_changed) {
    visit.insert(visit.end(), waiting_pending_.begin(), waiting_pending_.end());
    waiting_pending_.clear();
    waiting_due_ = -1;
  }
  std::sort(visit.begin(), visit.end());
  visit.erase(std::unique(visit.begin(), visit.end()), visit.end());
  for (const auto& [id, index] : visit) {
    Job* job = MutableJob(id);
    if (job == nullptr || job->finished() || index >= job->classes().size()) continue;
    ReadyClass& c = job->classes()[index];
    if (c.empty()) continue;
    if (c.checked_capacity != capacity) {
      c.checked_capacity = capacity;
      std::string why = pool_.WhyNoneFits(c.slots, c.labels, c.needs, c.time_request_ms, now);
      if (why.empty()) {
        c.unplaceable_since = -1;
        c.unplaceable_why.clear();
        c.reported_why.clear();
        continue;
      }
      if (c.unplaceable_since < 0) c.unplaceable_since = now;
      c.unplaceable_why = std::move(why);
    }
    if (c.unplaceable_since < 0 || c.reported_why == c.unplaceable_why) continue;
    const Time report_at = c.unplaceable_since + kReportWaitingMs;
    if (now < report_at) {
      waiting_pending_.emplace_back(id, index);
      waiting_due_ = waiting_due_ < 0 ? report_at : std::min(waiting_due_, report_at);
      continue;
    }
    outbox_->Publish(id, StepWaiting{c.top().step, static_cast<uint32_t>(c.size()),
                                     c.unplaceable_why});
    c.reported_why = c.unplaceable_why;
  }
}

StatusReply Scheduler::Status(Time now, int64_t wall_now) const {
  StatusReply reply;
  reply.workers = WorkerStatuses(now, wall_now);
  reply.jobs = JobStatuses();
  return reply;
}

std::vector<WorkerStatus> Scheduler::WorkerStatuses(Time now, int64_t wall_now) const {
  std::vector<WorkerStatus> workers;
  for (const auto& [id, w] : pool_.all()) {
    WorkerStatus& status = workers.emplace_back(
        WorkerStatus{id, w.info.name, w.info.host, w.info.slots, w.busy(), w.info.labels,
                     w.connected ? 0 : std::max<Time>(1, now - w.last_heard)});
    status.draining = w.draining;
    if (wall_now > 0) {
      status.connected_ms = wall_now - (now - w.connected_since);
      status.heard_ms = wall_now - (now - w.last_heard);
    }
    status.slurm_job_id = w.info.slurm_job_id;
    if (w.ends_at > 0) status.time_left_ms = static_cast<uint64_t>(std::max<Time>(1, w.ends_at - now));
    for (const ResourceHeld& h : w.resources) {
      if (h.total > 0) status.resources.push_back({pool_.ResourceName(h.id), h.total});
      if (h.used > 0) status.resources_used.push_back({pool_.ResourceName(h.id), h.used});
    }
    std::sort(status.resources.begin(), status.resources.end());
    std::sort(status.resources_used.begin(), status.resources_used.end());
  }
  std::sort(workers.begin(), workers.end(),
            [](const WorkerStatus& a, const WorkerStatus& b) { return a.id < b.id; });
  return workers;
}

std::vector<JobStatus> Scheduler::JobStatuses() const {
  std::vector<JobStatus> jobs;
  for (const auto& [id, job] : jobs_) {
    const auto& c = job->counts();
    JobStatus& status = jobs.emplace_back(JobStatus{
        id, job->spec().name, job->Outcome(), std::vector<uint32_t>(c.begin(), c.end())});
    for (const ReadyClass& rc : job->classes()) {
      if (rc.empty() || rc.reported_why.empty()) continue;
      status.waiting.push_back(job->StepId(rc.top().step) + ": " + rc.reported_why +
                               (rc.size() > 1 ? " (" + std::to_string(rc.size()) + " steps)" : ""));
    }
  }
  return jobs;
}

}  // namespace drover::broker
