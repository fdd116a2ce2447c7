// A FIFO queue over a vector that is reused: once grown to its working size
// it allocates nothing. (std::deque allocates a block every few elements as
// the queue slides through memory: with a reply queue that goes empty after
// nearly every packet, that was a malloc and a free per handful of ACKs,
// 5 % of a receiving engine's time at 1024 QPs.)
#pragma once

#include <cstddef>
#include <vector>

namespace flexins::transport {

template <typename T>
class ReusedFifo {
 public:
  bool empty() const { return head_ == items_.size(); }
  size_t size() const { return items_.size() - head_; }
  T& front() { return items_[head_]; }
  T& back() { return items_.back(); }
  void push_back(const T& v) { items_.push_back(v); }
  void pop_front() {
    if (++head_ == items_.size()) {
      clear();
    } else if (head_ >= kCompactAfter && head_ * 2 >= items_.size()) {
      // Never empty for long: drop the consumed front so the vector stays
      // within twice the queue's length.
      items_.erase(items_.begin(), items_.begin() + std::ptrdiff_t(head_));
      head_ = 0;
    }
  }
  void clear() {
    items_.clear();  // keeps the capacity
    head_ = 0;
  }
  auto begin() { return items_.begin() + std::ptrdiff_t(head_); }
  auto end() { return items_.end(); }

 private:
  static constexpr size_t kCompactAfter = 64;
  std::vector<T> items_;
  size_t head_ = 0;
};

}  // namespace flexins::transport
