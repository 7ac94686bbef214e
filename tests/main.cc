#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include <cstdlib>

#include "switchyard/common/log.h"

// Code under test logs transitions and errors; keep the test output to doctest's unless
// SWITCHYARD_TEST_LOG is set.
int main(int argc, char** argv) {
  if (!std::getenv("SWITCHYARD_TEST_LOG")) sy::log::setLevel(sy::log::Level::kError);
  doctest::Context ctx(argc, argv);
  return ctx.run();
}
