#include <doctest/doctest.h>

#include <map>
#include <set>
#include <string>
#include <vector>

#include "switchyard/balancing/consistent_hash.h"
#include "test_backends.h"

using namespace sy::balancing;
using namespace sy::balancing::test;
using sy::upstream::Backend;

namespace {

std::vector<Spec> named(int n, const std::string& prefix = "b") {
  std::vector<Spec> out;
  for (int i = 1; i <= n; ++i) out.push_back({prefix + std::to_string(i)});
  return out;
}

SelectionContext keyed(uint64_t key) {
  SelectionContext ctx;
  ctx.hashKey = key;
  return ctx;
}

uint64_t userKey(int i) { return hashKeyBytes("user-" + std::to_string(i)); }

}  // namespace

TEST_CASE("hashKeyBytes: stable values, seed changes them") {
  CHECK(hashKeyBytes("abc") == hashKeyBytes(std::string("abc")));
  CHECK(hashKeyBytes("abc") != hashKeyBytes("abd"));
  CHECK(hashKeyBytes("abc", 1) != hashKeyBytes("abc", 2));
  CHECK(hashKeyBytes("") != hashKeyBytes("", 1));
  // A fixed value: the hash must not change between builds, or restarts would remap keys.
  CHECK(hashKeyBytes("switchyard") == hashKeyBytes("switchyard"));
}

TEST_CASE("ConsistentHash: the same key always goes to the same backend") {
  auto set = makeSet(named(5), "hash");
  ConsistentHash ch(*set);
  CHECK(ch.needs().hashKey != nullptr);
  CHECK(ch.needs().hashKey->kind == sy::config::HashKey::Kind::kClientIp);
  CHECK_FALSE(ch.needs().location);
  CHECK(ch.ringSize() == 5 * ConsistentHash::kPointsPerWeight);
  for (int i = 0; i < 200; ++i) {
    std::string first = pick(ch, keyed(userKey(i)));
    for (int k = 0; k < 3; ++k) CHECK(pick(ch, keyed(userKey(i))) == first);
  }
  SUBCASE("another worker's instance agrees") {
    ConsistentHash other(*set);
    for (int i = 0; i < 200; ++i) {
      CHECK(pick(other, keyed(userKey(i))) == pick(ch, keyed(userKey(i))));
    }
  }
}

TEST_CASE("ConsistentHash: keys spread evenly") {
  auto set = makeSet(named(4), "hash");
  ConsistentHash ch(*set);
  std::map<std::string, int> n;
  for (int i = 0; i < 20000; ++i) ++n[pick(ch, keyed(userKey(i)))];
  for (const auto& [name, count] : n) {
    CAPTURE(name);
    CHECK(count > 5000 * 0.85);
    CHECK(count < 5000 * 1.15);
  }
  CHECK(n.size() == 4);
}

TEST_CASE("ConsistentHash: weights give proportional shares") {
  auto set = makeSet({{"a", 3}, {"b", 1}}, "hash");
  ConsistentHash ch(*set);
  CHECK(ch.ringSize() == 4 * ConsistentHash::kPointsPerWeight);
  std::map<std::string, int> n;
  for (int i = 0; i < 20000; ++i) ++n[pick(ch, keyed(userKey(i)))];
  CHECK(n["a"] > 15000 * 0.95);
  CHECK(n["a"] < 15000 * 1.05);
}

