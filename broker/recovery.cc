#include "broker/recovery.h"

#include "shared/codec_typed.h"

namespace drover::broker {

void EncodeRecord(const Record& record, std::string* out) {
  std::visit([out](const auto& r) { PackTyped(r, out); }, record);
}

template <typename T>
void EncodeRecordOf(const T& record, std::string* out) {
  PackTyped(record, out);
}
template void EncodeRecordOf(const JobRecord&, std::string*);
template void EncodeRecordOf(const DispatchRecord&, std::string*);
template void EncodeRecordOf(const ResultRecord&, std::string*);
template void EncodeRecordOf(const LostRecord&, std::string*);
template void EncodeRecordOf(const CancelRecord&, std::string*);
template void EncodeRecordOf(const FinishedRecord&, std::string*);
template void EncodeRecordOf(const RunningRecord&, std::string*);
template void EncodeRecordOf(const NextJobRecord&, std::string*);
template void EncodeRecordOf(const WorkerRecord&, std::string*);
template void EncodeRecordOf(const DispatchesRecord&, std::string*);
template void EncodeRecordOf(const ResultsRecord&, std::string*);
template void EncodeRecordOf(const ForgetRecord&, std::string*);

void EncodeResultsRecord(uint32_t worker_number, std::string_view message, std::string* out) {
  out->reserve(out->size() + message.size() + 16);
  StringSink sink(out);
  msgpack::packer<StringSink> packer(sink);
  packer.pack_array(2);
  packer.pack(static_cast<uint8_t>(ResultsRecord::kType));
  packer.pack_array(2);
  packer.pack(worker_number);
  PackBin(packer, message);
}

Result<Record> DecodeRecord(std::string_view bytes) {
  // Written by this broker, but read back after crashes and upgrades: the
  // same limits as anything else, a job file of a million steps included.
  DecodeLimits limits;
  limits.max_array = 1 << 26;
  limits.max_bin = 1u << 30;
  return DecodeTyped<Record>(bytes, limits);
}

}  // namespace drover::broker
