// Live-memory accounting and deferred frees behind tensor handles (src/memory.ts reports the
// counts): the registry counts handles and the bytes of the distinct storages they keep alive;
// the reaper drops last references to large memory on a background thread.
#include "memory.h"
#include <condition_variable>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace tb {

// ---- live-memory registry ----------------------------------------------------------------
namespace {
struct Registry {
  std::mutex mutex;
  std::unordered_map<const void*, std::pair<int64_t, int64_t>> storages;  // impl -> (refs, bytes)
  int64_t handles = 0;
  int64_t bytes = 0;
};
Registry& registry() {
  static Registry* r = new Registry();  // never destroyed: finalizers may run during teardown
  return *r;
}
}  // namespace

const void* StorageKey(const at::Tensor& t) {
  if (!t.defined() || !t.has_storage()) return nullptr;
  return t.storage().unsafeGetStorageImpl();
}

int64_t TrackHandle(const at::Tensor& t, int delta) {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  r.handles += delta;
  const void* key = StorageKey(t);
  if (!key) return 0;
  auto& entry = r.storages[key];
  int64_t change = 0;
  if (delta > 0) {
    if (entry.first++ == 0) {
      entry.second = static_cast<int64_t>(t.storage().nbytes());
      change = entry.second;
    }
  } else if (--entry.first == 0) {
    change = -entry.second;
    r.storages.erase(key);
  }
  r.bytes += change;
  return change;
}

MemoryCounts LiveMemory() {
  Registry& r = registry();
  std::lock_guard<std::mutex> lock(r.mutex);
  return {r.handles, r.bytes};
}

// ---- deferred frees ------------------------------------------------------------------------
namespace {
// Dropping the last reference to a large storage returns its pages to the OS, and dropping a
// graph frees its saved activations: milliseconds per hundred MB, too long for the JS thread,
// so those last references are dropped on a background thread instead.
class Reaper {
 public:
  void Give(at::Tensor t) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      queue_.push_back(std::move(t));
    }
    ready_.notify_one();
  }

 private:
  void Run() {
    for (;;) {
      std::vector<at::Tensor> batch;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        ready_.wait(lock, [&] { return !queue_.empty(); });
        batch.swap(queue_);
      }
    }
  }
  std::mutex mutex_;
  std::condition_variable ready_;
  std::vector<at::Tensor> queue_;
  std::thread thread_{[this] { Run(); }};
};

// Never destroyed: process exit must neither join the thread nor free tensors after libtorch.
Reaper& reaper() {
  static Reaper* r = new Reaper();
  return *r;
}

bool FreeingIsSlow(const at::Tensor& t) {
  if (!t.defined() || t.use_count() != 1) return false;
  if (t.grad_fn() || t.grad().defined()) return true;
  return t.has_storage() && t.storage().use_count() == 1 && t.storage().nbytes() >= (1 << 20);
}
}  // namespace

void DropReference(at::Tensor&& t) {
  if (FreeingIsSlow(t)) reaper().Give(std::move(t));
  t = at::Tensor();
}

}  // namespace tb