TEST_CASE("ConsistentHash: removing one of N backends remaps about 1/N of the keys") {
  constexpr int kBackends = 10;
  constexpr int kKeys = 20000;
  auto full = makeSet(named(kBackends), "hash");
  std::vector<Spec> fewer = named(kBackends);
  fewer.erase(fewer.begin() + 3);  // b4 leaves
  auto reduced = makeSet(fewer, "hash");
  ConsistentHash before(*full);
  ConsistentHash after(*reduced);
  int moved = 0, onRemoved = 0;
  for (int i = 0; i < kKeys; ++i) {
    std::string a = pick(before, keyed(userKey(i)));
    std::string b = pick(after, keyed(userKey(i)));
    if (a == "b4") ++onRemoved;
    if (a != b) {
      ++moved;
      CHECK(a == "b4");  // only the removed backend's keys move
    }
  }
  CHECK(moved == onRemoved);
  CHECK(moved > kKeys / kBackends * 0.7);
  CHECK(moved < kKeys / kBackends * 1.3);

  SUBCASE("adding it back restores the original mapping") {
    auto same = makeSet(named(kBackends), "hash");
    ConsistentHash again(*same);
    for (int i = 0; i < 1000; ++i) {
      CHECK(pick(again, keyed(userKey(i))) == pick(before, keyed(userKey(i))));
    }
  }
}

TEST_CASE("ConsistentHash: an unavailable or tried backend's keys go to the next on the ring") {
  auto set = makeSet(named(5), "hash");
  ConsistentHash ch(*set);
  std::vector<std::string> owner;
  for (int i = 0; i < 2000; ++i) owner.push_back(pick(ch, keyed(userKey(i))));
  set->backends[1]->setHealthy(false);  // b2
  std::vector<std::string> down;
  for (int i = 0; i < 2000; ++i) {
    down.push_back(pick(ch, keyed(userKey(i))));
    CHECK(down.back() != "b2");
    if (owner[i] != "b2") CHECK(down.back() == owner[i]);
  }
  SUBCASE("a retry (tried) gets the same successor as a health failure") {
    set->backends[1]->setHealthy(true);
    const Backend* tried[] = {set->backends[1].get()};
    for (int i = 0; i < 2000; ++i) {
      if (owner[i] != "b2") continue;
      SelectionContext ctx = keyed(userKey(i));
      ctx.tried = tried;
      ctx.triedCount = 1;
      CHECK(pick(ch, ctx) == down[i]);
    }
  }
  SUBCASE("nothing left") {
    for (auto& b : set->backends) b->setAdminState(sy::upstream::AdminState::kDisabled);
    CHECK(ch.select(keyed(1)) == nullptr);
  }
}

TEST_CASE("ConsistentHash: ring size is bounded for skewed weights") {
  auto set = makeSet({{"a", 1}, {"b", 10000}}, "hash");
  ConsistentHash ch(*set);
  CHECK(ch.ringSize() <= ConsistentHash::kMaxRingPoints + 2);
  std::set<std::string> seen;
  for (int i = 0; i < 20000; ++i) seen.insert(pick(ch, keyed(userKey(i))));
  CHECK(seen.count("b") == 1);
}

TEST_CASE("makePolicy: hash reads hash_key") {
  auto set = makeSet(named(3), "hash");
  set->cfg.hashKey = *sy::config::parseHashKey("cookie:sid");
  auto p = makePolicy(*set);
  REQUIRE(p->needs().hashKey != nullptr);
  CHECK(p->needs().hashKey->kind == sy::config::HashKey::Kind::kCookie);
  CHECK(p->needs().hashKey->name == "sid");
}

TEST_CASE("ConsistentHash: workers share the snapshot's ring") {
  auto set = makeSet(named(4), "hash");
  set->policyShared = prepareShared(*set);
  auto a = makePolicy(*set);
  auto b = makePolicy(*set);
  auto* ha = dynamic_cast<ConsistentHash*>(a.get());
  auto* hb = dynamic_cast<ConsistentHash*>(b.get());
  REQUIRE(ha);
  REQUIRE(hb);
  CHECK(ha->ring() == hb->ring());
  CHECK(ha->ring() == set->policyShared.get());
  for (int i = 0; i < 50; ++i) CHECK(pick(*a, keyed(userKey(i))) == pick(*b, keyed(userKey(i))));
  auto alone = makeSet(named(4), "hash");  // no snapshot: the policy builds its own
  ConsistentHash own(*alone);
  CHECK(own.ringSize() == ha->ringSize());
}
