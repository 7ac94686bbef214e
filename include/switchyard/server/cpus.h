#pragma once
// How many workers `workers: auto` starts: the CPUs this process may run on (its affinity mask,
// as `taskset` or a cpuset sets it), capped by the cgroup v2 CPU quota of its cgroup and every
// ancestor (`cpu.max`, e.g. a container started with --cpus=1.5 gets 2). Any thread.

#include <optional>
#include <string>
#include <string_view>

namespace sy::server {

// The worker count for `workers: auto` (at least 1).
unsigned autoWorkerCount();

// CPUs in this process's affinity mask (sched_getaffinity); the online count if that fails.
unsigned affinityCpus();

// The text of one cpu.max file ("max 100000", "150000 100000") as whole CPUs, rounded up;
// nullopt for no limit or text that is not a quota.
std::optional<unsigned> parseCpuMax(std::string_view text);

// This process's cgroup v2 path from the text of /proc/self/cgroup (the "0::/path" line);
// nullopt on a cgroup v1-only system.
std::optional<std::string> parseOwnCgroup(std::string_view procSelfCgroup);

// The tightest cpu.max quota on `cgroup` and its ancestors under `root` (normally
// /sys/fs/cgroup), in whole CPUs rounded up; nullopt when none is set or readable.
std::optional<unsigned> cgroupCpuLimit(const std::string& root, const std::string& cgroup);

}  // namespace sy::server
