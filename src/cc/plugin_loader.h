// Loads a congestion-control plug-in (include/flexins/cc_plugin.h) from a
// shared object and makes it a policy like the built-in ones.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "cc/congestion_control.h"
#include "cc/registry.h"

struct flexins_cc_plugin;

namespace flexins::cc {

class CcPlugin : public std::enable_shared_from_this<CcPlugin> {
 public:
  // dlopen + dlsym(flexins_cc_plugin_entry) + checks. Throws
  // std::runtime_error naming the path and the reason: the library does not
  // load, has no entry symbol, was built for another ABI version (both
  // versions named), or lacks a required callback.
  static std::shared_ptr<CcPlugin> load(const std::string& path);
  CcPlugin(const CcPlugin&) = delete;
  CcPlugin& operator=(const CcPlugin&) = delete;
  ~CcPlugin();  // dlclose, after the last policy made from it is gone

  const std::string& name() const { return name_; }
  const std::string& path() const { return path_; }
  // A new policy (one per QP); it keeps the library loaded. Throws
  // std::runtime_error if the plug-in's create() fails.
  std::unique_ptr<CongestionControl> create() const;

 private:
  CcPlugin(std::string path, void* handle, const flexins_cc_plugin* desc);

  std::string path_;
  void* handle_;
  const flexins_cc_plugin* desc_;
  std::string name_;
};

// Registers the plug-in under its own name (throws std::invalid_argument if taken).
void register_plugin(PolicyRegistry& registry, std::shared_ptr<const CcPlugin> plugin);

}  // namespace flexins::cc
