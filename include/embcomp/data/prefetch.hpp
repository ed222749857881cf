// BatchPrefetcher: reads the next batch of a BatchSource on a thread of its own while the caller
// computes on the current one (double buffering), so that reading and batching overlap the
// training step. What the caller gets is what BatchSource::read gives: a batch that was not
// prefetched is read on the spot, and a read that failed on the thread throws at take().
#pragma once

#include <condition_variable>
#include <exception>
#include <mutex>
#include <stop_token>
#include <thread>
#include <utility>

#include <omp.h>

#include "embcomp/data/source.hpp"

namespace embcomp {

/// Samples [first, first + count) of one split part.
struct BatchRequest {
  SplitPart part = SplitPart::train;
  Index first = 0;
  Index count = 0;
  bool operator==(const BatchRequest&) const = default;
};

class BatchPrefetcher {
 public:
  /// `source` must outlive this object, and its read must be safe to call from another thread
  /// while nothing else changes it (the library's sources are: read is const). The thread reads
  /// with one OpenMP thread, so that it takes one core beside the caller's team.
  explicit BatchPrefetcher(const BatchSource& source)
      : source_(source), worker_([this](std::stop_token stop) { run(stop); }) {}
  BatchPrefetcher(const BatchPrefetcher&) = delete;
  BatchPrefetcher& operator=(const BatchPrefetcher&) = delete;
  ~BatchPrefetcher() {
    worker_.request_stop();
    wake_worker_.notify_all();
  }  // worker_ joins

  /// Starts reading `next` on the thread. A prefetch that was not taken is dropped.
  void prefetch(const BatchRequest& next) {
    std::unique_lock lock(mutex_);
    wait_until_idle_or_ready(lock);
    pending_ = next;
    error_ = nullptr;
    state_ = State::requested;
    wake_worker_.notify_all();
  }

  /// The batch `want` into `out`: the prefetched one when it is `want` (waiting for it, and
  /// rethrowing its read's exception), otherwise read here on the caller's thread.
  void take(const BatchRequest& want, Batch& out) {
    {
      std::unique_lock lock(mutex_);
      wait_until_idle_or_ready(lock);
      const bool hit = state_ == State::ready && pending_ == want;
      state_ = State::idle;
      if (hit) {
        ++hits_;
        if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
        std::swap(out, spare_);
        return;
      }
    }
    source_.read(want.part, want.first, want.count, out);
  }

  /// Batches take() found prefetched, read or failed (for tests and statistics).
  std::size_t hits() const {
    std::lock_guard lock(mutex_);
    return hits_;
  }

 private:
  enum class State { idle, requested, reading, ready };

  void wait_until_idle_or_ready(std::unique_lock<std::mutex>& lock) {
    reader_done_.wait(lock, [this] { return state_ == State::idle || state_ == State::ready; });
  }

  void run(std::stop_token stop) {
    omp_set_num_threads(1);
    std::unique_lock lock(mutex_);
    while (wake_worker_.wait(lock, stop, [this] { return state_ == State::requested; })) {
      state_ = State::reading;
      const BatchRequest request = pending_;
      lock.unlock();
      std::exception_ptr error;
      try {
        source_.read(request.part, request.first, request.count, spare_);
      } catch (...) {
        error = std::current_exception();
      }
      lock.lock();
      error_ = error;
      state_ = State::ready;
      reader_done_.notify_all();
    }
  }

  const BatchSource& source_;
  mutable std::mutex mutex_;
  std::condition_variable_any wake_worker_;
  std::condition_variable reader_done_;
  State state_ = State::idle;
  BatchRequest pending_;
  Batch spare_;  ///< written by the thread while reading, by take() otherwise
  std::exception_ptr error_;
  std::size_t hits_ = 0;
  std::jthread worker_;  ///< last: started after every member it uses
};

}  // namespace embcomp
