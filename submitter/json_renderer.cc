// The JSON renderer (renderer.h): one object per line on stdout for every
// event; docs/submit.md is the reference for its fields.

#include <nlohmann/json.hpp>

#include "submitter/json_fields.h"
#include "submitter/renderer.h"

namespace drover::submit {
namespace {

using nlohmann::json;

class JsonRenderer : public Renderer {
 public:
  JsonRenderer(FILE* out, OutputSelection output) : out_(out), output_(std::move(output)) {}

  void Accepted(const JobView& view) override {
    json j = {{"event", "accepted"}, {"job", view.id().value}, {"name", view.name()}};
    json steps = json::array();
    for (uint32_t i = 0; i < view.size(); ++i) steps.push_back(view.id_of(StepIndex(i)));
    j["steps"] = std::move(steps);
    if (view.resumed_from().value != 0) {
      j["resumed_from"] = view.resumed_from().value;
      json carried = json::array();
      for (uint32_t i : view.carried()) carried.push_back(view.id_of(StepIndex(i)));
      j["carried"] = std::move(carried);
      j["dropped"] = view.dropped();
    }
    Write(j);
  }

  void OnEvent(const JobView& view, const Event& event) override {
    json j;
    if (const auto* e = std::get_if<StepStarted>(&event)) {
      j = {{"event", "step_started"}, {"step", view.id_of(e->step)},
           {"attempt", e->attempt.value}, {"worker", e->worker},
           {"dispatched_ms", e->at_ms > 0 ? json(e->at_ms) : json(nullptr)}};
    } else if (const auto* e = std::get_if<StepOutput>(&event)) {
      if (!output_.Shows(e->step)) return;  // --quiet, --show
      j = {{"event", "output"}, {"step", view.id_of(e->step)}, {"attempt", e->attempt.value},
           {"stream", e->stream == Stream::kStdout ? "stdout" : "stderr"},
           {"data", e->data.bytes}};
    } else if (const auto* e = std::get_if<StepEnded>(&event)) {
      j = {{"event", "step_finished"},
           {"step", view.id_of(e->step)},
           {"attempt", e->attempt.value},
           {"state", StepStateName(e->state)},
           {"retrying", e->state == StepState::kReady || e->state == StepState::kWaiting},
           {"reason", e->reason},
           {"worker", e->worker.empty() ? json(nullptr) : json(e->worker)}};
      if (e->run) j.update(RunFields(*e->run));
    } else if (const auto* e = std::get_if<StepWaiting>(&event)) {
      j = {{"event", "step_waiting"}, {"step", view.id_of(e->step)}, {"steps", e->steps},
           {"reason", e->reason}};
    } else if (const auto* e = std::get_if<JobEnded>(&event)) {
      j = {{"event", "job_finished"}, {"job", view.id().value},
           {"state", JobStateName(e->state)}, {"counts", CountsJson(e->counts)}};
    }
    Write(j);
  }

  void Refresh(const JobView&, int64_t, std::optional<int64_t>) override { fflush(out_); }

  void Notice(const std::string& text) override {
    Write({{"event", "notice"}, {"message", text}});
  }

  void Finished(const JobView&, std::optional<int64_t>) override { fflush(out_); }

 private:
  void Write(const json& j) { WriteJsonLine(out_, j); }

  FILE* out_;
  OutputSelection output_;
};

}  // namespace

std::unique_ptr<Renderer> MakeJsonRenderer(FILE* out, OutputSelection output) {
  return std::make_unique<JsonRenderer>(out, std::move(output));
}

}  // namespace drover::submit
