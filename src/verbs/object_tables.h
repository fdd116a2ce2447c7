// Engine handle → library object, per context: events from the engine name
// objects by handle (CompEvent.cq, AsyncEvent.handle).
#pragma once

#include <cstdint>
#include <mutex>
#include <unordered_map>

namespace flexins::verbs {

struct Cq;
struct Qp;
struct Srq;

template <class T>
class HandleTable {
 public:
  void insert(uint32_t handle, T* obj) {
    std::lock_guard g(mu_);
    map_[handle] = obj;
  }
  void erase(uint32_t handle) {
    std::lock_guard g(mu_);
    map_.erase(handle);
  }
  T* find(uint32_t handle) const {
    std::lock_guard g(mu_);
    auto it = map_.find(handle);
    return it == map_.end() ? nullptr : it->second;
  }

 private:
  mutable std::mutex mu_;
  std::unordered_map<uint32_t, T*> map_;
};

struct ObjectTables {
  HandleTable<Cq> cqs;
  HandleTable<Qp> qps;  // by QPN
  HandleTable<Srq> srqs;
};

}  // namespace flexins::verbs
