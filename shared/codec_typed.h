// The machinery under the codec: encoding a value as [type, [fields]] and
// decoding one into the alternative of a std::variant whose kType matches,
// never throwing and never trusting a length. codec.h uses it for messages
// and events; the broker's journal (broker/recovery.h) for its records.
#pragma once

#include <msgpack.hpp>
#include <new>
#include <string>
#include <string_view>
#include <variant>

#include "shared/codec.h"
#include "shared/msgpack_scan.h"
#include "shared/status.h"
#include "shared/string_sink.h"

namespace drover {

// Appends [T::kType, [fields]] to `out`.
template <typename T>
void PackTyped(const T& value, std::string* out) {
  StringSink sink(out);
  msgpack::packer<StringSink> packer(sink);
  packer.pack_array(2);
  packer.pack(static_cast<uint8_t>(T::kType));
  packer.pack(value);
}

namespace codec_internal {

// While decoding, str and bin values point into the input instead of being
// copied into msgpack's zone: the conversion to our structs copies them once,
// and the input outlives it.
inline bool ReferenceInput(msgpack::type::object_type, size_t, void*) { return true; }

// Converts `body` into the alternative of Variant whose kType is `type`.
// Returns false when no alternative has that type.
template <typename Variant, size_t I = 0>
bool ConvertAlternative(uint8_t type, const msgpack::object& body, Variant* out) {
  if constexpr (I < std::variant_size_v<Variant>) {
    using T = std::variant_alternative_t<I, Variant>;
    if (static_cast<uint8_t>(T::kType) == type) {
      T value;
      body.convert(value);
      *out = std::move(value);
      return true;
    }
    return ConvertAlternative<Variant, I + 1>(type, body, out);
  } else {
    return false;
  }
}

}  // namespace codec_internal

// Decodes one [type, [fields]] value that must fill `bytes` exactly.
template <typename Variant>
Result<Variant> DecodeTyped(std::string_view bytes, const DecodeLimits& limits) {
  // The scan proves every count and length fits in `bytes` before msgpack-c
  // allocates storage for them; the limits given to msgpack-c below restate
  // the same bounds.
  if (Status scanned = ScanMsgpack(bytes, limits); !scanned.ok()) return scanned;
  uint8_t type = 0;
  try {
    const msgpack::unpack_limit limit(limits.max_array, limits.max_map, limits.max_str,
                                      limits.max_bin, /*ext=*/0, limits.max_depth);
    size_t offset = 0;
    msgpack::object_handle handle = msgpack::unpack(
        bytes.data(), bytes.size(), offset, codec_internal::ReferenceInput, nullptr, limit);
    if (offset != bytes.size()) {
      return Status::Error(std::to_string(bytes.size() - offset) + " stray bytes after the message");
    }
    const msgpack::object& root = handle.get();
    if (root.type != msgpack::type::ARRAY || root.via.array.size != 2 ||
        root.via.array.ptr[0].type != msgpack::type::POSITIVE_INTEGER ||
        root.via.array.ptr[0].via.u64 > 255 ||
        root.via.array.ptr[1].type != msgpack::type::ARRAY) {
      return Status::Error("not a [type, [fields]] array");
    }
    type = static_cast<uint8_t>(root.via.array.ptr[0].via.u64);
    Variant value;
    if (!codec_internal::ConvertAlternative(type, root.via.array.ptr[1], &value)) {
      return Status::Error("unknown type " + std::to_string(type));
    }
    return value;
  } catch (const msgpack::type_error&) {
    return Status::Error("a field of type " + std::to_string(type) + " has the wrong type or range");
  } catch (const msgpack::insufficient_bytes&) {
    return Status::Error("truncated");
  } catch (const msgpack::depth_size_overflow&) {
    return Status::Error("nested too deeply");
  } catch (const msgpack::size_overflow& e) {
    return Status::Error(std::string("exceeds a size limit (") + e.what() + ")");
  } catch (const msgpack::unpack_error& e) {
    return Status::Error(std::string("not MessagePack (") + e.what() + ")");
  } catch (const std::bad_alloc&) {
    return Status::Error("too large to decode");
  }
}

}  // namespace drover
