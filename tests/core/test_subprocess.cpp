#include <gtest/gtest.h>

#include "loom/core/error.h"
#include "loom/core/subprocess.h"

namespace loom {
namespace {

TEST(Subprocess, ArgumentsReachTheChildVerbatimWithoutAShell) {
  // A shell would split, expand and run these; execvp passes them as they are.
  EXPECT_EQ(run_capture({"printf", "%s|%s", "a b", "'; echo injected; '$HOME"}), "a b|'; echo injected; '$HOME");
}

TEST(Subprocess, ExtraEnvironmentReachesTheChildOnly) {
  EXPECT_EQ(run_capture({"sh", "-c", "printf %s \"$LOOM_TEST_VAR\""}, {{"LOOM_TEST_VAR", "42"}}), "42");
  EXPECT_EQ(std::getenv("LOOM_TEST_VAR"), nullptr);
}

TEST(Subprocess, FailuresNameTheProgram) {
  try {
    run_capture({"sh", "-c", "exit 3"});
    FAIL() << "no error for exit status 3";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("sh: exited with status 3"), std::string::npos) << e.what();
  }
  try {
    run_capture({"/nonexistent/loom-no-such-program"});
    FAIL() << "no error for a missing program";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent/loom-no-such-program"), std::string::npos) << e.what();
  }
  EXPECT_THROW(run_capture({}), Error);
}

}  // namespace
}  // namespace loom
