// Server (server.h): allocation queues. `submit alloc ...` requests, the
// turn's part of automatic allocation, and journaling what the queues
// change. The work is in AllocDriver (alloc_driver.h) and its pure core
// (core/alloc_queue.h); this file connects them to the loop.

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <string>

#include "broker/server.h"
#include "shared/durations.h"

namespace drover::broker {
namespace {

bool Mentions(const std::vector<std::string>& args, std::string_view flag) {
  return std::any_of(args.begin(), args.end(), [&](const std::string& a) {
    return a == flag || a.rfind(std::string(flag) + "=", 0) == 0;
  });
}

}  // namespace

void Server::HandleAllocRequest(const std::string& route, const AllocRequest& request,
                                int64_t now) {
  AllocQueues& queues = alloc_.queues();
  const std::string id_text = std::to_string(request.queue);
  if (request.op != AllocOp::kAdd && request.op != AllocOp::kList &&
      queues.Find(request.queue) == nullptr) {
    ReplyError(route, ErrorCode::kUnknownQueue,
               "no allocation queue " + id_text + " (`submit alloc list` shows them)");
    return;
  }
  switch (request.op) {
    case AllocOp::kAdd: {
      Result<AllocQueueId> added = queues.Add(request.params);
      if (!added.ok()) {
        ReplyError(route, ErrorCode::kMalformed,
                   "cannot add the allocation queue: " + added.status().message());
        return;
      }
      const AllocQueueParams& p = request.params;
      const std::string& address = alloc_.options().script.broker_address;
      spdlog::info("allocations: queue {} added{}: {} node(s) per allocation for {}, workers "
                   "connect to {}",
                   added.value(), p.name.empty() ? "" : " (" + p.name + ")", p.workers_per_alloc,
                   ShortDuration(p.time_limit_ms), address);
      std::string text = "added allocation queue " + std::to_string(added.value()) +
                         ": it asks Slurm for workers while steps they could run wait\n"
                         "its workers will connect to " + address + "\n";
      if (IsLocalOnlyEndpoint(address) || options_.advertise_is_loopback) {
        text += "warning: that is a loopback address, which only this machine reaches:\n"
                "  start the broker with --advertise (or --bind) on an address the nodes reach\n";
      }
      if (keys_ && !Mentions(p.worker_args, "--key")) {
        text += "warning: this broker uses keys, and its workers were given none: add\n"
                "  --worker-arg=--key=FILE --worker-arg=--broker-key=FILE (files the nodes read)\n";
      }
      alloc_.TickSoon(now);
      Reply(route, AllocReply{added.value(), text});
      return;
    }
    case AllocOp::kList:
      Reply(route, AllocReply{0, queues.DescribeAll(now)});
      return;
    case AllocOp::kInfo:
      Reply(route, AllocReply{request.queue, queues.Describe(request.queue, now)});
      return;
    case AllocOp::kRemove: {
      if (!queues.Remove(request.queue, request.now)) {
        Reply(route, AllocReply{request.queue,
                                "allocation queue " + id_text + " is already being removed\n"});
        return;
      }
      spdlog::info("allocations: queue {} removed{}", request.queue,
                   request.now ? ", its allocations cancelled" : "");
      if (!request.now) DrainAllocated(request.queue);
      const bool gone = queues.Find(request.queue) == nullptr;
      std::string text = "allocation queue " + id_text + " removed: it asks for nothing more";
      if (gone) {
        text += "; it had no allocations left\n";
      } else if (request.now) {
        text += "; its allocations are being cancelled\n";
      } else {
        text += ";\nallocations not yet started are cancelled; the workers of running ones\n"
                "finish their steps, take no new ones, and leave\n";
      }
      alloc_.TickSoon(now);
      Reply(route, AllocReply{request.queue, text});
      return;
    }
    case AllocOp::kResume:
      if (!queues.Resume(request.queue)) {
        Reply(route, AllocReply{request.queue,
                                "allocation queue " + id_text + " is not paused: nothing to do\n"});
        return;
      }
      spdlog::info("allocations: queue {} resumed", request.queue);
      alloc_.TickSoon(now);
      Reply(route, AllocReply{request.queue, "allocation queue " + id_text +
                                                 " resumed: its failures are forgotten\n"});
      return;
  }
}

void Server::DrainAllocated(AllocQueueId queue) {
  const AllocQueue* q = alloc_.queues().Find(queue);
  if (q == nullptr) return;
  std::set<uint64_t> jobs;
  for (const Allocation& a : q->allocations) {
    if (!AllocEnded(a.state) && a.slurm_job_id != 0) jobs.insert(a.slurm_job_id);
  }
  for (const auto& [id, w] : scheduler_.pool().all()) {
    if (jobs.count(w.info.slurm_job_id) != 0) {
      StartDraining(id, "drains: its allocation queue was removed");
    }
  }
}

void Server::AllocTurn(int64_t now) {
  alloc_.Turn(now, [this] {
    return ComputeDemand(alloc_.queues(), scheduler_.jobs(), scheduler_.pool());
  });
  alloc_.LogChanges();  // also what workers' hellos and goodbyes changed
}

void Server::JournalAlloc() {
  for (const AllocRecord& record : alloc_.queues().TakeRecords()) {
    AppendRecord([&record](std::string* out) { EncodeAllocRecord(record, out); });
  }
}

}  // namespace drover::broker
