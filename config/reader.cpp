// See reader.hpp.
#include "config/reader.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <mutex>
#include <stdexcept>

namespace cc::config {

namespace {

const section_schema& schema_of(const std::string& kind) {
  const auto* s = schema_by_kind(kind);
  if (s == nullptr)
    throw std::logic_error("config::reader: no schema for section kind '" + kind + "'");
  return *s;
}

} // namespace

reader::reader(const section& sec) : sec_(&sec), schema_(&schema_of(sec.kind)) {
}

reader::reader(std::shared_ptr<const section> owned)
  : owned_(std::move(owned)), sec_(owned_.get()), schema_(&schema_of(sec_->kind)) {
}

reader reader::defaults(std::string_view kind) {
  // Resolved once per kind: option structs are default-constructed often in
  // tests and now and then at run time.
  static std::mutex mtx;
  static std::map<std::string, std::shared_ptr<const section>, std::less<>> cache;
  std::lock_guard<std::mutex> guard{mtx};
  auto i = cache.find(kind);
  if (i == cache.end())
    i = cache.emplace(std::string{kind},
                      std::make_shared<const section>(default_section(kind)))
          .first;
  return reader{i->second};
}

bool reader::declares(std::string_view key) const {
  return schema_->find(key) != nullptr;
}

const option& reader::lookup(std::string_view key,
                             std::initializer_list<value_type> types) const {
  const auto* opt = schema_->find(key);
  if (opt == nullptr)
    throw std::logic_error("config::reader: " + sec_->kind + " has no key '"
                           + std::string{key} + "'");
  if (std::find(types.begin(), types.end(), opt->type) == types.end())
    throw std::logic_error("config::reader: " + sec_->kind + " key '"
                           + std::string{key} + "' is a "
                           + to_string(opt->type));
  return *opt;
}

std::string reader::text(const option& opt) const {
  auto i = sec_->values.find(std::string{opt.name});
  if (i != sec_->values.end())
    return i->second;
  return opt.has_default ? std::string{opt.default_value} : std::string{};
}

bool reader::has(std::string_view key) const {
  const auto& opt = lookup(key, {value_type::string, value_type::integer,
                                 value_type::boolean, value_type::size,
                                 value_type::seconds, value_type::list,
                                 value_type::file, value_type::endpoint,
                                 value_type::choice});
  return sec_->values.count(std::string{key}) > 0 || opt.has_default;
}

std::string reader::str(std::string_view key) const {
  return text(lookup(key, {value_type::string, value_type::choice,
                           value_type::endpoint}));
}

std::string reader::file(std::string_view key) const {
  return expand_user(text(lookup(key, {value_type::file})));
}

int64_t reader::integer(std::string_view key) const {
  return std::strtoll(text(lookup(key, {value_type::integer})).c_str(), nullptr, 10);
}

bool reader::boolean(std::string_view key) const {
  return parse_bool(text(lookup(key, {value_type::boolean}))).value_or(false);
}

uint64_t reader::size(std::string_view key) const {
  return parse_size(text(lookup(key, {value_type::size}))).value_or(0);
}

double reader::seconds(std::string_view key) const {
  return std::strtod(text(lookup(key, {value_type::seconds})).c_str(), nullptr);
}

std::chrono::milliseconds reader::millis(std::string_view key) const {
  auto secs = seconds(key);
  return std::chrono::milliseconds{static_cast<int64_t>(std::llround(secs * 1000))};
}

std::vector<std::string> reader::list(std::string_view key) const {
  return parse_list(text(lookup(key, {value_type::list})));
}

std::string reader::builtin(std::string_view key) const {
  return sec_->str(std::string{key});
}

} // namespace cc::config
