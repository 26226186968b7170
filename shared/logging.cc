#include "shared/logging.h"

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

namespace drover {

Status SetUpLogging(const std::string& program, const std::string& level) {
  const spdlog::level::level_enum parsed = spdlog::level::from_str(level);
  // from_str answers "off" for anything it does not know.
  if (parsed == spdlog::level::off && level != "off") {
    return Status::Error("unknown log level \"" + level +
                         "\" (use trace, debug, info, warn, error, critical or off)");
  }
  auto logger = spdlog::stderr_logger_st(program);
  logger->set_pattern("%Y-%m-%d %H:%M:%S.%e " + program + " %l: %v");
  logger->set_level(parsed);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  return Status::Ok();
}

}  // namespace drover
