#include "tests/integration/side_effects.h"

#include <fstream>
#include <sstream>

namespace drover::testing {

std::vector<Mark> ReadMarks(const std::string& path) {
  std::vector<Mark> marks;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    Mark m;
    std::istringstream fields(line);
    if (!(fields >> m.kind >> m.step >> m.attempt >> m.worker >> m.pid)) continue;  // torn by a kill
    m.line = marks.size();
    marks.push_back(std::move(m));
  }
  return marks;
}

size_t CountDone(const std::string& path) {
  size_t n = 0;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) n += line.rfind("done ", 0) == 0;
  return n;
}

std::string MarkedCommand(const std::string& log, const std::string& body) {
  const std::string fields = " $DROVER_STEP_ID $DROVER_ATTEMPT $DROVER_WORKER $$\" >> '" + log + "'";
  return "echo \"start" + fields + "; " + body + "; echo \"done" + fields;
}

MarkedGraph LayeredGraph(int steps, int width, const std::string& log, const std::string& body,
                         const nlohmann::json& job_fields) {
  MarkedGraph g;
  g.job = job_fields;
  g.job["steps"] = nlohmann::json::array();
  for (int i = 0; i < steps; ++i) {
    const std::string id = "s" + std::to_string(i);
    std::vector<std::string> after;
    if (i >= width) after.push_back("s" + std::to_string(i - width));
    if (i >= width + 1 && i % 3 == 0) after.push_back("s" + std::to_string(i - width - 1));
    nlohmann::json step = {{"id", id}, {"cmd", MarkedCommand(log, body)}};
    if (!after.empty()) step["after"] = after;
    g.job["steps"].push_back(step);
    g.after[id] = after;
  }
  return g;
}

std::vector<std::string> CheckRanOnceInOrder(const MarkedGraph& graph,
                                             const std::map<std::string, nlohmann::json>& finals,
                                             const std::vector<Mark>& marks, bool one_start,
                                             const Excuse& excused, size_t limit) {
  std::vector<std::string> problems;
  auto problem = [&](const std::string& text) {
    if (problems.size() < limit) problems.push_back(text);
  };
  std::map<std::string, std::vector<const Mark*>> starts, dones;
  for (const Mark& m : marks) (m.kind == "start" ? starts : dones)[m.step].push_back(&m);

  // Where each step's reported attempt finished, for the order check.
  std::map<std::string, const Mark*> done_of, start_of;
  for (const auto& [id, after] : graph.after) {
    auto f = finals.find(id);
    if (f == finals.end()) {
      problem(id + ": no step_finished event");
      continue;
    }
    const nlohmann::json& e = f->second;
    if (e.value("state", "") != "succeeded") {
      problem(id + ": ended " + e.value("state", "?") + " (" + e.value("reason", "") + ")");
      continue;
    }
    const int attempt = e.at("attempt").get<int>();
    const std::string worker = e.at("worker").is_string() ? e.at("worker").get<std::string>() : "";
    for (const Mark* m : dones[id]) {
      if (m->attempt == attempt && m->worker == worker && !done_of.count(id)) {
        done_of[id] = m;
      } else if (!excused || !excused(*m)) {
        problem(id + ": ran to the end again: attempt " + std::to_string(m->attempt) + " on " +
                m->worker + " (the broker reported attempt " + std::to_string(attempt) + " on " +
                worker + ")");
      }
    }
    if (!done_of.count(id)) {
      problem(id + ": the broker reported attempt " + std::to_string(attempt) + " on " + worker +
              " succeeded, but it left no done mark");
    }
    for (const Mark* m : starts[id]) {
      if (m->attempt == attempt && m->worker == worker) start_of[id] = m;
    }
    if (one_start && starts[id].size() != 1) {
      problem(id + ": started " + std::to_string(starts[id].size()) + " times");
    }
  }
  for (const auto& [id, after] : graph.after) {
    auto s = start_of.find(id);
    if (s == start_of.end()) continue;
    for (const std::string& before : after) {
      auto d = done_of.find(before);
      if (d != done_of.end() && d->second->line > s->second->line) {
        problem(id + " started before " + before + ", which it runs after, was done");
      }
    }
  }
  return problems;
}

std::string Join(const std::vector<std::string>& problems) {
  std::string all;
  for (const std::string& p : problems) all += p + "\n";
  return all;
}

}  // namespace drover::testing
