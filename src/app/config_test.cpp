#include "app/config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "common/error.h"

namespace statehouse::app {
namespace {

template <typename Fn>
std::string InvalidMessage(Fn&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected statehouse::Error(kInvalidArgument), got another exception: "
                  << e.what();
    return e.what();
  }
  ADD_FAILURE() << "expected kInvalidArgument";
  return "";
}

bool Contains(const std::string& s, std::string_view needle) {
  return s.find(needle) != std::string::npos;
}

// --- ParseListen -------------------------------------------------------------------------------

TEST(ParseListenTest, HostAndPort) {
  ListenAddress a = ParseListen("127.0.0.1:8080");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 8080);
  a = ParseListen("0.0.0.0:1");
  EXPECT_EQ(a.host, "0.0.0.0");
  EXPECT_EQ(a.port, 1);
  a = ParseListen("example.internal:65535");
  EXPECT_EQ(a.host, "example.internal");
  EXPECT_EQ(a.port, 65535);
}

TEST(ParseListenTest, LocalhostMeansLoopback) {
  ListenAddress a = ParseListen("localhost:9000");
  EXPECT_EQ(a.host, "127.0.0.1");
  EXPECT_EQ(a.port, 9000);
}

TEST(ParseListenTest, BracketedIPv6) {
  ListenAddress a = ParseListen("[::1]:9000");
  EXPECT_EQ(a.host, "::1");
  EXPECT_EQ(a.port, 9000);
  a = ParseListen("[fe80::1:2]:80");
  EXPECT_EQ(a.host, "fe80::1:2");
  EXPECT_EQ(a.port, 80);
}

TEST(ParseListenTest, PortOnlyMeansAllInterfaces) {
  ListenAddress a = ParseListen(":8081");
  EXPECT_EQ(a.host, "0.0.0.0");
  EXPECT_EQ(a.port, 8081);
}

TEST(ParseListenTest, PortZeroIsEphemeral) { EXPECT_EQ(ParseListen("127.0.0.1:0").port, 0); }

TEST(ParseListenTest, BadPorts) {
  for (const char* bad :
       {"127.0.0.1:", "127.0.0.1:http", "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:80x",
        "127.0.0.1:+80", "127.0.0.1: 80", "127.0.0.1:99999999999999999999", ":"}) {
    SCOPED_TRACE(bad);
    std::string msg = InvalidMessage([&] { ParseListen(bad); });
    EXPECT_TRUE(Contains(msg, "--listen")) << msg;
  }
}

TEST(ParseListenTest, MissingColon) {
  for (const char* bad : {"", "8080", "localhost"}) {
    SCOPED_TRACE(bad);
    std::string msg = InvalidMessage([&] { ParseListen(bad); });
    EXPECT_TRUE(Contains(msg, "--listen")) << msg;
  }
}

TEST(ParseListenTest, BadBrackets) {
  for (const char* bad : {"[::1]", "[::1]9000", "[::1", "[::1]:", "[::1]:abc"}) {
    SCOPED_TRACE(bad);
    InvalidMessage([&] { ParseListen(bad); });
  }
}

// --- ResolveDatabase ---------------------------------------------------------------------------

TEST(ResolveDatabaseTest, EmptyMeansFileInDataDir) {
  DatabaseTarget t = ResolveDatabase("", "/var/lib/statehouse");
  EXPECT_EQ(t.kind, DatabaseKind::kSqlite);
  EXPECT_EQ(t.location, "/var/lib/statehouse/statehouse.db");
  t = ResolveDatabase("", "./data");
  EXPECT_EQ(t.location, "./data/statehouse.db");
}

TEST(ResolveDatabaseTest, SqliteAbsoluteUrl) {
  DatabaseTarget t = ResolveDatabase("sqlite:///srv/db/x.db", "./data");
  EXPECT_EQ(t.kind, DatabaseKind::kSqlite);
  EXPECT_EQ(t.location, "/srv/db/x.db");
}

TEST(ResolveDatabaseTest, SqliteRelativeForms) {
  DatabaseTarget t = ResolveDatabase("sqlite:rel/x.db", "./data");
  EXPECT_EQ(t.kind, DatabaseKind::kSqlite);
  EXPECT_EQ(t.location, "rel/x.db");
  t = ResolveDatabase("sqlite://rel/y.db", "./data");
  EXPECT_EQ(t.kind, DatabaseKind::kSqlite);
  EXPECT_EQ(t.location, "rel/y.db");
}

