// nccl.cpp — the NCCL stand-ins of nccl.h: a clique of in-process ranks matches each rank's n-th
// collective; the last rank to arrive computes it (in double, exact for the integer and 16-bit
// types too) into a temporary and writes every rank's receive buffer (in-place use is fine).
// Does not hold: anything across processes.
#include "kernels/emu/nccl.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "kernels/emu/types.h"

namespace {

enum class Kind { all_reduce, broadcast };

struct Collective {
  Kind kind;
  std::size_t count;
  ncclDataType_t type;
  ncclRedOp_t op;
  int root;
  std::vector<const void*> send;
  std::vector<void*> recv;
  int arrived = 0;
  int observed = 0;
  bool done = false;
  ncclResult_t result = ncclSuccess;
};

struct Clique {
  explicit Clique(int n) : nranks(n) {}
  const int nranks;
  std::mutex mutex;
  std::condition_variable changed;
  std::map<std::uint64_t, Collective> collectives;  // by sequence number
};

std::size_t type_bytes(ncclDataType_t t) {
  switch (t) {
    case ncclInt8: case ncclUint8: return 1;
    case ncclFloat16: case ncclBfloat16: return 2;
    case ncclInt32: case ncclUint32: case ncclFloat32: return 4;
    default: return 8;
  }
}

double load(const void* base, ncclDataType_t t, std::size_t i) {
  const auto* p = static_cast<const unsigned char*>(base) + i * type_bytes(t);
  auto get = [&](auto v) {
    std::memcpy(&v, p, sizeof(v));
    return v;
  };
  switch (t) {
    case ncclInt8: return get(std::int8_t{});
    case ncclUint8: return get(std::uint8_t{});
    case ncclInt32: return get(std::int32_t{});
    case ncclUint32: return get(std::uint32_t{});
    case ncclInt64: return static_cast<double>(get(std::int64_t{}));
    case ncclUint64: return static_cast<double>(get(std::uint64_t{}));
    case ncclFloat16: return slm::emu::half_bits_to_float(get(std::uint16_t{}));
    case ncclBfloat16: return slm::emu::bf16_bits_to_float(get(std::uint16_t{}));
    case ncclFloat32: return get(float{});
    case ncclFloat64: return get(double{});
  }
  return 0;
}

void store(void* base, ncclDataType_t t, std::size_t i, double v) {
  auto* p = static_cast<unsigned char*>(base) + i * type_bytes(t);
  auto put = [&](auto x) { std::memcpy(p, &x, sizeof(x)); };
  switch (t) {
    case ncclInt8: put(static_cast<std::int8_t>(v)); break;
    case ncclUint8: put(static_cast<std::uint8_t>(v)); break;
    case ncclInt32: put(static_cast<std::int32_t>(v)); break;
    case ncclUint32: put(static_cast<std::uint32_t>(v)); break;
    case ncclInt64: put(static_cast<std::int64_t>(v)); break;
    case ncclUint64: put(static_cast<std::uint64_t>(v)); break;
    case ncclFloat16: put(slm::emu::float_to_half_bits(static_cast<float>(v))); break;
    case ncclBfloat16: put(slm::emu::float_to_bf16_bits(static_cast<float>(v))); break;
    case ncclFloat32: put(static_cast<float>(v)); break;
    case ncclFloat64: put(v); break;
  }
}

void execute(Collective& c, int nranks) {
  const std::size_t bytes = c.count * type_bytes(c.type);
  std::vector<unsigned char> result(bytes);
  if (c.kind == Kind::broadcast) {
    if (bytes) std::memcpy(result.data(), c.send[static_cast<std::size_t>(c.root)], bytes);
  } else {
    for (std::size_t i = 0; i < c.count; ++i) {
      double v = load(c.send[0], c.type, i);
      for (int r = 1; r < nranks; ++r) {
        const double x = load(c.send[static_cast<std::size_t>(r)], c.type, i);
        switch (c.op) {
          case ncclSum: case ncclAvg: v += x; break;
          case ncclProd: v *= x; break;
          case ncclMax: v = std::max(v, x); break;
          case ncclMin: v = std::min(v, x); break;
        }
      }
      if (c.op == ncclAvg) v /= nranks;
      store(result.data(), c.type, i, v);
    }
  }
  for (int r = 0; r < nranks; ++r)
    if (bytes) std::memcpy(c.recv[static_cast<std::size_t>(r)], result.data(), bytes);
}

thread_local int tl_group_depth = 0;
thread_local std::vector<std::pair<std::shared_ptr<Clique>, std::uint64_t>> tl_pending;

// Waits for one collective (the clique's mutex held by `lock`) and collects its result.
ncclResult_t finish(Clique& clique, std::unique_lock<std::mutex>& lock, std::uint64_t seq) {
  clique.changed.wait(lock, [&] { return clique.collectives[seq].done; });
  Collective& c = clique.collectives[seq];
  const ncclResult_t result = c.result;
  if (++c.observed == clique.nranks) clique.collectives.erase(seq);
  return result;
}

std::mutex g_registry_mutex;
std::map<std::string, std::weak_ptr<Clique>> g_registry;  // the emulated interconnect
std::atomic<unsigned long long> g_next_id{1};

}  // namespace

