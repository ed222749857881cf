#include "training_checkpoint_entry.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return fuzz_training_checkpoint(data, size);
}
