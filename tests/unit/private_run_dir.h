// A private FLEXINS_RUN_DIR for tests that talk to engines, or to their
// absence: a fresh directory under /tmp, named in the environment (with
// FLEXINS_IP unset, so nothing falls back to a default engine), removed
// with all it holds when the object goes.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>

namespace flexins::testing {

class PrivateRunDir {
 public:
  // PREFIX names the directory: /tmp/PREFIX-XXXXXX. ok() says if it exists.
  explicit PrivateRunDir(const std::string& prefix) {
    std::string tmpl = "/tmp/" + prefix + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) return;
    path_ = tmpl;
    setenv("FLEXINS_RUN_DIR", path_.c_str(), 1);
    unsetenv("FLEXINS_IP");
  }
  ~PrivateRunDir() { remove(); }
  PrivateRunDir(const PrivateRunDir&) = delete;
  PrivateRunDir& operator=(const PrivateRunDir&) = delete;

  bool ok() const { return !path_.empty(); }
  const std::string& path() const { return path_; }

  // Remove it now; false if that failed. Later calls do nothing.
  bool remove() {
    if (path_.empty()) return true;
    std::error_code err;
    std::filesystem::remove_all(path_, err);
    path_.clear();
    return !err;
  }

 private:
  std::string path_;
};

}  // namespace flexins::testing
