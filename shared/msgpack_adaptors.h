// MessagePack adaptors for Drover's own value types, so the protocol structs
// can list them in MSGPACK_DEFINE like any built-in type:
//   - StrongId<Tag, Rep> travels as its integer.
//   - An enum marked with DROVER_WIRE_ENUM(Type, kLastValue) travels as its
//     integer and is range-checked on decode: a value past kLastValue is a
//     msgpack::type_error, which the codec turns into a "malformed message".
//   - Blob travels as bin.
//   - TaskKey travels as [job, step, attempt].
#pragma once

// The parts of msgpack-c that the messages need, not <msgpack.hpp>: that
// one brings every adaptor msgpack-c has (Boost's among them), and took
// 2.5 s of compile time in each of the 111 files that came to include it,
// a seventh of the build. MSGPACK_DEFINE's inline members instantiate the
// adaptors of every member's type in every file that includes a message,
// so a message's member of a type not listed here needs its adaptor here.
#include <msgpack/adaptor/adaptor_base.hpp>
#include <msgpack/adaptor/bool.hpp>
#include <msgpack/adaptor/cpp17/optional.hpp>
#include <msgpack/adaptor/define.hpp>
#include <msgpack/adaptor/float.hpp>
#include <msgpack/adaptor/int.hpp>
#include <msgpack/adaptor/nil.hpp>
#include <msgpack/adaptor/pair.hpp>
#include <msgpack/adaptor/string.hpp>
#include <msgpack/adaptor/vector.hpp>
#include <msgpack/object.hpp>
#include <msgpack/pack.hpp>
#include <string>
#include <string_view>
#include <type_traits>

#include "shared/ids.h"

namespace drover {

// Bytes that travel as MessagePack bin (a str is accepted on decode, since
// hand-written job files and other encoders often send text as str).
struct Blob {
  std::string bytes;
  bool operator==(const Blob&) const = default;
};

// Packs `bytes` as bin, as a Blob holding them would be: for encoders that
// write straight from a view (no Blob to fill first).
template <typename Stream>
void PackBin(msgpack::packer<Stream>& packer, std::string_view bytes) {
  packer.pack_bin(static_cast<uint32_t>(bytes.size()));
  // An empty view may have no data pointer at all, and a sink copies with
  // memcpy, which must not be given a null pointer even for no bytes.
  if (!bytes.empty()) packer.pack_bin_body(bytes.data(), static_cast<uint32_t>(bytes.size()));
}

// Specialised by DROVER_WIRE_ENUM for each enum that crosses the wire.
template <typename E>
struct WireEnum : std::false_type {};

}  // namespace drover

#define DROVER_WIRE_ENUM(Type, kLast)                                   \
  template <>                                                           \
  struct drover::WireEnum<Type> : std::true_type {                      \
    static constexpr auto kMax = static_cast<std::underlying_type_t<Type>>(kLast); \
  }

namespace msgpack {
MSGPACK_API_VERSION_NAMESPACE(MSGPACK_DEFAULT_API_NS) {
  namespace adaptor {

  template <typename Tag, typename Rep>
  struct convert<drover::StrongId<Tag, Rep>> {
    const msgpack::object& operator()(const msgpack::object& o,
                                      drover::StrongId<Tag, Rep>& v) const {
      v.value = o.as<Rep>();
      return o;
    }
  };

  template <typename Tag, typename Rep>
  struct pack<drover::StrongId<Tag, Rep>> {
    template <typename Stream>
    msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& p,
                                        const drover::StrongId<Tag, Rep>& v) const {
      return p.pack(v.value);
    }
  };

  template <>
  struct convert<drover::Blob> {
    const msgpack::object& operator()(const msgpack::object& o, drover::Blob& v) const {
      if (o.type == msgpack::type::BIN) {
        v.bytes.assign(o.via.bin.ptr, o.via.bin.size);
      } else if (o.type == msgpack::type::STR) {
        v.bytes.assign(o.via.str.ptr, o.via.str.size);
      } else {
        throw msgpack::type_error();
      }
      return o;
    }
  };

  template <>
  struct pack<drover::Blob> {
    template <typename Stream>
    msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& p, const drover::Blob& v) const {
      drover::PackBin(p, v.bytes);
      return p;
    }
  };

  template <>
  struct convert<drover::TaskKey> {
    const msgpack::object& operator()(const msgpack::object& o, drover::TaskKey& v) const {
      if (o.type != msgpack::type::ARRAY || o.via.array.size != 3) throw msgpack::type_error();
      v.job.value = o.via.array.ptr[0].as<uint64_t>();
      v.step.value = o.via.array.ptr[1].as<uint32_t>();
      v.attempt.value = o.via.array.ptr[2].as<uint32_t>();
      return o;
    }
  };

  template <>
  struct pack<drover::TaskKey> {
    template <typename Stream>
    msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& p, const drover::TaskKey& v) const {
      p.pack_array(3);
      p.pack(v.job.value);
      p.pack(v.step.value);
      p.pack(v.attempt.value);
      return p;
    }
  };

  template <typename E>
  struct convert<E, std::enable_if_t<drover::WireEnum<E>::value>> {
    const msgpack::object& operator()(const msgpack::object& o, E& v) const {
      using U = std::underlying_type_t<E>;
      U raw = o.as<U>();
      if (raw > drover::WireEnum<E>::kMax) throw msgpack::type_error();
      v = static_cast<E>(raw);
      return o;
    }
  };

  template <typename E>
  struct pack<E, std::enable_if_t<drover::WireEnum<E>::value>> {
    template <typename Stream>
    msgpack::packer<Stream>& operator()(msgpack::packer<Stream>& p, const E& v) const {
      return p.pack(static_cast<std::underlying_type_t<E>>(v));
    }
  };

  }  // namespace adaptor
}  // MSGPACK_API_VERSION_NAMESPACE
}  // namespace msgpack
