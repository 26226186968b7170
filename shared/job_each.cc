// ValueReader::ReadEach: a step's `each` (docs/jobs.md, "Arrays"), checked
// and kept compact in an ArraySpec. Part of pass 1 of LoadJob
// (shared/job_draft.h); the element count against the limits and the
// placeholders are checked when arrays are expanded (job_expand.cc).

#include <cctype>
#include <cmath>
#include <span>

#include "shared/job_array.h"
#include "shared/job_values.h"

namespace drover {
namespace {

// "DROVER_PARAM_" + the name upper-cased: what the step sees.
std::string EnvName(std::string_view name) {
  std::string env = "DROVER_PARAM_";
  for (char c : name) env += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return env;
}

}  // namespace

bool ValueReader::ReadEach(const msgpack::object& o, uint64_t order, const PathNode* path,
                           ArraySpec* out) {
  if (o.type != msgpack::type::MAP) {
    Report(order, path,
           "expected a map of parameter names to lists or ranges, got " + DescribeValue(o));
    return false;
  }
  if (o.via.map.size == 0) {
    Report(order, path, "needs at least one parameter (an array of one element is a plain step)");
    return false;
  }
  bool ok = true;
  for (const msgpack::object_kv& kv : std::span(o.via.map.ptr, o.via.map.size)) {
    const uint64_t param_order = Tick();
    if (kv.key.type != msgpack::type::STR) {
      Report(param_order, path,
             std::string("parameter names must be strings, got ") + KindName(kv.key));
      ok = false;
      continue;
    }
    const std::string_view name = StrView(kv.key);
    const PathNode param_path{path, false, 0, name};
    bool usable = true;
    if (!IsParamName(name)) {
      Report(param_order, &param_path,
             "not a parameter name (a letter or \"_\", then letters, digits or \"_\")");
      usable = false;
    } else if (name == kIndexPlaceholder) {
      Report(param_order, &param_path,
             "\"index\" is the element's position, not a parameter: choose another name");
      usable = false;
    } else {
      for (const ArrayParam& other : out->params) {
        if (other.name == name) {
          Report(param_order, &param_path, "parameter given twice");
          usable = false;
        } else if (EnvName(other.name) == EnvName(name)) {
          Report(param_order, &param_path,
                 "both " + Quote(other.name) + " and " + Quote(name) + " would be " +
                     EnvName(name) + " in the environment");
          usable = false;
        }
      }
    }
    ArrayParam param;
    param.name = name;
    const msgpack::object& v = kv.val;
    if (v.type == msgpack::type::ARRAY) {
      if (v.via.array.size == 0) {
        Report(param_order, &param_path,
               "must not be empty (an array of no elements runs nothing)");
        usable = false;
      }
      param.values.reserve(v.via.array.size);
      for (size_t i = 0; i < v.via.array.size; ++i) {
        const uint64_t value_order = Tick();
        const PathNode value_path{&param_path, true, i, {}};
        const msgpack::object& e = v.via.array.ptr[i];
        switch (e.type) {
          case msgpack::type::STR:
            if (StrView(e).find('\0') != std::string_view::npos) {
              Report(value_order, &value_path,
                     "contains a NUL byte, which a command line cannot carry");
              usable = false;
            }
            param.values.emplace_back(StrView(e));
            break;
          case msgpack::type::POSITIVE_INTEGER:
            param.values.push_back(std::to_string(e.via.u64));
            break;
          case msgpack::type::NEGATIVE_INTEGER:
            param.values.push_back(std::to_string(e.via.i64));
            break;
          case msgpack::type::FLOAT32:
          case msgpack::type::FLOAT64:
            if (!std::isfinite(e.via.f64)) {
              Report(value_order, &value_path, "must be a finite number");
              usable = false;
            }
            param.values.push_back(e.type == msgpack::type::FLOAT32
                                       ? FractionText(static_cast<float>(e.via.f64))
                                       : FractionText(e.via.f64));
            break;
          default:
            Report(value_order, &value_path,
                   "expected a string or a number, got " + DescribeValue(e));
            usable = false;
        }
      }
    } else if (v.type == msgpack::type::MAP && v.via.map.size == 1 &&
               v.via.map.ptr[0].key.type == msgpack::type::STR &&
               StrView(v.via.map.ptr[0].key) == "range") {
      const uint64_t range_order = Tick();
      const PathNode range_path{&param_path, false, 0, "range"};
      const msgpack::object& r = v.via.map.ptr[0].val;
      if (r.type != msgpack::type::ARRAY || r.via.array.size < 2 || r.via.array.size > 3) {
        Report(range_order, &range_path,
               "expected [start, end] or [start, end, step] (integers; end excluded), got " +
                   DescribeValue(r));
        usable = false;
      } else {
        int64_t numbers[3] = {0, 0, 1};
        for (size_t i = 0; i < r.via.array.size; ++i) {
          const PathNode number_path{&range_path, true, i, {}};
          if (!ReadInteger(r.via.array.ptr[i], Tick(), &number_path, INT64_MIN, INT64_MAX,
                           &numbers[i])) {
            usable = false;
          }
        }
        param.is_range = true;
        param.begin = numbers[0];
        param.end = numbers[1];
        param.step = numbers[2];
        if (usable && param.step == 0) {
          Report(range_order, &range_path, "the step must not be 0");
          usable = false;
        } else if (usable && ParamSize(param) == 0) {
          Report(range_order, &range_path,
                 "is empty: from " + std::to_string(param.begin) + " to " +
                     std::to_string(param.end) + " (excluded) by " + std::to_string(param.step) +
                     " gives no value");
          usable = false;
        }
      }
    } else if (v.type == msgpack::type::MAP && v.via.map.size == 1 &&
               v.via.map.ptr[0].key.type == msgpack::type::STR &&
               StrView(v.via.map.ptr[0].key) == "lines") {
      Report(Tick(), &param_path,
             "\"lines\" names a file that `submit` reads into a list before sending; a job file "
             "that comes another way must list the values");
      usable = false;
    } else {
      Report(param_order, &param_path,
             "expected a list of values, {\"range\": [start, end]} or {\"lines\": \"file\"}, got " +
                 DescribeValue(v));
      usable = false;
    }
    if (usable) {
      out->params.push_back(std::move(param));
    } else {
      ok = false;
    }
  }
  // A parameter with a problem is left out, and so is then the whole spec:
  // with some parameters missing, the placeholders would be reported too.
  if (!ok) out->params.clear();
  return ok;
}

}  // namespace drover
