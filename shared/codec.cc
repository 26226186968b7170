#include "shared/codec.h"

#include "shared/codec_typed.h"

#include <cstring>
#include <exception>
#include <new>

namespace drover {
namespace {

uint32_t LoadLe32(const char* p) {
  unsigned char b[4];
  std::memcpy(b, p, 4);
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}

}  // namespace

void EncodeMessage(const Message& msg, std::string* out) {
  std::visit([out](const auto& m) { PackTyped(m, out); }, msg);
}

std::string EncodeMessage(const Message& msg) {
  std::string out;
  EncodeMessage(msg, &out);
  return out;
}

void EncodeTaskOutput(const TaskKey& key, Stream stream, std::string_view data, uint64_t offset,
                      std::string* out) {
  out->reserve(out->size() + data.size() + 32);
  StringSink sink(out);
  msgpack::packer<StringSink> packer(sink);
  packer.pack_array(2);
  packer.pack(static_cast<uint8_t>(TaskOutput::kType));
  packer.pack_array(6);
  packer.pack(key.job);
  packer.pack(key.step);
  packer.pack(key.attempt);
  packer.pack(stream);
  PackBin(packer, data);
  packer.pack(offset);
}

void EncodeTaskInput(const TaskKey& key, uint64_t offset, std::string_view data, bool eof,
                     std::string* out) {
  out->reserve(out->size() + data.size() + 48);
  StringSink sink(out);
  msgpack::packer<StringSink> packer(sink);
  packer.pack_array(2);
  packer.pack(static_cast<uint8_t>(TaskInput::kType));
  packer.pack_array(6);
  packer.pack(key.job);
  packer.pack(key.step);
  packer.pack(key.attempt);
  packer.pack(offset);
  PackBin(packer, data);
  packer.pack(eof);
}

void EncodeJobEvents(JobId job, uint64_t offset, std::string_view records, bool last,
                     std::string* out) {
  out->reserve(out->size() + records.size() + 32);
  StringSink sink(out);
  msgpack::packer<StringSink> packer(sink);
  packer.pack_array(2);
  packer.pack(static_cast<uint8_t>(JobEvents::kType));
  packer.pack_array(4);
  packer.pack(job);
  packer.pack(offset);
  PackBin(packer, records);
  packer.pack(last);
}

void EncodeDispatch(const TaskRef* tasks, size_t count, uint64_t results_acked, std::string* out) {
  StringSink sink(out);
  msgpack::packer<StringSink> packer(sink);
  packer.pack_array(2);
  packer.pack(static_cast<uint8_t>(Dispatch::kType));
  packer.pack_array(2);
  packer.pack_array(static_cast<uint32_t>(count));
  for (size_t i = 0; i < count; ++i) {
    // Field for field as Task's MSGPACK_DEFINE.
    const TaskRef& task = tasks[i];
    const StepSpec& step = *task.step;
    packer.pack_array(15);
    packer.pack(task.key.job);
    packer.pack(task.key.step);
    packer.pack(task.key.attempt);
    packer.pack(step.id);
    if (step.shell) {
      packer.pack_array(3);
      packer.pack_str(7).pack_str_body("/bin/sh", 7);
      packer.pack_str(2).pack_str_body("-c", 2);
      packer.pack(step.argv.at(0));
    } else {
      packer.pack(step.argv);
    }
    packer.pack(step.env);
    packer.pack(step.cwd);
    PackBin(packer, task.stdin_data);
    packer.pack(step.timeout_ms);
    packer.pack(step.slots);
    packer.pack(task.after_step);
    packer.pack(task.after_attempt);
    packer.pack(task.lease_ms);
    if (task.resources != nullptr) {
      packer.pack(*task.resources);
    } else {
      packer.pack_array(0);
    }
    packer.pack(task.stdin_stream);
  }
  packer.pack(results_acked);
}

size_t EncodedTaskBytes(const TaskRef& task) {
  const StepSpec& step = *task.step;
  // Every integer takes at most 9 bytes, every header at most 5.
  size_t bytes = 15 * 9 + step.id.size() + step.cwd.size() + task.stdin_data.size() + 32;
  if (task.resources != nullptr) {
    for (const ResourceAmount& r : *task.resources) bytes += r.name.size() + 16;
  }
  for (const std::string& arg : step.argv) bytes += arg.size() + 5;
  for (const auto& [name, value] : step.env) bytes += name.size() + value.size() + 15;
  return bytes;
}

Result<Message> DecodeMessage(std::string_view bytes, const DecodeLimits& limits) {
  return DecodeTyped<Message>(bytes, limits);
}

void AppendEventRecord(const Event& event, std::string* out) {
  const size_t header = out->size();
  out->append(4, '\0');
  std::visit([out](const auto& e) { PackTyped(e, out); }, event);
  const uint32_t length = static_cast<uint32_t>(out->size() - header - 4);
  for (int i = 0; i < 4; ++i) (*out)[header + i] = static_cast<char>(length >> (8 * i));
}

size_t WholeRecordsPrefix(std::string_view bytes) {
  size_t pos = 0;
  while (bytes.size() - pos >= 4) {
    const size_t length = LoadLe32(bytes.data() + pos);
    if (bytes.size() - pos - 4 < length) break;
    pos += 4 + length;
  }
  return pos;
}

Result<std::vector<Event>> DecodeEventRecords(std::string_view records,
                                              const DecodeLimits& limits) {
  std::vector<Event> events;
  size_t pos = 0;
  while (pos < records.size()) {
    if (records.size() - pos < 4) return Status::Error("truncated event record header");
    const size_t length = LoadLe32(records.data() + pos);
    pos += 4;
    if (records.size() - pos < length) return Status::Error("truncated event record");
    Result<Event> event = DecodeTyped<Event>(records.substr(pos, length), limits);
    if (!event.ok()) return Status::Error("event record: " + event.status().message());
    events.push_back(std::move(event).value());
    pos += length;
  }
  return events;
}

std::optional<OutputExtent> DecodeOutputExtent(std::string_view record) {
  try {
    size_t used = 0;
    msgpack::object_handle handle = msgpack::unpack(record.data(), record.size(), used,
                                                    codec_internal::ReferenceInput);
    const msgpack::object& root = handle.get();
    if (used != record.size() || root.type != msgpack::type::ARRAY || root.via.array.size != 2 ||
        root.via.array.ptr[0].type != msgpack::type::POSITIVE_INTEGER ||
        root.via.array.ptr[0].via.u64 != static_cast<uint64_t>(StepOutput::kType) ||
        root.via.array.ptr[1].type != msgpack::type::ARRAY ||
        root.via.array.ptr[1].via.array.size < 4) {
      return std::nullopt;
    }
    const msgpack::object* f = root.via.array.ptr[1].via.array.ptr;
    OutputExtent extent;
    f[0].convert(extent.step);
    f[1].convert(extent.attempt);
    f[2].convert(extent.stream);
    if (f[3].type == msgpack::type::BIN) {
      extent.size = f[3].via.bin.size;
    } else if (f[3].type == msgpack::type::STR) {
      extent.size = f[3].via.str.size;
    } else {
      return std::nullopt;
    }
    if (root.via.array.ptr[1].via.array.size > 4) f[4].convert(extent.offset);
    return extent;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

const char* MessageTypeName(MessageType type) {
  switch (type) {
    case MessageType::kHeartbeat: return "Heartbeat";
    case MessageType::kErrorReply: return "ErrorReply";
    case MessageType::kWorkerHello: return "WorkerHello";
    case MessageType::kClientHello: return "ClientHello";
    case MessageType::kWelcome: return "Welcome";
    case MessageType::kDispatch: return "Dispatch";
    case MessageType::kKillTask: return "KillTask";
    case MessageType::kOutputCredit: return "OutputCredit";
    case MessageType::kTaskOutput: return "TaskOutput";
    case MessageType::kTaskResults: return "TaskResults";
    case MessageType::kGoodbye: return "Goodbye";
    case MessageType::kSubmitJob: return "SubmitJob";
    case MessageType::kWatchJob: return "WatchJob";
    case MessageType::kCancelJob: return "CancelJob";
    case MessageType::kEventsAck: return "EventsAck";
    case MessageType::kStatusRequest: return "StatusRequest";
    case MessageType::kJobAccepted: return "JobAccepted";
    case MessageType::kJobRejected: return "JobRejected";
    case MessageType::kJobEvents: return "JobEvents";
    case MessageType::kStatusReply: return "StatusReply";
    case MessageType::kResultsAck: return "ResultsAck";
    case MessageType::kResumeJob: return "ResumeJob";
    case MessageType::kCancelAccepted: return "CancelAccepted";
    case MessageType::kRetract: return "Retract";
    case MessageType::kRetractDeclined: return "RetractDeclined";
    case MessageType::kDrain: return "Drain";
    case MessageType::kDraining: return "Draining";
    case MessageType::kTaskInput: return "TaskInput";
    case MessageType::kCloseOutput: return "CloseOutput";
    case MessageType::kInputCredit: return "InputCredit";
    case MessageType::kDrainWorker: return "DrainWorker";
    case MessageType::kDrainAccepted: return "DrainAccepted";
    case MessageType::kAllocRequest: return "AllocRequest";
    case MessageType::kAllocReply: return "AllocReply";
    case MessageType::kForgetJobs: return "ForgetJobs";
    case MessageType::kForgetReply: return "ForgetReply";
    case MessageType::kListJobs: return "ListJobs";
    case MessageType::kJobList: return "JobList";
  }
  return "unknown";
}

}  // namespace drover
