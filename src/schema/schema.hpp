// A kind's state schema: the JSON-Schema subset of SPEC §4, compiled once per
// kind, validating the way zod's parse does (unknown keys stripped unless
// additionalProperties allows them, defaults filled in).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "json/doc.hpp"
#include "json/value.hpp"

namespace er::schema {

struct Node;  // compiled schema node (schema.cpp)

// A check on strings the schema needs and leaves to the caller: a
// `pattern` (ECMAScript regular expression source) or a `format` given
// without a pattern. The caller runs it (JavaScript: a RegExp).
struct StringTest {
  enum class Kind : std::uint8_t { Pattern, Format };
  Kind kind;
  std::string text;  // the pattern's source, or the format's name
};
// Runs string test `test` (an index into string_tests()) on `text`.
using StringTester = std::function<bool(std::uint32_t test, std::string_view text)>;

struct CompileOptions {
  // true: unknown keys of objects without additionalProperties are an error
  // instead of being stripped.
  bool strict = false;
};

class Schema {
 public:
  // Compiles a JSON Schema whose root describes an object. Errors:
  // ER_BAD_SCHEMA naming `kind` and what was received.
  static Result<Schema> compile(const json::Value& schema, std::string_view kind, CompileOptions options = {});

  // Validates `state` and normalises it in place (strip unknown keys, add
  // defaults). Returns true when normalising changed `state`. On failure:
  // ER_SCHEMA, message naming kind, id and the path of the first bad field,
  // Error::path set to that path ("metadata.tags[2]"; "" for the root).
  Result<bool> validate(json::Value& state, std::string_view kind, std::string_view id,
                        const StringTester* tester = nullptr) const;
  // The same checks on a document node, which is never changed: true when
  // the state is valid but validate() would normalise it (the caller then
  // takes the tree path for it), false when it is valid as it is.
  Result<bool> check(const json::Doc& doc, std::uint32_t node, std::string_view kind, std::string_view id,
                     const StringTester* tester = nullptr) const;

  // The string tests the schema uses; without a tester they fail.
  const std::vector<StringTest>& string_tests() const;

  // The top-level properties the schema declares, in key order.
  std::vector<std::string> property_names() const;

 private:
  struct Tests {
    std::vector<StringTest> list;
    std::vector<std::string> names;  // for messages
  };
  std::shared_ptr<const Node> root_;
  std::shared_ptr<const Tests> tests_;
  bool strict_ = false;
};

}  // namespace er::schema
