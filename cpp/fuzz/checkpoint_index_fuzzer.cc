// libFuzzer harness for the checkpoint index (.index) parser; see checkpoint_target.h.
#include <cstddef>
#include <cstdint>

#include "checkpoint_target.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fastmeta_fuzz::RunCheckpointTarget(data, size);
  return 0;
}
