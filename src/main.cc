// switchyard: HTTP reverse proxy and load balancer. Command line entry point.
// Options are parsed in src/server/options.cc (usage text, -V build information).

#include <cstdio>
#include <memory>
#include <string>

#include "switchyard/config/dump.h"
#include "switchyard/config/loader.h"
#include "switchyard/geo/locator.h"
#include "switchyard/server/reload_client.h"
#include "switchyard/server/options.h"
#include "switchyard/server/server.h"
#include "switchyard/server/upgrade.h"

int main(int argc, char** argv) {
  sy::server::upgrade::rememberCommandLine(argc, argv);
  using Action = sy::server::Options::Action;
  auto options = sy::server::parseOptions(argc, argv);
  if (!options) {
    std::fprintf(stderr, "switchyard: %s\n\n", options.error().c_str());
    sy::server::printUsage(stderr);
    return 2;
  }
  switch (options->action) {
    case Action::kHelp: sy::server::printUsage(stdout); return 0;
    case Action::kVersion: std::printf("switchyard %s\n", SWITCHYARD_VERSION); return 0;
    case Action::kBuildInfo: sy::server::printBuildInfo(stdout); return 0;
    default: break;
  }
  const std::string& path = options->configPath;

  if (options->action == Action::kReload) return sy::server::requestReload(path);
  auto cfg = sy::config::loadConfigFile(path);
  if (!cfg) {
    std::fprintf(stderr, "switchyard: invalid configuration: %s\n", cfg.error().format().c_str());
    sy::server::upgrade::reportStartFailure("invalid configuration: " + cfg.error().format());
    return 1;
  }
  if (options->action == Action::kCheck || options->action == Action::kDumpConfig) {
    // Also open what the loader leaves to start-up (geo.database), as start-up would.
    if (auto geo = sy::geo::Locator::create(*cfg); !geo) {
      std::fprintf(stderr, "switchyard: invalid configuration: %s\n", geo.error().c_str());
      return 1;
    }
    if (options->action == Action::kDumpConfig) {
      std::printf("# effective configuration of %s (switchyard %s --dump-config)\n%s",
                  path.c_str(), SWITCHYARD_VERSION, sy::config::dumpConfig(*cfg).c_str());
      return 0;
    }
    std::printf("switchyard: configuration %s is valid (%zu listeners, %zu pools)\n", path.c_str(),
                cfg->listeners.size(), cfg->pools.size());
    return 0;
  }
  sy::server::Server server(path, options->watch);
  server.setPidFile(options->pidFile);
  return server.run(std::make_shared<const sy::config::Config>(std::move(*cfg)));
}
