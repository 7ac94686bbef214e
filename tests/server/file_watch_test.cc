// FileWatch on a real loop and real files: rename over, in-place writes, a ConfigMap-style
// `..data` symlink swap, and events that do not change the watched file.

#include "switchyard/server/file_watch.h"

#include <doctest/doctest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "../uv_test_loop.h"

namespace sy::server {
namespace {

namespace fs = std::filesystem;

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/switchyard-watch-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

TEST_CASE("FileWatch reports renames over, in-place writes and symlink swaps, once each") {
  UvTestLoop t;
  TempDir d;
  const fs::path vol = d.path / "vol";
  fs::create_directories(vol / "..v1");
  fs::create_directories(vol / "..v2");
  write(vol / "..v1" / "config.yaml", "one\n");
  write(vol / "..v2" / "config.yaml", "two\n");
  fs::create_directory_symlink("..v1", vol / "..data");
  fs::create_symlink("..data/config.yaml", vol / "config.yaml");
  const fs::path plain = d.path / "plain.yaml";
  write(plain, "a\n");

  int changes = 0;
  // A long poll interval: what is seen here comes from inotify.
  FileWatch w(&t.loop, {(vol / "config.yaml").string(), plain.string()}, [&] { ++changes; },
              50, 60'000);
  CHECK(w.start() == "");

  SUBCASE("unrelated files in the directories do not count") {
    write(d.path / "other", "x\n");
    write(vol / "unrelated", "x\n");
    t.runUntil([] { return false; }, 300);
    CHECK(changes == 0);
  }
  SUBCASE("a ConfigMap ..data swap") {
    fs::create_directory_symlink("..v2", vol / "..data_tmp");
    fs::rename(vol / "..data_tmp", vol / "..data");
    CHECK(t.runUntil([&] { return changes == 1; }));
    // Writing the new target in place is seen too (its directory is watched now).
    write(vol / "..v2" / "config.yaml", "two, edited\n");
    CHECK(t.runUntil([&] { return changes == 2; }));
  }
  SUBCASE("renamed over, then written in place") {
    write(d.path / "plain.tmp", "b\n");
    fs::rename(d.path / "plain.tmp", plain);
    CHECK(t.runUntil([&] { return changes == 1; }));
    write(plain, "c, longer\n");
    CHECK(t.runUntil([&] { return changes == 2; }));
  }
  t.runUntil([] { return false; }, 150);
  const int seen = changes;
  w.close();
  CHECK(t.drain());
  CHECK(changes == seen);
}

TEST_CASE("FileWatch's periodic check finds a change without inotify events") {
  UvTestLoop t;
  TempDir d;
  const fs::path f = d.path / "missing-dir" / "cert.pem";
  int changes = 0;
  FileWatch w(&t.loop, {f.string()}, [&] { ++changes; }, 20, 50);
  CHECK(w.start() != "");  // the directory does not exist yet: only the poll can see it
  fs::create_directories(f.parent_path());
  write(f, "pem\n");
  CHECK(t.runUntil([&] { return changes == 1; }));
  w.close();
  CHECK(t.drain());
}

}  // namespace
}  // namespace sy::server
