// The native side of src/distributed/index.ts: one default process group on c10d (TCPStore
// rendezvous, ProcessGroupGloo), its collectives run and awaited off the JS thread.
#include <ATen/ATen.h>
#include <signal.h>
#include <unistd.h>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <string>
#include <thread>
#include "addon.h"
#include "autograd.h"
#include "errors.h"
#include "tensor.h"
#include "worker.h"
#include "exports.h"

#ifdef TB_WITH_GLOO  // scripts/find-libtorch.js: libtorch has Gloo and its headers were found
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

namespace tb {
namespace {

struct Group {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  int rank = 0, size = 1;
  std::chrono::milliseconds timeout{0};
};

std::mutex g_groupMutex;
std::shared_ptr<Group> g_group;

std::shared_ptr<Group> Current() {
  std::lock_guard<std::mutex> lock(g_groupMutex);
  if (!g_group) throw std::runtime_error("no process group: call dist.initProcessGroup() first");
  return g_group;
}

std::string Key(const std::string& name) { return "torchbridge/" + name; }

std::string ToString(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }
std::vector<uint8_t> ToBytes(const std::string& s) { return std::vector<uint8_t>(s.begin(), s.end()); }

// Waits for `key` in the store, failing after the timeout with `what` in the message.
std::string WaitFor(c10d::Store& store, const std::string& key, std::chrono::milliseconds timeout, const std::string& what) {
  try {
    store.wait({key}, timeout);
  } catch (const std::exception&) {
    throw std::runtime_error("timed out after " + std::to_string(timeout.count()) + " ms waiting for " + what);
  }
  return ToString(store.get(key));
}

std::shared_ptr<::gloo::transport::Device> GlooDevice(const std::string& masterAddr) {
  if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME")) {
    return c10d::ProcessGroupGloo::createDeviceForInterface(ifname);
  }
  bool loopback = masterAddr == "localhost" || masterAddr.rfind("127.", 0) == 0 || masterAddr == "::1";
  return loopback ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1") : c10d::ProcessGroupGloo::createDefaultDevice();
}

// isServer: rank 0 serves the store unless a launcher's agent does (torchrun), in which case keys
// go under its prefix.
void Join(const std::string& addr, int port, int rank, int size, std::chrono::milliseconds timeout, bool isServer,
          const std::string& prefix) {
  c10d::TCPStoreOptions o;
  o.port = static_cast<uint16_t>(port);
  o.isServer = isServer;
  o.numWorkers = c10::nullopt;
  o.waitWorkers = false;
  o.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(addr, o);
    if (!prefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(prefix, store);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    throw std::runtime_error(std::string(isServer ? "could not listen on " : "could not reach the store at ") + addr + ":" +
                             std::to_string(port) + " (check MASTER_ADDR and MASTER_PORT): " + msg.substr(0, msg.find('\n')));
  }
  // Every rank must agree on the world size, and exactly that many ranks may join.
  if (rank == 0) store->set(Key("world_size"), ToBytes(std::to_string(size)));
  std::string rank0Size = WaitFor(*store, Key("world_size"), timeout, "rank 0 to publish the world size");
  if (rank0Size != std::to_string(size)) {
    throw std::runtime_error("world size mismatch: this rank (" + std::to_string(rank) + ") was started with worldSize " +
                             std::to_string(size) + " but rank 0 with " + rank0Size);
  }
  if (store->add(Key("rank/" + std::to_string(rank)), 1) > 1) {
    throw std::runtime_error("rank " + std::to_string(rank) + " joined twice: every process needs its own RANK");
  }
  // Where this rank runs, so that survivors can name a rank that died (see LostRanks).
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  store->set(Key("process/" + std::to_string(rank)), ToBytes(std::string(host) + " " + std::to_string(getpid())));
  int64_t joined = store->add(Key("joined"), 1);
  if (joined > size) throw std::runtime_error("more than worldSize " + std::to_string(size) + " processes joined");
  auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
  opts->devices.push_back(GlooDevice(addr));
  opts->threads = 2;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  try {
    pg = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, opts);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    throw std::runtime_error("not all " + std::to_string(size) + " ranks joined within " + std::to_string(timeout.count()) +
                             " ms (" + std::to_string(store->add(Key("joined"), 0)) + " did): " + msg.substr(0, msg.find('\n')));
  }
  auto group = std::make_shared<Group>();
  group->store = store;
  group->pg = pg;
  group->rank = rank;
  group->size = size;
  group->timeout = timeout;
  std::lock_guard<std::mutex> lock(g_groupMutex);
  g_group = group;
}

