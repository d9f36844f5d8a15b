#include "core/result.hpp"

namespace er {

std::string_view code_name(Code code) {
  switch (code) {
#define ER_CODE(name, desc) \
  case Code::name:          \
    return #name;
#include "core/error_codes.def"
#undef ER_CODE
  }
  return "ER_UNKNOWN";
}

}  // namespace er
