// libFuzzer harness: the one-pass rewriter over arbitrary MetaGraphDef bytes, with
// several option combinations (scope, clear_devices, existing names, input_map,
// frame names) and invariants on every accepted input (see rewrite_target.h).
#include <cstddef>
#include <cstdint>

#include "rewrite_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fastmeta_fuzz::RunRewriteTarget(data, size);
  return 0;
}
