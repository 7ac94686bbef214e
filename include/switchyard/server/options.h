#pragma once
// The command line of the switchyard binary (src/main.cc): parsing, usage text and the build
// information printed by `switchyard -V`. man/switchyard.8 documents every option listed here.

#include <cstdio>
#include <expected>
#include <string>

namespace sy::server {

inline constexpr const char* kDefaultConfigPath = "/etc/switchyard/switchyard.yaml";

struct Options {
  enum class Action { kRun, kCheck, kDumpConfig, kReload, kHelp, kVersion, kBuildInfo };
  Action action = Action::kRun;
  std::string configPath = kDefaultConfigPath;
  bool watch = false;
  std::string pidFile;  // --pid-file: written once serving, taken over by an upgrade
};

// Parses argv (getopt_long: `-c FILE`, `--config FILE`, `--config=FILE`, `-cFILE`). Applies
// --log-level as it goes. On a usage error returns the message to print before the usage text
// (exit code 2).
std::expected<Options, std::string> parseOptions(int argc, char** argv);

void printUsage(FILE* out);

// `switchyard -V`: version, git commit, build type, compiler and library versions.
void printBuildInfo(FILE* out);

}  // namespace sy::server
