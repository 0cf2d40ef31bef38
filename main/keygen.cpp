// --keygen NAME, and the key checks --check adds: the actions on CurveZMQ key
// material (actors/link/curve_keys.hpp reads and writes it; the gateway and the
// ZMQ transport use the same functions, so --check refuses what start-up
// would refuse).
#include <iostream>
#include <set>
#include <string>

#include "actors/link/curve_keys.hpp"
#include "actors/link/gateway.hpp"
#include "actors/link/zmq_transport.hpp"
#include "base/error.hpp"
#include "config/config.hpp"
#include "main/commands.hpp"

namespace cc::cli {

namespace {

// The context of our errors without the errc name: it already says where.
std::string context_of(const caf::error& err) {
  auto text = describe(err);
  auto colon = text.find(": ");
  return colon == std::string::npos ? text : text.substr(colon + 2);
}

} // namespace

int run_keygen(const options& opts) {
  auto pub = curve::write_key_pair(opts.keygen_base);
  if (!pub) {
    std::cerr << "ccserver: --keygen: " << context_of(pub.error()) << "\n";
    return exit_failure;
  }
  std::cout << "wrote " << opts.keygen_base << ".key (secret, mode 0600) and "
            << opts.keygen_base << ".pub\npublic key: " << *pub << "\n";
  return exit_ok;
}

std::vector<std::string> check_security(const config::server_config& cfg,
                                        std::vector<std::string>& warnings) {
  std::vector<std::string> errors;
  auto where = [&](const std::string& text) { return cfg.file + ": " + text; };
  auto main_opts = zmq_options_of(cfg.main);
  curve::allow_list allowed;
  if (auto err = load_gateway_keys(main_opts, allowed))
    errors.push_back(where(context_of(err)));
  auto endpoint = cfg.main.str("cc-socket");
  if (main_opts.curve_secret_key_file.empty() &&
      curve::reachable_from_outside(endpoint))
    warnings.push_back(where("[ccserver] cc-socket: " + endpoint +
                             " is reachable from other hosts and not "
                             "encrypted (no curve-secret-key): anyone who can "
                             "connect may send messages"));
  for (const auto& [name, sec] : cfg.handlers) {
    if (sec.kind != "proxy")
      continue;
    auto o = zmq_options_of(sec);
    if (auto err = resolve_client_keys(o, "[" + name + "]"))
      errors.push_back(where(context_of(err)));
  }
  return errors;
}

int run_key_check(const options& opts) {
  auto res = config::load(opts.config_file);
  if (!res.ok())
    return exit_usage;
  std::vector<std::string> warnings;
  auto errors = check_security(*res.config, warnings);
  for (const auto& w : warnings)
    std::cerr << "warning: " << w << "\n";
  for (const auto& e : errors)
    std::cerr << "error: " << e << "\n";
  return errors.empty() ? exit_ok : exit_usage;
}

} // namespace cc::cli
