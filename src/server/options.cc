// Command line parsing, usage text and `-V` build information (see options.h).

#include "switchyard/server/options.h"

#include <getopt.h>

#include <string_view>

#include <llhttp.h>
#include <nghttp2/nghttp2.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>
#include <uv.h>
#ifdef SWITCHYARD_HAVE_MAXMINDDB
#include <maxminddb.h>
#endif

#include "build_info.h"
#include "switchyard/common/log.h"

namespace sy::server {
namespace {

enum LongOnly : int { kLogLevel = 1000, kDumpConfig, kPidFile, kReload };

constexpr option kLongOptions[] = {
    {"config", required_argument, nullptr, 'c'},
    {"check", no_argument, nullptr, 't'},
    {"dump-config", no_argument, nullptr, kDumpConfig},
    {"watch", no_argument, nullptr, 'w'},
    {"log-level", required_argument, nullptr, kLogLevel},
    {"pid-file", required_argument, nullptr, kPidFile},
    {"reload", no_argument, nullptr, kReload},
    {"version", no_argument, nullptr, 'v'},
    {"help", no_argument, nullptr, 'h'},
    {nullptr, 0, nullptr, 0},
};
// Leading ':' so a missing argument is reported as ':' (with our own message), '+' so
// parsing stops at the first non-option (which is then an error) instead of permuting argv.
constexpr const char* kShortOptions = "+:c:twvVh";

bool setLogLevel(std::string_view l) {
  if (l == "debug") log::setLevel(log::Level::kDebug);
  else if (l == "info") log::setLevel(log::Level::kInfo);
  else if (l == "warn") log::setLevel(log::Level::kWarn);
  else if (l == "error") log::setLevel(log::Level::kError);
  else return false;
  return true;
}

std::string missingArgument(int opt) {
  if (opt == 'c') return "option -c/--config needs a file name (-c FILE, --config=FILE)";
  if (opt == kLogLevel) return "option --log-level needs a level (debug, info, warn or error)";
  if (opt == kPidFile) return "option --pid-file needs a file name (--pid-file FILE)";
  return "an option needs an argument";
}

}  // namespace

std::expected<Options, std::string> parseOptions(int argc, char** argv) {
  Options o;
  optind = 0;  // full reset of getopt's state (parseOptions may run more than once in tests)
  opterr = 0;
  bool check = false;
  bool dump = false;
  bool reload = false;
  for (;;) {
    int longIndex = -1;
    int c = getopt_long(argc, argv, kShortOptions, kLongOptions, &longIndex);
    if (c == -1) break;
    switch (c) {
      case 'c':
        if (*optarg == '\0') return std::unexpected(missingArgument('c'));
        o.configPath = optarg;
        break;
      case 't': check = true; break;
      case kDumpConfig: dump = true; break;
      case kPidFile:
        if (*optarg == '\0') return std::unexpected(missingArgument(kPidFile));
        o.pidFile = optarg;
        break;
      case kReload: reload = true; break;
      case 'w': o.watch = true; break;
      case kLogLevel:
        if (!setLogLevel(optarg))
          return std::unexpected("unknown log level '" + std::string(optarg) +
                                 "' (use debug, info, warn or error)");
        break;
      case 'v': o.action = Options::Action::kVersion; return o;
      case 'V': o.action = Options::Action::kBuildInfo; return o;
      case 'h': o.action = Options::Action::kHelp; return o;
      case ':': return std::unexpected(missingArgument(optopt));
      default: {  // '?': unknown option, or a value given to an option that takes none
        std::string arg = argv[optind - 1];
        if (optopt != 0 && !arg.starts_with("--")) arg = std::string("-") + char(optopt);
        if (arg.starts_with("--") && arg.find('=') != std::string::npos)
          return std::unexpected("option '" + arg.substr(0, arg.find('=')) + "' takes no value");
        return std::unexpected("unknown argument '" + arg + "'");
      }
    }
  }
  if (optind < argc) return std::unexpected("unknown argument '" + std::string(argv[optind]) + "'");
  if (dump) o.action = Options::Action::kDumpConfig;
  else if (reload) o.action = Options::Action::kReload;
  else if (check) o.action = Options::Action::kCheck;
  return o;
}

void printUsage(FILE* out) {
  std::fprintf(out,
               "Usage: switchyard [-c FILE | --config=FILE] [-t | --check] [--dump-config]\n"
               "                  [-w | --watch] [--pid-file FILE] [--reload]\n"
               "                  [--log-level LEVEL] [-v | --version] [-V] [-h | --help]\n"
               "\n"
               "HTTP reverse proxy and load balancer.\n"
               "\n"
               "  -c, --config FILE   configuration file (default %s)\n"
               "  -t, --check         validate the configuration and exit (0 = valid, 1 = not)\n"
               "      --dump-config   print the effective configuration, every default filled\n"
               "                      in, as YAML (itself a valid config file) and exit\n"
               "  -w, --watch         reload when the configuration file changes\n"
               "      --pid-file FILE write the pid to FILE once serving (taken over by an\n"
               "                      upgrade, removed at exit by its owner)\n"
               "      --reload        ask the running instance to reload (POST /reload on\n"
               "                      admin.listen); exit 0 if it did, 1 with the reason if not\n"
               "      --log-level LEVEL  debug | info | warn | error (default info)\n"
               "  -v, --version       print the version and exit\n"
               "  -V                  print the version, git commit, build type, compiler and\n"
               "                      library versions and exit\n"
               "  -h, --help          print this help and exit\n"
               "\n"
               "Signals: SIGHUP reloads the file; SIGTERM/SIGINT drain in-flight requests and\n"
               "exit 0; a second SIGINT exits at once; SIGUSR1 reopens the access log;\n"
               "SIGUSR2 starts the binary now on disk and hands it the sockets (upgrade).\n"
               "Metrics and the admin API are served on admin.listen (default\n"
               "http://127.0.0.1:9901/metrics). Manual: man 8 switchyard, man 5 switchyard.yaml.\n",
               kDefaultConfigPath);
}

void printBuildInfo(FILE* out) {
  std::fprintf(out, "switchyard %s\n", SWITCHYARD_VERSION);
  std::fprintf(out, "git commit: %s\n", build_info::kGitCommit);
  std::fprintf(out, "build type: %s\n", build_info::kBuildType);
  std::fprintf(out, "compiler: %s\n", build_info::kCompiler);
  std::fprintf(out, "libraries (run time, built with):\n");
  std::fprintf(out, "  libuv %s (built with %d.%d.%d)\n", uv_version_string(), UV_VERSION_MAJOR,
               UV_VERSION_MINOR, UV_VERSION_PATCH);
  std::fprintf(out, "  llhttp %d.%d.%d (compiled in)\n", LLHTTP_VERSION_MAJOR,
               LLHTTP_VERSION_MINOR, LLHTTP_VERSION_PATCH);
  std::fprintf(out, "  %s (built with %s)\n", OpenSSL_version(OPENSSL_VERSION),
               OPENSSL_VERSION_TEXT);
  std::fprintf(out, "  yaml-cpp %s (built with; no run-time version)\n", build_info::kYamlCppVersion);
  std::fprintf(out, "  nghttp2 %s (built with %s)\n", nghttp2_version(0)->version_str,
               NGHTTP2_VERSION);
#ifdef SWITCHYARD_HAVE_MAXMINDDB
  std::fprintf(out, "  libmaxminddb %s (built with %s)\n", MMDB_lib_version(),
               build_info::kMaxMindDbVersion);
#else
  std::fprintf(out, "  libmaxminddb: not built in (geo.database unavailable)\n");
#endif
  // prometheus-cpp: meson.build sets kPrometheusCppVersion from the linked dependency's
  // pkg-config version ("" while the library is not linked).
  if (*build_info::kPrometheusCppVersion != '\0')
    std::fprintf(out, "  prometheus-cpp %s (built with)\n", build_info::kPrometheusCppVersion);
}

}  // namespace sy::server
