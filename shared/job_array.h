// Array steps (`each` in a job file): how many elements one has, what each
// element's parameters are, and how a template string renders for one.
// Pure functions of an ArraySpec (shared/job_spec.h), shared by the loader,
// which expands arrays into plain steps for now (job_expand.cc), and by any
// later user that keeps arrays as templates and renders on demand.
//
// Elements are numbered 0..ElementCount()-1 over the product of the
// parameters in written order, the first varying slowest: for
// {"lr": [0.1, 0.01], "seed": {"range": [0, 3]}} element 4 is lr=0.01, seed=1.
//
// Placeholders (docs/jobs.md, "Arrays"): `{name}` with name
// [A-Za-z_][A-Za-z0-9_]*, a parameter or `index`, is replaced by its value,
// unless the `{` follows a `$` (shell's `${d}` stays). `{{` and `}}` render as
// one literal brace. Any other brace is literal (awk's `{ print }` survives).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/job_spec.h"

namespace drover {

// The name that stands for an element's position, 0..N-1.
inline constexpr std::string_view kIndexPlaceholder = "index";

// [A-Za-z_][A-Za-z0-9_]*
bool IsParamName(std::string_view name);

// How many values one parameter takes.
uint64_t ParamSize(const ArrayParam& param);
// The number of elements: the product of the parameters' sizes, or
// UINT64_MAX if that overflows. 1 for an empty spec (a plain step).
uint64_t ElementCount(const ArraySpec& each);
// The parameters' sizes, in order: equal shapes make arrays pair up.
std::vector<uint64_t> Shape(const ArraySpec& each);

// Parameter `param`'s value in element `element`, as it renders.
// REQUIRES: param < each.params.size(), element < ElementCount(each).
std::string ParamValue(const ArraySpec& each, size_t param, uint64_t element);
// The value of placeholder `name` in `element`: a parameter's, or for
// "index" the element's position. False when `name` is neither.
bool PlaceholderValue(const ArraySpec& each, std::string_view name, uint64_t element,
                      std::string* value);

// Calls `found(name, offset)` for each placeholder in `text`, in order;
// `offset` is where its `{` is. Escaped and literal braces are skipped.
void ForEachPlaceholder(std::string_view text,
                        const std::function<void(std::string_view, size_t)>& found);
// Whether `text` has a placeholder or an escaped brace, i.e. whether
// rendering could change it.
bool NeedsRendering(std::string_view text);

// `text` with every placeholder replaced by its value in `element` and
// `{{`/`}}` by one brace; a placeholder that names nothing stays as written
// (the loader reports those before rendering).
std::string Render(std::string_view text, const ArraySpec& each, uint64_t element);

// The id of element `element` of the array whose `id` field is `id`: the
// rendered id when it has placeholders (`sim-{lr}`: "sim-0.1"), else
// "id[element]" ("train[7]").
std::string ElementId(std::string_view id, const ArraySpec& each, uint64_t element);

// How a fraction from a job file renders: the shortest text that reads back
// as the same double, with ".0" kept on whole numbers and no padded
// exponent ("0.1", "1.0", "1e-5", "2.5e+20").
std::string FractionText(double value);
// The same for a MessagePack float32, whose digits are a float's: 0.1f is "0.1".
std::string FractionText(float value);

}  // namespace drover
