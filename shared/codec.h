// The one codec: protocol messages and job events to bytes and back.
//
// Decoding is where untrusted bytes enter Drover, so it never throws and never
// trusts a length: everything goes through DecodeLimits, and any failure comes
// back as a Status that names what was wrong. Encoding cannot fail.
//
// Event records (a job's event log on disk, and JobEvents.records on the wire)
// are framed as [u32 little-endian length][MessagePack [type, [fields]]], so a
// reader can skip or resume at any record boundary.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "shared/protocol.h"
#include "shared/status.h"

namespace drover {

// Upper bounds applied while decoding bytes from the network or a file.
struct DecodeLimits {
  size_t max_depth = 16;
  size_t max_array = 1 << 20;  // elements in one array
  size_t max_map = 1 << 16;    // pairs in one map
  size_t max_str = 64 << 20;   // bytes in one str
  size_t max_bin = 256 << 20;  // bytes in one bin
};

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
