// Method options from a factory string such as "qr:op=mul" or "cafe:threshold=500,decay=0.99".
// A method declares its options with defaults; parsing rejects unknown keys and bad values, and
// canonical() prints every option so that a spec string rebuilds exactly the same table. Every
// declared option must be read by the method or declared not applicable (`not_applicable`):
// a value that would have no effect in the chosen configuration is an error naming the conflict.
#pragma once

#include <charconv>
#include <cmath>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "embcomp/core/error.hpp"

namespace embcomp {

/// One declared option: its name, default value (as text) and a one-line help.
struct OptionInfo {
  std::string name;
  std::string default_value;
  std::string help;
};

/// A factory string split into its method key and option text: "key:opts".
struct SpecString {
  std::string key;
  std::string options;

  static SpecString parse(std::string_view spec) {
    const auto colon = spec.find(':');
    SpecString s{std::string(spec.substr(0, colon)),
                 colon == std::string_view::npos ? "" : std::string(spec.substr(colon + 1))};
    if (s.key.empty()) throw InvalidArgument("method spec '" + std::string(spec) + "' has no key");
    return s;
  }
};

/// "a=1,b=x" -> {{"a", "1"}, {"b", "x"}}, in order; empty text gives none. An item without
/// '=' or with an empty name throws InvalidArgument starting with `context` (e.g.
/// "method 'qr'"). The one parser of name=value lists: method options, the sweep's
/// alternatives, the generic text format.
inline std::vector<std::pair<std::string, std::string>> parse_option_pairs(std::string_view text,
                                                                           std::string_view context) {
  std::vector<std::pair<std::string, std::string>> pairs;
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view item = text.substr(0, comma);
    const auto eq = item.find('=');
    if (eq == std::string_view::npos || eq == 0) {
      throw InvalidArgument(std::string(context) + ": option '" + std::string(item) +
                            "' must be written name=value");
    }
    pairs.emplace_back(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    text = comma == std::string_view::npos ? std::string_view{} : text.substr(comma + 1);
  }
  return pairs;
}

class Options {
 public:
  /// Parses "a=1,b=x" against the declared options of method `key`; undeclared options keep
  /// their defaults.
  Options(std::string key, const std::vector<OptionInfo>& declared, std::string_view text = {})
      : key_(std::move(key)) {
    for (const auto& o : declared) {
      values_.emplace_back(o.name, o.default_value);
      defaults_.push_back(o.default_value);
    }
    read_.assign(values_.size(), false);
    for (auto& [name, value] : parse_option_pairs(text, "method '" + key_ + "'")) {
      set(name, std::move(value));
    }
  }

  const std::string& key() const { return key_; }

  const std::string& text(std::string_view name) const { return find(name); }
  double number(std::string_view name) const {
    const std::string& v = find(name);
    double out = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || end != v.data() + v.size()) bad_value(name, v, "a number");
    return out;
  }
  /// number(name), which must be finite and >= 0 (> 0 when `strictly`).
  double non_negative(std::string_view name, bool strictly = false) const {
    const double v = number(name);
    if (!std::isfinite(v) || v < 0.0 || (strictly && v == 0.0)) {
      bad_value(name, find(name), strictly ? "finite and > 0" : "finite and >= 0");
    }
    return v;
  }
  double positive(std::string_view name) const { return non_negative(name, true); }
  long long integer(std::string_view name) const {
    const std::string& v = find(name);
    long long out = 0;
    const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
    if (ec != std::errc() || end != v.data() + v.size()) bad_value(name, v, "an integer");
    return out;
  }
  bool flag(std::string_view name) const {
    const std::string& v = find(name);
    if (v == "1" || v == "true" || v == "on") return true;
    if (v == "0" || v == "false" || v == "off") return false;
    bad_value(name, v, "a boolean (true/false)");
  }
  /// The value of `name`, which must be one of `choices`.
  const std::string& choice(std::string_view name, const std::vector<std::string>& choices) const {
    const std::string& v = find(name);
    for (const auto& c : choices) {
      if (c == v) return v;
    }
    std::string list;
    for (const auto& c : choices) list += (list.empty() ? "" : "|") + c;
    bad_value(name, v, "one of " + list);
  }

  /// The value of `name` mapped through `choices` (its text -> a value, e.g. an enum); a value
  /// not among them throws InvalidArgument listing the texts.
  template <class T>
  T pick(std::string_view name, std::initializer_list<std::pair<const char*, T>> choices) const {
    const std::string& v = find(name);
    for (const auto& [text, value] : choices) {
      if (v == text) return value;
    }
    std::string list;
    for (const auto& choice : choices) {
      if (!list.empty()) list += '|';
      list += choice.first;
    }
    bad_value(name, v, "one of " + list);
  }

  /// Declares that option `name` has no effect in this configuration (`because`, e.g.
  /// "tables=shared"): a value other than its default is an InvalidArgument naming both.
  void not_applicable(std::string_view name, std::string_view because) const {
    const std::size_t i = index_of(name);
    read_[i] = true;
    if (values_[i].second != defaults_[i]) {
      throw InvalidArgument("method '" + key_ + "': option " + values_[i].first + "=" +
                            values_[i].second + " has no effect with " + std::string(because));
    }
  }

  /// Throws InvalidArgument naming the first declared option that was neither read nor declared
  /// not applicable: the method forgot it, and a value given for it would be silently ignored.
  /// The registry calls it after building every table.
  void require_all_read() const {
    for (std::size_t i = 0; i < values_.size(); ++i) {
      if (!read_[i]) {
        throw InvalidArgument("method '" + key_ + "' neither read nor declared not applicable "
                              "its option '" + values_[i].first + "' (a bug in the method)");
      }
    }
  }

  /// "key:a=1,b=2" with every declared option, in declaration order.
  std::string canonical() const {
    std::string s = key_;
    for (std::size_t i = 0; i < values_.size(); ++i) {
      s += (i == 0 ? ":" : ",") + values_[i].first + "=" + values_[i].second;
    }
    return s;
  }

 private:
  void set(const std::string& name, std::string value) {
    for (auto& [n, v] : values_) {
      if (n == name) {
        v = std::move(value);
        return;
      }
    }
    std::string known;
    for (const auto& [n, v] : values_) known += (known.empty() ? "" : ", ") + n;
    throw InvalidArgument("method '" + key_ + "' has no option '" + name + "'" +
                          (known.empty() ? " (it takes none)" : "; its options are " + known));
  }

  std::size_t index_of(std::string_view name) const {
    for (std::size_t i = 0; i < values_.size(); ++i) {
      if (values_[i].first == name) return i;
    }
    throw InvalidArgument("method '" + key_ + "': option '" + std::string(name) +
                          "' is not declared (a bug in the method)");
  }

  const std::string& find(std::string_view name) const {
    const std::size_t i = index_of(name);
    read_[i] = true;
    return values_[i].second;
  }

  [[noreturn]] void bad_value(std::string_view name, const std::string& value,
                              const std::string& expected) const {
    throw InvalidArgument("method '" + key_ + "': option " + std::string(name) + "='" + value +
                          "' must be " + expected);
  }

  std::string key_;
  std::vector<std::pair<std::string, std::string>> values_;
  std::vector<std::string> defaults_;  // parallel to values_
  mutable std::vector<bool> read_;     // parallel to values_: read or declared not applicable
};

}  // namespace embcomp
