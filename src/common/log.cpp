#include "common/log.h"

#include <atomic>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cstdio>
#include <mutex>

#include "common/util.h"

namespace statehouse::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_mutex;

const char* LevelName(Level l) {
  switch (l) {
    case Level::kDebug:
      return "debug";
    case Level::kInfo:
      return "info";
    case Level::kWarn:
      return "warn";
    case Level::kError:
      return "error";
    default:
      return "off";
  }
}
}  // namespace

bool ParseLevel(std::string_view text, Level& out) {
  static constexpr Level kAll[] = {Level::kDebug, Level::kInfo, Level::kWarn, Level::kError,
                                   Level::kOff};
  for (Level l : kAll) {
    if (IEquals(text, LevelName(l))) {
      out = l;
      return true;
    }
  }
  return false;
}

void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }
bool Enabled(Level level) { return static_cast<int>(level) >= g_level.load(); }

void Write(Level level, std::string_view message, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  boost::json::object line;
  line["ts"] = NowMillis();
  line["level"] = LevelName(level);
  line["msg"] = message;
  for (const auto& f : fields) line[f.key] = f.value;
  std::string text = boost::json::serialize(line);
  text.push_back('\n');
  std::lock_guard lock(g_mutex);
  std::fwrite(text.data(), 1, text.size(), stderr);
  std::fflush(stderr);
}

}  // namespace statehouse::log