TEST(ResolveDatabaseTest, PlainPath) {
  DatabaseTarget t = ResolveDatabase("/tmp/plain.db", "./data");
  EXPECT_EQ(t.kind, DatabaseKind::kSqlite);
  EXPECT_EQ(t.location, "/tmp/plain.db");
  EXPECT_EQ(ResolveDatabase("plain.db", "./data").location, "plain.db");
}

TEST(ResolveDatabaseTest, Postgres) {
  DatabaseTarget t = ResolveDatabase("postgres://u:p@db:5432/statehouse", "./data");
  EXPECT_EQ(t.kind, DatabaseKind::kPostgres);
  EXPECT_EQ(t.location, "postgres://u:p@db:5432/statehouse");
  t = ResolveDatabase("postgresql://db/statehouse?sslmode=require", "./data");
  EXPECT_EQ(t.kind, DatabaseKind::kPostgres);
  EXPECT_EQ(t.location, "postgresql://db/statehouse?sslmode=require");
}

TEST(ResolveDatabaseTest, UnknownSchemeIsInvalid) {
  for (const char* bad : {"mysql://db/x", "http://example.com/db", "file:///tmp/x.db"}) {
    SCOPED_TRACE(bad);
    std::string msg = InvalidMessage([&] { ResolveDatabase(bad, "./data"); });
    EXPECT_TRUE(Contains(msg, "--database")) << msg;
  }
}

TEST(ResolveDatabaseTest, EmptySqlitePathIsInvalid) {
  InvalidMessage([] { ResolveDatabase("sqlite://", "./data"); });
  InvalidMessage([] { ResolveDatabase("sqlite:", "./data"); });
}

// --- ApplyConfigFile ---------------------------------------------------------------------------

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("statehouse-config-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& text) {
    std::string path = (dir_ / "statehouse.yaml").string();
    std::ofstream(path) << text;
    return path;
  }

  static bool Nothing(const char*) { return false; }

  std::filesystem::path dir_;
};

TEST_F(ConfigFileTest, AppliesEveryKeyDashSpelling) {
  std::string path = Write(
      "listen: 0.0.0.0:9001\n"
      "data-dir: /srv/sh\n"
      "database: sqlite:///srv/sh/x.db\n"
      "log-level: debug\n"
      "max-body-bytes: 2048\n"
      "io-threads: 3\n"
      "worker-threads: 5\n"
      "read-threads: 4\n");
  Config c;
  ApplyConfigFile(path, c, Nothing);
  EXPECT_EQ(c.listen, "0.0.0.0:9001");
  EXPECT_EQ(c.data_dir, "/srv/sh");
  EXPECT_EQ(c.database, "sqlite:///srv/sh/x.db");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.max_body_bytes, 2048u);
  EXPECT_EQ(c.io_threads, 3);
  EXPECT_EQ(c.worker_threads, 5);
  EXPECT_EQ(c.read_threads, 4);
}

TEST_F(ConfigFileTest, AppliesUnderscoreSpelling) {
  std::string path = Write(
      "data_dir: /srv/u\n"
      "log_level: warn\n"
      "max_body_bytes: 4096\n"
      "io_threads: 2\n"
      "worker_threads: 6\n"
      "read_threads: 1\n");
  Config c;
  ApplyConfigFile(path, c, Nothing);
  EXPECT_EQ(c.data_dir, "/srv/u");
  EXPECT_EQ(c.log_level, "warn");
  EXPECT_EQ(c.max_body_bytes, 4096u);
  EXPECT_EQ(c.io_threads, 2);
  EXPECT_EQ(c.worker_threads, 6);
  EXPECT_EQ(c.read_threads, 1);
}

TEST_F(ConfigFileTest, AbsentKeysKeepDefaults) {
  std::string path = Write("log-level: error\n");
  Config c;
  ApplyConfigFile(path, c, Nothing);
  Config defaults;
  EXPECT_EQ(c.log_level, "error");
  EXPECT_EQ(c.listen, defaults.listen);
  EXPECT_EQ(c.data_dir, defaults.data_dir);
  EXPECT_EQ(c.database, defaults.database);
  EXPECT_EQ(c.max_body_bytes, defaults.max_body_bytes);
  EXPECT_EQ(c.worker_threads, defaults.worker_threads);
}

