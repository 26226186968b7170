#include "submitter/broker_choice.h"

namespace drover::submit {

std::string ChooseBroker(const std::string& given, BrokerUse use) {
  if (!given.empty()) return given;
  return use == BrokerUse::kRunJobFile ? "" : kDefaultBroker;
}

std::string DefaultBrokerNote() {
  return "; that address is the default, when neither --broker nor DROVER_BROKER gives one";
}

}  // namespace drover::submit
