// How an actor reads its section: through the schema, one typed getter per
// value type. Each getter looks the key up in the schema of the section's
// kind and fails loudly (std::logic_error) when the kind has no such key or
// the key has another type; a key the section lacks reads as the schema's
// default. There is no getter with a default argument: a default written
// in code beside the schema's cannot exist. See schema.hpp for the design.
#pragma once

#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "config/config.hpp"

namespace cc::config {

class reader {
public:
  /// A section whose kind has a schema; validated by load(), or built by
  /// hand with some values (a test's): absent keys read as defaults.
  explicit reader(const section& sec);

  /// An empty section of `kind` resolved as load() resolves one: schema
  /// defaults and the computed ones (dstmask, state-dir, buffer-bytes,
  /// hostname); required keys are unset. What a default-constructed option
  /// struct is filled from.
  static reader defaults(std::string_view kind);

  const std::string& name() const {
    return sec_->name;
  }
  const std::string& kind() const {
    return sec_->kind;
  }

  /// Whether the schema of this kind declares `key` ([ccserver] and proxy
  /// share the ZeroMQ keys, but zmq_rcvhwm and zmq_nthreads are only in
  /// [ccserver]).
  bool declares(std::string_view key) const;

  /// Whether the key has a value: written, defaulted or computed.
  bool has(std::string_view key) const;

  std::string str(std::string_view key) const;   // string, choice, endpoint
  std::string file(std::string_view key) const;  // ~ expanded
  int64_t integer(std::string_view key) const;
  bool boolean(std::string_view key) const;
  uint64_t size(std::string_view key) const;
  double seconds(std::string_view key) const;
  /// A seconds value in milliseconds, rounded to the nearest.
  std::chrono::milliseconds millis(std::string_view key) const;
  std::vector<std::string> list(std::string_view key) const;

  /// A value interpolation provides, not the schema (job_name,
  /// service_name, host_name): "" when absent.
  std::string builtin(std::string_view key) const;

private:
  reader(std::shared_ptr<const section> owned);
  const option& lookup(std::string_view key,
                       std::initializer_list<value_type> types) const;
  std::string text(const option& opt) const;

  std::shared_ptr<const section> owned_;  // defaults(): the section read
  const section* sec_;
  const section_schema* schema_;
};

} // namespace cc::config
