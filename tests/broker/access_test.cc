#include "broker/core/access.h"

#include <doctest/doctest.h>

namespace drover::broker {
namespace {

const std::string kA = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";
const std::string kB = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID";
const std::string kHash = "#q:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7";  // starts with '#'

}  // namespace

TEST_CASE("ParseAllowList: keys with comments, blank lines and # comments") {
  Result<AllowList> list = ParseAllowList("# workers\n\n" + kA + " alice@laptop  (2024)\n" + "   " +
                                              kB + "\r\n" + kHash + "\n#" + kA + " commented out\n",
                                          "workers.allow");
  REQUIRE(list.ok());
  CHECK(list->size() == 3);
  CHECK(list->at(kA) == "alice@laptop  (2024)");
  CHECK(list->at(kB).empty());
  CHECK(list->count(kHash) == 1);  // a whole key, though it starts with '#'
  // A repeated key keeps its first comment.
  Result<AllowList> twice = ParseAllowList(kA + " first\n" + kA + " second\n", "x");
  REQUIRE(twice.ok());
  CHECK(twice->at(kA) == "first");
}

TEST_CASE("ParseAllowList: a bad line is an error naming file:line") {
  Result<AllowList> short_key = ParseAllowList(kA + "\n\nabc comment\n", "/k/workers.allow");
  REQUIRE_FALSE(short_key.ok());
  CHECK(short_key.status().message() ==
        "/k/workers.allow:3: expected a public key (40 characters of Z85) and an optional "
        "comment; the first word has 3 characters");
  std::string bad = kA;
  bad[5] = '"';
  Result<AllowList> alphabet = ParseAllowList(bad + "\n", "s.allow");
  REQUIRE_FALSE(alphabet.ok());
  CHECK(alphabet.status().message().starts_with("s.allow:1: \""));
  CHECK(alphabet.status().message().ends_with(
      "is not a Z85 key (a character outside Z85's alphabet)"));
  // A secret key file pasted by mistake is not a list.
  CHECK_FALSE(ParseAllowList("secret " + kA + "\n", "x").ok());
}

TEST_CASE("Roles: each list gives its role, both give both") {
  AccessLists lists;
  lists.workers = {{kA, "w"}, {kHash, ""}};
  lists.submitters = {{kB, "s"}, {kHash, ""}};
  CHECK(lists.RolesOf(kA) == kWorkerRole);
  CHECK(lists.RolesOf(kB) == kSubmitterRole);
  CHECK(lists.RolesOf(kHash) == (kWorkerRole | kSubmitterRole));
  CHECK(lists.RolesOf("unknown") == kNoRole);
  CHECK(lists.Describe(kA) == "w (rq:rM>}U...)");
  CHECK(lists.Describe(kHash) == "key #q:rM>}U...");
}

TEST_CASE("Roles: an admin is a submitter too, and owners are named by comment") {
  AccessLists lists;
  lists.submitters = {{kB, "bob"}};
  lists.admins = {{kA, "boss"}};
  CHECK(lists.RolesOf(kA) == kSubmitterRole);
  CHECK(lists.IsAdmin(kA));
  CHECK_FALSE(lists.IsAdmin(kB));
  CHECK(lists.NameOf(kA) == "boss");
  CHECK(lists.NameOf(kB) == "bob");
  CHECK(lists.NameOf(kHash) == "key #q:rM>}U...");
  // Taken off the admins' list: a change of roles, for the log.
  AccessLists after = lists;
  after.admins.clear();
  const std::vector<AccessChange> changes = Diff(lists, after);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].key == kA);
}

TEST_CASE("Refusal: a submitter key cannot act as a worker, nor a worker key as a client") {
  CHECK(Refusal(kWorkerRole, MessageType::kWorkerHello).empty());
  CHECK(Refusal(kWorkerRole, MessageType::kTaskOutput).empty());
  CHECK(Refusal(kWorkerRole, MessageType::kTaskResults).empty());
  CHECK(Refusal(kWorkerRole, MessageType::kGoodbye).empty());
  CHECK(Refusal(kWorkerRole, MessageType::kHeartbeat).empty());
  for (MessageType t : {MessageType::kClientHello, MessageType::kSubmitJob, MessageType::kCancelJob,
                        MessageType::kWatchJob, MessageType::kResumeJob, MessageType::kEventsAck,
                        MessageType::kStatusRequest}) {
    CAPTURE(static_cast<int>(t));
    CHECK(Refusal(kSubmitterRole, t).empty());
    CHECK(Refusal(kWorkerRole, t) ==
          "this key may act only as worker, and this message is a submitter's");
    CHECK(Refusal(kWorkerRole | kSubmitterRole, t).empty());
  }
  CHECK(Refusal(kSubmitterRole, MessageType::kWorkerHello) ==
        "this key may act only as submitter, and this message is a worker's");
  CHECK(Refusal(kSubmitterRole, MessageType::kTaskResults) ==
        "this key may act only as submitter, and this message is a worker's");
  CHECK(Refusal(kSubmitterRole, MessageType::kHeartbeat).empty());
  // What only the broker sends, nobody may send it.
  CHECK(Refusal(kWorkerRole | kSubmitterRole, MessageType::kDispatch) ==
        "only the broker sends this message");
  CHECK(Refusal(kNoRole, MessageType::kHeartbeat) ==
        "this key is not (or no longer) allowed on this broker");
}

TEST_CASE("Diff lists each key whose roles changed") {
  AccessLists before, after;
  before.workers = {{kA, ""}};
  before.submitters = {{kB, ""}};
  after.workers = {{kA, ""}, {kB, ""}};
  std::vector<AccessChange> changes = Diff(before, after);
  REQUIRE(changes.size() == 1);
  CHECK(changes[0].key == kB);
  CHECK(changes[0].before == kSubmitterRole);
  CHECK(changes[0].after == kWorkerRole);
  CHECK(Diff(after, after).empty());
  CHECK(Diff(before, AccessLists{}).size() == 2);
}

TEST_CASE("IsLocalOnlyEndpoint: loopback, ipc and inproc only") {
  CHECK(IsLocalOnlyEndpoint("tcp://127.0.0.1:7700"));
  CHECK(IsLocalOnlyEndpoint("tcp://127.1.2.3:7700"));
  CHECK(IsLocalOnlyEndpoint("tcp://localhost:7700"));
  CHECK(IsLocalOnlyEndpoint("tcp://[::1]:7700"));
  CHECK(IsLocalOnlyEndpoint("ipc:///run/drover.sock"));
  CHECK(IsLocalOnlyEndpoint("inproc://x"));
  CHECK_FALSE(IsLocalOnlyEndpoint("tcp://*:7700"));
  CHECK_FALSE(IsLocalOnlyEndpoint("tcp://0.0.0.0:7700"));
  CHECK_FALSE(IsLocalOnlyEndpoint("tcp://10.0.0.5:7700"));
  CHECK_FALSE(IsLocalOnlyEndpoint("tcp://eth0:7700"));
  CHECK_FALSE(IsLocalOnlyEndpoint("tcp://127.example.com:7700"));
  CHECK_FALSE(IsLocalOnlyEndpoint("tcp://[::]:7700"));
  CHECK_FALSE(IsLocalOnlyEndpoint("ws://127.0.0.1:7700"));
}

}  // namespace drover::broker
