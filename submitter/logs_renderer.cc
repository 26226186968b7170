#include "submitter/logs_renderer.h"

#include <algorithm>

#include "submitter/json_fields.h"

namespace drover::submit {

LogsRenderer::LogsRenderer(FILE* out, LogsOptions options)
    : out_(out), options_(std::move(options)), holding_(options_.tail.has_value()) {}

void LogsRenderer::Accepted(const JobView& view) {
  ids_.clear();
  chosen_.assign(view.size(), options_.steps.empty());
  for (uint32_t i = 0; i < view.size(); ++i) {
    ids_.push_back(view.id_of(StepIndex(i)));
    if (std::find(options_.steps.begin(), options_.steps.end(), ids_.back()) !=
        options_.steps.end()) {
      chosen_[i] = true;
    }
  }
}

bool LogsRenderer::Wanted(StepIndex step, Attempt attempt, Stream stream) const {
  if (step.value >= chosen_.size() || !chosen_[step.value]) return false;
  if (options_.attempt && attempt.value != *options_.attempt) return false;
  return stream == Stream::kStdout ? options_.stdout_lines : options_.stderr_lines;
}

void LogsRenderer::OnEvent(const JobView&, const Event& event) {
  if (std::holds_alternative<JobEnded>(event)) job_ended_ = true;
  const auto* out = std::get_if<StepOutput>(&event);
  if (out == nullptr || !Wanted(out->step, out->attempt, out->stream)) return;
  const Key key{out->step.value, out->attempt.value, out->stream};
  std::string& partial = partial_[key];
  std::string_view data = out->data.bytes;
  while (!data.empty()) {
    const size_t nl = data.find('\n');
    const size_t line_end = nl == std::string_view::npos ? data.size() : nl;
    const size_t room = kMaxLogLine - partial.size();
    if (line_end > room || (nl == std::string_view::npos && line_end == room)) {
      // A step printing without newlines: cut, so memory stays bounded.
      partial.append(data.substr(0, room));
      data.remove_prefix(room);
      Line(key, partial);
      partial.clear();
      continue;
    }
    partial.append(data.substr(0, line_end));
    if (nl == std::string_view::npos) break;
    data.remove_prefix(nl + 1);
    Line(key, partial);
    partial.clear();
  }
}

void LogsRenderer::Line(const Key& key, std::string_view text) {
  const std::string& id = ids_[key.step];
  if (options_.json) {
    const nlohmann::json j = {{"step", id},
                              {"attempt", key.attempt},
                              {"stream", key.stream == Stream::kStdout ? "stdout" : "stderr"},
                              {"line", text}};
    Emit(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
    return;
  }
  // Another attempt of a step whose output was shown: say where it starts.
  auto [it, first] = shown_attempt_.try_emplace(key.step, key.attempt);
  if ((first && key.attempt > 1) || it->second != key.attempt) {
    it->second = key.attempt;
    if (!options_.attempt) {
      Emit((options_.prefix ? "[" + id + "] " : std::string()) + "--- " + id + ": attempt " +
           std::to_string(key.attempt) + " ---");
    }
  }
  std::string line = options_.prefix ? "[" + id + "] " : std::string();
  line.append(text);
  Emit(std::move(line));
}

void LogsRenderer::Emit(std::string text) {
  if (holding_) {
    held_.push_back(std::move(text));
    if (held_.size() > *options_.tail) held_.pop_front();
    return;
  }
  fwrite(text.data(), 1, text.size(), out_);
  fputc('\n', out_);
}

void LogsRenderer::Notice(const std::string& text) {
  fflush(out_);
  fprintf(stderr, "submit: %s\n", text.c_str());
}

void LogsRenderer::Release() {
  holding_ = false;
  for (std::string& line : held_) Emit(std::move(line));
  held_.clear();
  fflush(out_);
}

void LogsRenderer::Flush() {
  for (auto& [key, partial] : partial_) {
    if (!partial.empty()) Line(key, partial);
  }
  partial_.clear();
  Release();
}

}  // namespace drover::submit
