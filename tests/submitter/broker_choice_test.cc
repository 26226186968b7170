// submitter/broker_choice.h: which broker submit talks to when none is given.

#include "submitter/broker_choice.h"

#include <doctest/doctest.h>

#include <string>

namespace drover::submit {
namespace {

TEST_CASE("a broker given is the one used, whatever the command") {
  CHECK(ChooseBroker("tcp://10.0.0.5:7700", BrokerUse::kRunJobFile) == "tcp://10.0.0.5:7700");
  CHECK(ChooseBroker("ipc:///tmp/b", BrokerUse::kAskBroker) == "ipc:///tmp/b");
}

TEST_CASE("with none given a job file runs on the embedded default") {
  CHECK(ChooseBroker("", BrokerUse::kRunJobFile).empty());
}

TEST_CASE("with none given a question goes to the daemons' default address") {
  CHECK(ChooseBroker("", BrokerUse::kAskBroker) == "tcp://127.0.0.1:7700");
  CHECK(DefaultBrokerNote().find("--broker") != std::string::npos);
  CHECK(DefaultBrokerNote().find("DROVER_BROKER") != std::string::npos);
}

}  // namespace
}  // namespace drover::submit
