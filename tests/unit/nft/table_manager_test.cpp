// TableManager against a fake kernel: adopt, replace, repair drift, remove, and a failed
// transaction that leaves everything as it was.
#include "nft/table_manager.hpp"

#include <catch2/catch.hpp>

using namespace l4lb::nft;

namespace {

// Holds one table as text. A script is "accepted" by keeping whatever follows the two
// replace lines (a real kernel would parse it); `refuse` makes the next run fail.
struct FakeKernel : Backend {
  bool present = false;
  std::string text;
  std::string refuse;  // non-empty: the next run fails with this message
  std::string list_error;
  int runs = 0, lists = 0;
  std::string printed_suffix;  // what "the kernel" adds when printing (format differences)

  std::optional<std::string> run(const std::string& script) override {
    ++runs;
    if (!refuse.empty()) return std::exchange(refuse, "");
    const std::string head = "add table inet l4lb\ndelete table inet l4lb\n";
    REQUIRE(script.rfind(head, 0) == 0);
    text = script.substr(head.size());
    present = !text.empty();
    return std::nullopt;
  }
  Listing list() override {
    ++lists;
    Listing l;
    l.error = list_error;
    if (!list_error.empty()) return l;
    l.present = present;
    l.text = present ? text + printed_suffix : "";
    return l;
  }
};

Ruleset table(const std::string& rule) {
  Ruleset r;
  r.text = "table inet l4lb {\n\tcomment \"managed by l4lbd\"\n\tchain postrouting {\n\t\t" + rule +
           "\n\t}\n}\n";
  r.snat_rules = 1;
  return r;
}

}  // namespace

TEST_CASE("created when first wanted, untouched when unchanged, replaced on change") {
  auto* k = new FakeKernel;
  TableManager m{std::unique_ptr<Backend>(k)};
  CHECK_FALSE(m.apply(Ruleset{}));  // not wanted, not there: nothing written
  CHECK(k->runs == 0);
  CHECK(m.status().in_sync);
  CHECK_FALSE(m.apply(table("masquerade")));
  CHECK(k->runs == 1);
  CHECK(k->present);
  CHECK(m.status().in_sync);
  CHECK(m.status().applies == 1);
  CHECK_FALSE(m.apply(table("masquerade")));  // same again: no transaction
  CHECK(k->runs == 1);
  CHECK_FALSE(m.apply(table("snat ip to 10.0.0.9")));
  CHECK(k->runs == 2);
  CHECK(k->text == table("snat ip to 10.0.0.9").text);
  CHECK_FALSE(m.apply(Ruleset{}));  // no longer wanted: deleted
  CHECK_FALSE(k->present);
  CHECK(m.status().applies == 3);
  CHECK(m.status().repairs == 0);
}

TEST_CASE("a restart adopts a matching table without writing") {
  auto* k = new FakeKernel;
  k->present = true;
  k->text = table("masquerade").text;
  TableManager m{std::unique_ptr<Backend>(k)};
  CHECK_FALSE(m.apply(table("masquerade")));
  CHECK(k->runs == 0);
  CHECK(m.status().adoptions == 1);
  CHECK(m.status().present);
  CHECK(m.status().in_sync);
}

TEST_CASE("a restart replaces a table that differs") {
  auto* k = new FakeKernel;
  k->present = true;
  k->text = table("snat ip to 1.2.3.4").text;
  TableManager m{std::unique_ptr<Backend>(k)};
  CHECK_FALSE(m.apply(table("masquerade")));
  CHECK(k->runs == 1);
  CHECK(k->text == table("masquerade").text);
  CHECK(m.status().adoptions == 0);
}

TEST_CASE("drift: a deleted or edited table is restored by the check and counted") {
  auto* k = new FakeKernel;
  TableManager m{std::unique_ptr<Backend>(k)};
  REQUIRE_FALSE(m.apply(table("masquerade")));
  k->present = false;  // nft delete table inet l4lb
  k->text.clear();
  CHECK_FALSE(m.apply(table("masquerade"), TableManager::Why::check));
  CHECK(k->present);
  CHECK(m.status().repairs == 1);
  k->text = table("accept").text;  // someone edits a rule
  CHECK_FALSE(m.apply(table("masquerade"), TableManager::Why::check));
  CHECK(k->text == table("masquerade").text);
  CHECK(m.status().repairs == 2);
  CHECK_FALSE(m.apply(table("masquerade"), TableManager::Why::check));  // in sync: no write
  CHECK(m.status().repairs == 2);
  CHECK(k->runs == 3);
}

TEST_CASE("a failed transaction changes nothing and is reported") {
  auto* k = new FakeKernel;
  TableManager m{std::unique_ptr<Backend>(k)};
  REQUIRE_FALSE(m.apply(table("masquerade")));
  k->refuse = "Error: Could not process rule: No such file or directory";
  auto e = m.apply(table("snat ip to 10.0.0.9"));
  REQUIRE(e);
  CHECK(*e == "writing table inet l4lb: Error: Could not process rule: No such file or directory");
  CHECK(k->text == table("masquerade").text);
  CHECK(m.status().apply_errors == 1);
  CHECK(m.status().error == *e);
  CHECK_FALSE(m.status().in_sync);
  CHECK_FALSE(m.apply(table("snat ip to 10.0.0.9")));  // retried: fine now
  CHECK(m.status().error.empty());
  CHECK(m.status().in_sync);
}

TEST_CASE("a kernel without nf_tables: an error only when a table is wanted") {
  auto* k = new FakeKernel;
  k->list_error = "Error: Could not process rule: Operation not supported";
  TableManager m{std::unique_ptr<Backend>(k)};
  CHECK_FALSE(m.apply(Ruleset{}));
  CHECK(m.status().apply_errors == 0);
  auto e = m.apply(table("masquerade"));
  REQUIRE(e);
  CHECK(e->find("Operation not supported") != std::string::npos);
  CHECK(m.status().apply_errors == 1);
  CHECK(k->runs == 0);
}

TEST_CASE("nft printing a rule differently does not cause a rewrite on every check") {
  auto* k = new FakeKernel;
  k->printed_suffix = "# printed differently\n";
  TableManager m{std::unique_ptr<Backend>(k)};
  REQUIRE_FALSE(m.apply(table("masquerade")));
  CHECK(k->runs == 1);
  CHECK_FALSE(m.apply(table("masquerade"), TableManager::Why::check));
  CHECK(k->runs == 1);
  CHECK(m.status().repairs == 0);
}

TEST_CASE("a table of that name without l4lbd's comment is someone else's: never touched") {
  auto* k = new FakeKernel;
  k->present = true;
  k->text = "table inet l4lb {\n\tchain x {\n\t}\n}\n";
  TableManager m{std::unique_ptr<Backend>(k)};
  auto e = m.apply(table("masquerade"));
  REQUIRE(e);
  CHECK(e->find("was not created by l4lbd") != std::string::npos);
  CHECK(m.apply(Ruleset{}));  // not even deleted when the config no longer wants a table
  CHECK(k->runs == 0);
  CHECK(k->present);
  CHECK(m.status().apply_errors == 2);
}

TEST_CASE("our own table that lost its comment after we wrote it is still repaired") {
  auto* k = new FakeKernel;
  TableManager m{std::unique_ptr<Backend>(k)};
  REQUIRE_FALSE(m.apply(table("masquerade")));
  k->text = "table inet l4lb {\n}\n";
  CHECK_FALSE(m.apply(table("masquerade"), TableManager::Why::check));
  CHECK(k->text == table("masquerade").text);
  CHECK(m.status().repairs == 1);
}