struct ncclComm {
  std::shared_ptr<Clique> clique;
  int rank;
  std::uint64_t next = 0;
};

namespace {

ncclResult_t enqueue(ncclComm_t comm, Kind kind, const void* send, void* recv, std::size_t count, ncclDataType_t type,
                     ncclRedOp_t op, int root) {
  if (!comm || (count > 0 && (!send || !recv)) || root < 0 || root >= comm->clique->nranks) return ncclInvalidArgument;
  Clique& clique = *comm->clique;
  std::unique_lock lock(clique.mutex);
  const std::uint64_t seq = comm->next++;
  Collective& c = clique.collectives[seq];
  if (c.arrived == 0) {
    c.kind = kind, c.count = count, c.type = type, c.op = op, c.root = root;
    c.send.assign(static_cast<std::size_t>(clique.nranks), nullptr);
    c.recv.assign(static_cast<std::size_t>(clique.nranks), nullptr);
  } else if (c.kind != kind || c.count != count || c.type != type || c.op != op || c.root != root) {
    c.result = ncclInvalidUsage;  // the ranks' n-th calls disagree
  }
  c.send[static_cast<std::size_t>(comm->rank)] = send;
  c.recv[static_cast<std::size_t>(comm->rank)] = recv;
  if (++c.arrived == clique.nranks) {
    if (c.result == ncclSuccess) execute(c, clique.nranks);
    c.done = true;
    clique.changed.notify_all();
  }
  if (tl_group_depth > 0) {
    tl_pending.emplace_back(comm->clique, seq);
    return ncclSuccess;
  }
  return finish(clique, lock, seq);
}

}  // namespace

ncclResult_t ncclGetVersion(int* version) {
  *version = NCCL_MAJOR * 10000 + NCCL_MINOR * 100 + NCCL_PATCH;
  return ncclSuccess;
}

const char* ncclGetErrorString(ncclResult_t result) {
  switch (result) {
    case ncclSuccess: return "no error";
    case ncclUnhandledCudaError: return "unhandled cuda error";
    case ncclSystemError: return "unhandled system error";
    case ncclInternalError: return "internal error";
    case ncclInvalidArgument: return "invalid argument";
    case ncclInvalidUsage: return "invalid usage (the ranks' collectives do not match)";
  }
  return "unknown result code";
}

ncclResult_t ncclGetUniqueId(ncclUniqueId* id) {
  std::memset(id->internal, 0, sizeof(id->internal));
  std::snprintf(id->internal, sizeof(id->internal), "slm-emu-nccl-%llu", g_next_id.fetch_add(1));
  return ncclSuccess;
}

ncclResult_t ncclCommInitRank(ncclComm_t* comm, int nranks, ncclUniqueId id, int rank) {
  if (nranks < 1 || rank < 0 || rank >= nranks) return ncclInvalidArgument;
  const std::string key(id.internal, strnlen(id.internal, sizeof(id.internal)));
  std::lock_guard lock(g_registry_mutex);
  std::shared_ptr<Clique> clique = g_registry[key].lock();
  if (!clique) {
    clique = std::make_shared<Clique>(nranks);
    g_registry[key] = clique;
  } else if (clique->nranks != nranks) {
    return ncclInvalidUsage;
  }
  *comm = new ncclComm{clique, rank};
  return ncclSuccess;
}

ncclResult_t ncclCommInitAll(ncclComm_t* comms, int ndev, const int*) {
  if (ndev < 1) return ncclInvalidArgument;
  auto clique = std::make_shared<Clique>(ndev);
  for (int r = 0; r < ndev; ++r) comms[r] = new ncclComm{clique, r};
  return ncclSuccess;
}

ncclResult_t ncclCommDestroy(ncclComm_t comm) {
  delete comm;
  return ncclSuccess;
}
ncclResult_t ncclCommCount(ncclComm_t comm, int* count) {
  *count = comm->clique->nranks;
  return ncclSuccess;
}
ncclResult_t ncclCommUserRank(ncclComm_t comm, int* rank) {
  *rank = comm->rank;
  return ncclSuccess;
}

ncclResult_t ncclGroupStart() {
  ++tl_group_depth;
  return ncclSuccess;
}

ncclResult_t ncclGroupEnd() {
  if (tl_group_depth == 0) return ncclInvalidUsage;
  if (--tl_group_depth > 0) return ncclSuccess;
  ncclResult_t result = ncclSuccess;
  auto pending = std::move(tl_pending);
  tl_pending.clear();
  for (auto& [clique, seq] : pending) {
    std::unique_lock lock(clique->mutex);
    const ncclResult_t r = finish(*clique, lock, seq);
    if (result == ncclSuccess) result = r;
  }
  return result;
}

ncclResult_t ncclAllReduce(const void* sendbuff, void* recvbuff, std::size_t count, ncclDataType_t datatype,
                           ncclRedOp_t op, ncclComm_t comm, cudaStream_t) {
  return enqueue(comm, Kind::all_reduce, sendbuff, recvbuff, count, datatype, op, 0);
}

ncclResult_t ncclBroadcast(const void* sendbuff, void* recvbuff, std::size_t count, ncclDataType_t datatype, int root,
                           ncclComm_t comm, cudaStream_t) {
  return enqueue(comm, Kind::broadcast, sendbuff, recvbuff, count, datatype, ncclSum, root);
}
