// libFuzzer target: DecodeMessage, the decoder of every frame a broker,
// worker or submit reads from the network (all message types).
//
// Besides "no crash, no leak, no undefined behaviour, no huge allocation",
// it checks that a message the codec accepts means one thing: encoding it
// and decoding that again gives a value that encodes to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "shared/codec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  drover::Result<drover::Message> decoded = drover::DecodeMessage(bytes);
  if (!decoded.ok()) {
    if (decoded.status().message().empty()) std::abort();  // every refusal says why
    return 0;
  }
  const std::string once = drover::EncodeMessage(decoded.value());
  drover::Result<drover::Message> again = drover::DecodeMessage(once);
  if (!again.ok() || drover::EncodeMessage(again.value()) != once) std::abort();
  return 0;
}