bool ProcessGone(pid_t pid) {
  if (kill(pid, 0) != 0) return errno == ESRCH;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  return paren != std::string::npos && paren + 2 < line.size() && line[paren + 2] == 'Z';  // a zombie: exited, not yet reaped
}

// After a failed collective: the ranks on this host whose process is gone (the peer's socket can
// close a moment before its process is), or why none can be named.
std::string LostRanks(const Group& g) {
  char host[256] = {0};
  gethostname(host, sizeof(host) - 1);
  try {
    std::vector<std::pair<int, pid_t>> local;
    for (int r = 0; r < g.size; r++) {
      std::string where = ToString(g.store->get(Key("process/" + std::to_string(r))));
      size_t space = where.rfind(' ');
      if (r != g.rank && where.substr(0, space) == host)
        local.emplace_back(r, static_cast<pid_t>(std::stol(where.substr(space + 1))));
    }
    for (int attempt = 0; attempt < 20; attempt++) {
      std::string lost;
      for (auto [r, pid] : local) {
        if (ProcessGone(pid)) lost += (lost.empty() ? "" : ", ") + std::to_string(r);
      }
      if (!lost.empty()) return "lost rank " + lost + " (its process exited)";
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  } catch (const std::exception&) {
    return "the store is unreachable, so the rank that served it (rank 0) is gone";
  }
  return "no rank on this host exited; one on another host may have";
}

// Runs one collective and waits for it, naming the failure in terms of ranks.
void Await(const Group& g, const c10::intrusive_ptr<c10d::Work>& work, const char* what) {
  try {
    work->wait(g.timeout);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    throw std::runtime_error(std::string(what) + " failed on rank " + std::to_string(g.rank) + " of " + std::to_string(g.size) +
                             ": " + LostRanks(g) + " (timeout " + std::to_string(g.timeout.count()) + " ms; " +
                             msg.substr(0, msg.find('\n')) + ")");
  }
}

c10d::ReduceOp ParseOp(const std::string& op) {
  if (op == "sum") return c10d::ReduceOp::SUM;
  if (op == "product") return c10d::ReduceOp::PRODUCT;
  if (op == "min") return c10d::ReduceOp::MIN;
  if (op == "max") return c10d::ReduceOp::MAX;
  throw std::invalid_argument("unknown reduce op " + op);
}

// initProcessGroup({masterAddr, masterPort, rank, worldSize, timeoutMs, isServer, storePrefix})
Napi::Value InitProcessGroup(const Napi::CallbackInfo& info) {
  Napi::Object o = ArgOptions(info, 0);
  std::string addr = OptionString(o, "masterAddr");
  int port = static_cast<int>(OptionInt(o, "masterPort"));
  int rank = static_cast<int>(OptionInt(o, "rank")), size = static_cast<int>(OptionInt(o, "worldSize"));
  std::chrono::milliseconds timeout(OptionInt(o, "timeoutMs"));
  bool isServer = OptionBool(o, "isServer");
  std::string prefix = OptionString(o, "storePrefix");
  return RunAsyncVoid(info.Env(), false, [=]() { Join(addr, port, rank, size, timeout, isServer, prefix); });
}

void DestroyProcessGroup(const Napi::CallbackInfo& info) {
  std::lock_guard<std::mutex> lock(g_groupMutex);
  g_group.reset();
}

// allReduce(tensor, op): in place, like dist.all_reduce.
Napi::Value AllReduce(const Napi::CallbackInfo& info) {
  at::Tensor t = ArgTensor(info, 0);
  c10d::ReduceOp op = ParseOp(ArgString(info, 1));
  return RunAsyncVoid(info.Env(), false, [=]() {
    auto g = Current();
    std::vector<at::Tensor> ts{t};
    c10d::AllreduceOptions o;
    o.reduceOp = op;
    Await(*g, g->pg->allreduce(ts, o), "allReduce");
  });
}

// broadcast(tensors, root): each tensor in place from rank `root`.
Napi::Value Broadcast(const Napi::CallbackInfo& info) {
  auto tensors = ArgTensorList(info, 0);
  int64_t root = ArgInt(info, 1);
  return RunAsyncVoid(info.Env(), false, [=]() {
    auto g = Current();
    for (const at::Tensor& t : tensors) {
      std::vector<at::Tensor> ts{t};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      Await(*g, g->pg->broadcast(ts, o), "broadcast");
    }
  });
}

Napi::Value Barrier(const Napi::CallbackInfo& info) {
  return RunAsyncVoid(info.Env(), false, [=]() {
    auto g = Current();
    Await(*g, g->pg->barrier(), "barrier");
  });
}

// averageGradients(params, bucketBytes): DDP's reduction. Gradients (zeros where a parameter has
// none) are packed into buckets of about bucketBytes, divided by the world size, summed across
// ranks and copied back; every bucket's allreduce is started before the first is awaited.
Napi::Value AverageGradients(const Napi::CallbackInfo& info) {
  auto params = ArgTensorList(info, 0);
  int64_t bucketBytes = ArgInt(info, 1);
  return RunAsyncVoid(info.Env(), false, [=]() {
    auto g = Current();
    ZeroDeferredGrads();  // a Pool-lane job: the Compute lane's own call does not cover it
    std::vector<std::vector<at::Tensor>> buckets(1);
    int64_t filled = 0;
    for (const at::Tensor& p : params) {
      at::Tensor& grad = p.mutable_grad();
      if (!grad.defined()) grad = at::zeros_like(p);
      int64_t bytes = grad.numel() * grad.element_size();
      if (filled > 0 && (filled + bytes > bucketBytes || grad.scalar_type() != buckets.back()[0].scalar_type())) {
        buckets.emplace_back();
        filled = 0;
      }
      buckets.back().push_back(grad);
      filled += bytes;
    }
    std::vector<at::Tensor> flats;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto& bucket : buckets) {
      if (bucket.empty()) continue;
      std::vector<at::Tensor> views;
      for (const at::Tensor& grad : bucket) views.push_back(grad.reshape({-1}));
      at::Tensor flat = at::cat(views).div_(g->size);
      std::vector<at::Tensor> ts{flat};
      works.push_back(g->pg->allreduce(ts));
      flats.push_back(flat);
    }
    size_t b = 0;
    for (auto& bucket : buckets) {
      if (bucket.empty()) continue;
      Await(*g, works[b], "averaging gradients");
      int64_t offset = 0;
      for (at::Tensor& grad : bucket) {
        grad.copy_(flats[b].narrow(0, offset, grad.numel()).view_as(grad));
        offset += grad.numel();
      }
      b++;
    }
  });
}

}  // namespace

void RegisterDistributed(Napi::Env env, Napi::Object exports) {
  exports.Set("distAvailable", Napi::Boolean::New(env, true));
  ExportFunctions(env, exports,
                  {{"initProcessGroup", InitProcessGroup},
                   {"destroyProcessGroup", DestroyProcessGroup},
                   {"allReduce", AllReduce},
                   {"broadcast", Broadcast},
                   {"barrier", Barrier},
                   {"averageGradients", AverageGradients}});
}

}  // namespace tb

#else  // a libtorch without Gloo, or no gloo headers: torchbridge.dist reports itself unavailable

namespace tb {
void RegisterDistributed(Napi::Env env, Napi::Object exports) { exports.Set("distAvailable", Napi::Boolean::New(env, false)); }
}  // namespace tb

#endif
