// The one codec: protocol messages and job events to bytes and back.
//
// Decoding is where untrusted bytes enter Drover, so it never throws and never
// trusts a length: the bytes are first checked by ScanMsgpack() against
// DecodeLimits (shared/msgpack_scan.h), so msgpack-c allocates nothing a
// hostile length asked for, and any failure comes back as a Status that names
// what was wrong. Encoding cannot fail.
//
// Event records (a job's event log on disk, and JobEvents.records on the wire)
// are framed as [u32 little-endian length][MessagePack [type, [fields]]], so a
// reader can skip or resume at any record boundary.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/job_spec.h"
#include "shared/msgpack_scan.h"  // DecodeLimits
#include "shared/protocol.h"
#include "shared/status.h"

namespace drover {

// Appends the encoding of `msg` to `out`.
void EncodeMessage(const Message& msg, std::string* out);
std::string EncodeMessage(const Message& msg);

// The three messages that carry bulk data, encoded straight from views of
// the bytes (no Blob to fill first). The result equals EncodeMessage() of
// the same TaskOutput / TaskInput / JobEvents; codec_test checks it.
void EncodeTaskOutput(const TaskKey& key, Stream stream, std::string_view data, uint64_t offset,
                      std::string* out);
void EncodeTaskInput(const TaskKey& key, uint64_t offset, std::string_view data, bool eof,
                     std::string* out);
void EncodeJobEvents(JobId job, uint64_t offset, std::string_view records, bool last,
                     std::string* out);

// A task as the broker dispatches it: views of the step it runs, so that a
// dispatch copies none of the step's argv, env or cwd. `step` and the bytes
// of `stdin_data` must outlive the encoding.
struct TaskRef {
  TaskKey key = {};
  const StepSpec* step = nullptr;
  std::string_view stdin_data = {};  // the step's own, or its stdin_from step's stdout
  uint32_t lease_ms = 0;
  StepIndex after_step = {};
  Attempt after_attempt = {};  // 0: start as soon as a slot allows
  const ResourceList* resources = nullptr;  // the step's request; null: none
  bool stdin_stream = false;  // its stdin follows in TaskInput messages
};

// The Dispatch of `tasks`, encoded straight from the steps: equals
// EncodeMessage() of the Dispatch whose Tasks hold copies of the same fields
// (a `shell` step's argv becomes {"/bin/sh", "-c", command}); codec_test
// checks it.
void EncodeDispatch(const TaskRef* tasks, size_t count, uint64_t results_acked, std::string* out);
// About the bytes `task` takes in an encoded Dispatch (never fewer): a
// caller splits batches by it, and reserves in `out` before EncodeDispatch
// their sum plus kDispatchHeaderBytes (the message's own, at most).
size_t EncodedTaskBytes(const TaskRef& task);
inline constexpr size_t kDispatchHeaderBytes = 16;

// Decodes one whole message; trailing bytes are an error.
Result<Message> DecodeMessage(std::string_view bytes, const DecodeLimits& limits = {});

// Appends one framed event record to `out`.
void AppendEventRecord(const Event& event, std::string* out);

// Decodes every record in `records`. The bytes must hold whole records.
Result<std::vector<Event>> DecodeEventRecords(std::string_view records,
                                              const DecodeLimits& limits = {});

// The length of the longest prefix of `bytes` made of whole records.
size_t WholeRecordsPrefix(std::string_view bytes);

// Where a StepOutput record's data lies in its attempt's stream, read
// without copying the data: for going through a long log quickly.
struct OutputExtent {
  StepIndex step;
  Attempt attempt;
  Stream stream = Stream::kStdout;
  uint64_t offset = 0;  // 0 in logs written before offsets were kept
  uint64_t size = 0;
};
// `record` is one record without its length header. Nothing if it is
// another event, or does not decode.
std::optional<OutputExtent> DecodeOutputExtent(std::string_view record);

const char* MessageTypeName(MessageType type);

}  // namespace drover
