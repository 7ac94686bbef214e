#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "switchyard/server/cpus.h"

using namespace sy::server;
namespace fs = std::filesystem;

TEST_CASE("cpu.max: quota over period, rounded up; max and junk mean no limit") {
  CHECK(parseCpuMax("max 100000\n") == std::nullopt);
  CHECK(parseCpuMax("100000 100000\n") == 1u);
  CHECK(parseCpuMax("150000 100000") == 2u);
  CHECK(parseCpuMax("50000 100000\n") == 1u);
  CHECK(parseCpuMax("400000 100000\n") == 4u);
  CHECK(parseCpuMax("") == std::nullopt);
  CHECK(parseCpuMax("100000") == std::nullopt);
  CHECK(parseCpuMax("abc 100000") == std::nullopt);
  CHECK(parseCpuMax("100000 0") == std::nullopt);
}

TEST_CASE("/proc/self/cgroup: the unified (0::) line") {
  CHECK(parseOwnCgroup("0::/system.slice/switchyard.service\n") ==
        std::string("/system.slice/switchyard.service"));
  CHECK(parseOwnCgroup("12:cpu,cpuacct:/x\n0::/\n") == std::string("/"));
  CHECK(parseOwnCgroup("12:cpu,cpuacct:/x\n") == std::nullopt);
}

TEST_CASE("cgroup quota: the tightest of the cgroup and its ancestors") {
  fs::path root = fs::temp_directory_path() / ("sy-cpus-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "kubepods/pod1/ctr");
  auto write = [](const fs::path& p, const char* text) { std::ofstream(p) << text; };
  write(root / "cpu.max", "max 100000\n");
  write(root / "kubepods/pod1/ctr/cpu.max", "max 100000\n");
  CHECK(cgroupCpuLimit(root.string(), "/kubepods/pod1/ctr") == std::nullopt);
  write(root / "kubepods/pod1/cpu.max", "250000 100000\n");
  CHECK(cgroupCpuLimit(root.string(), "/kubepods/pod1/ctr") == 3u);
  write(root / "kubepods/pod1/ctr/cpu.max", "100000 100000\n");
  CHECK(cgroupCpuLimit(root.string(), "/kubepods/pod1/ctr") == 1u);
  CHECK(cgroupCpuLimit(root.string(), "/") == std::nullopt);
  CHECK(cgroupCpuLimit((root / "missing").string(), "/kubepods") == std::nullopt);
  fs::remove_all(root);
}

TEST_CASE("affinity and the auto count are at least one") {
  CHECK(affinityCpus() >= 1u);
  CHECK(autoWorkerCount() >= 1u);
  CHECK(autoWorkerCount() <= affinityCpus());
}
