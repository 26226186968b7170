#include "submitter/resume_line.h"

#include <vector>

namespace drover::submit {
namespace {

std::string Steps(size_t n) { return std::to_string(n) + (n == 1 ? " step" : " steps"); }

// "a, b, c", or "a, b and 3 more": the most names that fit in `room`
// columns; "" if not even one does.
std::string NameList(const std::vector<std::string>& names, size_t room) {
  std::string best;
  std::string listed;
  for (size_t i = 0; i < names.size(); ++i) {
    listed += (i == 0 ? "" : ", ") + names[i];
    const size_t more = names.size() - i - 1;
    const std::string text = listed + (more == 0 ? "" : " and " + std::to_string(more) + " more");
    if (text.size() > room) break;
    best = text;
  }
  return best;
}

std::string Joined(const std::vector<std::string>& names) {
  std::string out;
  for (const std::string& name : names) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

std::string ResumeLine(const JobView& view, size_t columns) {
  std::vector<std::string> carried;
  for (uint32_t i : view.carried()) carried.push_back(view.id_of(StepIndex(i)));
  const std::vector<std::string>& dropped = view.dropped();
  const std::string head = "resuming job " + std::to_string(view.resumed_from().value) +
                           " as job " + std::to_string(view.id().value) + ": ";
  const std::string kept =
      carried.empty() ? "no step carried over" : Steps(carried.size()) + " carried over";
  const std::string run = ", " + std::to_string(view.size() - carried.size()) + " to run";
  const std::string gone =
      dropped.empty() ? "" : ", " + std::to_string(dropped.size()) + " dropped";
  auto in_brackets = [](const std::vector<std::string>& names) {
    return names.empty() ? std::string() : " (" + Joined(names) + ")";
  };
  // Measured before anything is joined: a million ids make no line.
  size_t whole = head.size() + kept.size() + run.size() + gone.size();
  const std::vector<std::string>* lists[] = {&carried, &dropped};
  for (const std::vector<std::string>* names : lists) {
    for (const std::string& name : *names) whole += name.size() + 2;
    if (!names->empty()) whole += 1;  // 2 per name for ", " or " (", 1 for ")"
  }
  if (whole <= columns) {
    return head + kept + in_brackets(carried) + run + gone + in_brackets(dropped);
  }
  std::string text = head + kept + run + gone;
  using Labelled = std::pair<std::string, const std::vector<std::string>*>;
  for (const Labelled& list :
       {Labelled{"  carried over: ", &carried}, Labelled{"  dropped: ", &dropped}}) {
    const size_t room = columns > list.first.size() ? columns - list.first.size() : 0;
    const std::string names = NameList(*list.second, room);
    if (!names.empty()) text += "\n" + list.first + names;
  }
  return text;
}

}  // namespace drover::submit
