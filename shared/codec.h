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
#include <string>
#include <string_view>
#include <vector>

#include "shared/msgpack_scan.h"  // DecodeLimits
#include "shared/protocol.h"
#include "shared/status.h"

namespace drover {

// Appends the encoding of `msg` to `out`.
void EncodeMessage(const Message& msg, std::string* out);
std::string EncodeMessage(const Message& msg);

// The two messages that carry bulk output, encoded straight from views of
// the bytes (no Blob to fill first). The result equals EncodeMessage() of
// the same TaskOutput / JobEvents; codec_test checks it.
void EncodeTaskOutput(const TaskKey& key, Stream stream, std::string_view data, uint64_t offset,
                      std::string* out);
void EncodeJobEvents(JobId job, uint64_t offset, std::string_view records, std::string* out);

// Decodes one whole message; trailing bytes are an error.
Result<Message> DecodeMessage(std::string_view bytes, const DecodeLimits& limits = {});

// Appends one framed event record to `out`.
void AppendEventRecord(const Event& event, std::string* out);

// Decodes every record in `records`. The bytes must hold whole records.
Result<std::vector<Event>> DecodeEventRecords(std::string_view records,
                                              const DecodeLimits& limits = {});

// The length of the longest prefix of `bytes` made of whole records.
size_t WholeRecordsPrefix(std::string_view bytes);

const char* MessageTypeName(MessageType type);

}  // namespace drover
