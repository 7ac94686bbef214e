// switchyard: HTTP reverse proxy and load balancer. Command line entry point.

#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "switchyard/common/log.h"
#include "switchyard/config/loader.h"
#include "switchyard/geo/locator.h"
#include "switchyard/server/reload_client.h"
#include "switchyard/server/server.h"
#include "switchyard/server/upgrade.h"

namespace {

constexpr const char* kDefaultConfig = "/etc/switchyard/switchyard.yaml";

void usage(FILE* out) {
  std::fprintf(out,
               "Usage: switchyard [-c FILE] [--check] [--log-level LEVEL]\n"
               "\n"
               "HTTP/1.1 reverse proxy and load balancer.\n"
               "\n"
               "  -c, --config FILE   configuration file (default %s)\n"
               "  -t, --check         validate the configuration and exit (0 = valid, 1 = not)\n"
               "  -w, --watch         reload when the configuration file changes\n"
               "  --pid-file FILE     write the pid to FILE (taken over by an upgrade)\n"
               "  --reload            ask the running instance to reload (POST /reload on\n"
               "                      admin.listen); exit 0 if it did, 1 with the reason if not\n"
               "  --log-level LEVEL   debug | info | warn | error (default info)\n"
               "  -v, --version       print the version and exit\n"
               "  -h, --help          print this help and exit\n"
               "\n"
               "Signals: SIGHUP reloads the file; SIGTERM/SIGINT drain in-flight requests and\n"
               "exit 0; a second SIGINT exits at once; SIGUSR1 reopens the access log;\n"
               "SIGUSR2 starts the binary now on disk and hands it the sockets (upgrade).\n"
               "Metrics and the admin API are served on admin.listen (default\n"
               "http://127.0.0.1:9901/metrics).\n",
               kDefaultConfig);
}

}  // namespace

int main(int argc, char** argv) {
  sy::server::upgrade::rememberCommandLine(argc, argv);
  std::string path = kDefaultConfig;
  std::string pidFile;
  bool check = false;
  bool watch = false;
  bool reload = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if ((a == "-c" || a == "--config") && i + 1 < argc) {
      path = argv[++i];
    } else if (a == "-t" || a == "--check") {
      check = true;
    } else if (a == "-w" || a == "--watch") {
      watch = true;
    } else if (a == "--pid-file" && i + 1 < argc) {
      pidFile = argv[++i];
    } else if (a == "--reload") {
      reload = true;
    } else if (a == "-v" || a == "--version") {
      std::printf("switchyard %s\n", SWITCHYARD_VERSION);
      return 0;
    } else if (a == "-h" || a == "--help") {
      usage(stdout);
      return 0;
    } else if (a == "--log-level" && i + 1 < argc) {
      std::string l = argv[++i];
      if (l == "debug") sy::log::setLevel(sy::log::Level::kDebug);
      else if (l == "info") sy::log::setLevel(sy::log::Level::kInfo);
      else if (l == "warn") sy::log::setLevel(sy::log::Level::kWarn);
      else if (l == "error") sy::log::setLevel(sy::log::Level::kError);
      else {
        std::fprintf(stderr, "switchyard: unknown log level '%s'\n", l.c_str());
        return 2;
      }
    } else {
      std::fprintf(stderr, "switchyard: unknown argument '%s'\n\n", a.c_str());
      usage(stderr);
      return 2;
    }
  }

  if (reload) return sy::server::requestReload(path);
  auto cfg = sy::config::loadConfigFile(path);
  if (!cfg) {
    std::fprintf(stderr, "switchyard: invalid configuration: %s\n", cfg.error().format().c_str());
    sy::server::upgrade::reportStartFailure("invalid configuration: " + cfg.error().format());
    return 1;
  }
  if (check) {
    // Also open what the loader leaves to start-up (geo.database), as start-up would.
    if (auto geo = sy::geo::Locator::create(*cfg); !geo) {
      std::fprintf(stderr, "switchyard: invalid configuration: %s\n", geo.error().c_str());
      return 1;
    }
    std::printf("switchyard: configuration %s is valid (%zu listeners, %zu pools)\n", path.c_str(),
                cfg->listeners.size(), cfg->pools.size());
    return 0;
  }
  sy::server::Server server(path, watch);
  server.setPidFile(pidFile);
  return server.run(std::make_shared<const sy::config::Config>(std::move(*cfg)));
}