TEST_F(ConfigFileTest, KeysSetElsewhereAreNotOverridden) {
  std::string path = Write(
      "listen: 0.0.0.0:9001\n"
      "data-dir: /from/file\n"
      "log-level: debug\n");
  Config c;
  c.listen = "127.0.0.1:7000";  // as if from a flag
  std::set<std::string> asked;
  ApplyConfigFile(path, c, [&](const char* name) {
    asked.insert(name);
    return std::string(name) == "listen";
  });
  EXPECT_EQ(c.listen, "127.0.0.1:7000");
  EXPECT_EQ(c.data_dir, "/from/file");
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(asked, (std::set<std::string>{"listen", "data-dir", "log-level"}));
}

TEST_F(ConfigFileTest, EverythingSetElsewhereChangesNothing) {
  std::string path = Write(
      "listen: 0.0.0.0:9001\n"
      "data_dir: /from/file\n"
      "worker-threads: 99\n");
  Config c;
  ApplyConfigFile(path, c, [](const char*) { return true; });
  Config defaults;
  EXPECT_EQ(c.listen, defaults.listen);
  EXPECT_EQ(c.data_dir, defaults.data_dir);
  EXPECT_EQ(c.worker_threads, defaults.worker_threads);
}

TEST_F(ConfigFileTest, UnknownKeyIsAnError) {
  std::string path = Write("listen: 0.0.0.0:9001\nlisten-address: x\n");
  Config c;
  std::string msg = InvalidMessage([&] { ApplyConfigFile(path, c, Nothing); });
  EXPECT_TRUE(Contains(msg, "listen-address")) << msg;
}

TEST_F(ConfigFileTest, FlagOnlyOptionIsNotAConfigKey) {
  // --config itself is not read from the file.
  std::string path = Write("config: /etc/other.yaml\n");
  Config c;
  InvalidMessage([&] { ApplyConfigFile(path, c, Nothing); });
}

TEST_F(ConfigFileTest, BadValuesAreErrorsNamingTheKey) {
  for (const char* text :
       {"max-body-bytes: lots\n", "io-threads: many\n", "worker-threads: [1, 2]\n",
        "listen: {host: x}\n", "max-body-bytes: -1\n", "worker_threads: 1.5\n"}) {
    SCOPED_TRACE(text);
    std::string path = Write(text);
    Config c;
    std::string msg = InvalidMessage([&] { ApplyConfigFile(path, c, Nothing); });
    std::string key(text, std::string_view(text).find(':'));
    EXPECT_TRUE(Contains(msg, key)) << msg;
    Config defaults;
    EXPECT_EQ(c.max_body_bytes, defaults.max_body_bytes);
  }
}

TEST_F(ConfigFileTest, NullValueIsNotTheStringNull) {
  // "data-dir:" with no value must not become a directory literally named "null".
  std::string path = Write("data-dir:\ndatabase: ~\n");
  Config c;
  try {
    ApplyConfigFile(path, c, Nothing);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    return;
  }
  EXPECT_NE(c.data_dir, "null");
  EXPECT_NE(c.database, "null");
}

TEST_F(ConfigFileTest, MissingFileIsAnError) {
  Config c;
  std::string msg =
      InvalidMessage([&] { ApplyConfigFile((dir_ / "nope.yaml").string(), c, Nothing); });
  EXPECT_TRUE(Contains(msg, "nope.yaml")) << msg;
}

TEST_F(ConfigFileTest, MalformedYamlIsAnError) {
  std::string path = Write("listen: [unclosed\n");
  Config c;
  InvalidMessage([&] { ApplyConfigFile(path, c, Nothing); });
}

TEST_F(ConfigFileTest, NonMapIsAnError) {
  std::string path = Write("- listen\n- data-dir\n");
  Config c;
  InvalidMessage([&] { ApplyConfigFile(path, c, Nothing); });
}

TEST_F(ConfigFileTest, NonScalarKeyIsAnInvalidArgument) {
  std::string path = Write("? [a, b]\n: x\n");
  Config c;
  InvalidMessage([&] { ApplyConfigFile(path, c, Nothing); });
}

}  // namespace
}  // namespace statehouse::app
