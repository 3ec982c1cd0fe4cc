// runtime.cpp — the CUDA runtime stand-ins of runtime.h: one emulated device whose memory is host
// memory (256-byte aligned, as cudaMalloc's), synchronous streams, host-time events.
// Does not hold: kernel launching (harness.cpp).
#include "kernels/emu/runtime.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>

namespace {

thread_local cudaError_t tl_last_error = cudaSuccess;

std::mutex g_attribute_mutex;
std::map<const void*, std::size_t> g_max_dynamic_shared;  // the emulated device's kernel attributes

// The emulated device's memory: every live cudaMalloc, for cudaMemGetInfo and the tests.
constexpr std::size_t k_device_bytes = std::size_t{80} << 30;  // as an 80 GB part
std::mutex g_memory_mutex;
std::map<void*, std::size_t> g_allocations;
std::size_t g_live_bytes = 0;
std::int64_t g_malloc_calls = 0;

cudaError_t record(cudaError_t error) {
  if (error != cudaSuccess) tl_last_error = error;
  return error;
}

}  // namespace

struct CUstream_st {
  int unused = 0;
};
struct CUevent_st {
  std::chrono::steady_clock::time_point at;
};

const char* cudaGetErrorName(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorNotReady: return "cudaErrorNotReady";
  }
  return "cudaErrorUnknown";
}

const char* cudaGetErrorString(cudaError_t error) {
  switch (error) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorNotReady: return "device not ready";
  }
  return "unknown error";
}

cudaError_t cudaGetLastError() {
  const cudaError_t error = tl_last_error;
  tl_last_error = cudaSuccess;
  return error;
}
cudaError_t cudaPeekAtLastError() { return tl_last_error; }

cudaError_t cudaGetDeviceCount(int* count) {
  *count = 1;
  return cudaSuccess;
}
cudaError_t cudaSetDevice(int device) { return record(device == 0 ? cudaSuccess : cudaErrorInvalidDevice); }
cudaError_t cudaGetDevice(int* device) {
  *device = 0;
  return cudaSuccess;
}

cudaError_t cudaGetDeviceProperties(cudaDeviceProp* prop, int device) {
  if (device != 0) return record(cudaErrorInvalidDevice);
  *prop = cudaDeviceProp{};
  std::strncpy(prop->name, "slmtune emulated sm_80 (CPU)", sizeof(prop->name) - 1);
  prop->totalGlobalMem = std::size_t{16} << 30;
  prop->sharedMemPerBlock = 48 * 1024;
  prop->sharedMemPerBlockOptin = 227 * 1024;
  prop->regsPerBlock = 65536;
  prop->warpSize = 32;
  prop->maxThreadsPerBlock = 1024;
  prop->maxThreadsDim[0] = prop->maxThreadsDim[1] = 1024;
  prop->maxThreadsDim[2] = 64;
  prop->maxGridSize[0] = 2147483647;
  prop->maxGridSize[1] = prop->maxGridSize[2] = 65535;
  prop->multiProcessorCount = 2;
  prop->major = 8;
  prop->minor = 0;
  return cudaSuccess;
}

cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

cudaError_t cudaMalloc(void** pointer, std::size_t bytes) {
  *pointer = nullptr;
  if (bytes == 0) return cudaSuccess;
  const std::size_t rounded = (bytes + 255) / 256 * 256;
  std::lock_guard lock(g_memory_mutex);
  if (g_live_bytes + rounded > k_device_bytes) return record(cudaErrorMemoryAllocation);
  void* p = std::aligned_alloc(256, rounded);
  if (!p) return record(cudaErrorMemoryAllocation);
  g_allocations[p] = rounded;
  g_live_bytes += rounded;
  ++g_malloc_calls;
  *pointer = p;
  return cudaSuccess;
}
cudaError_t cudaFree(void* pointer) {
  if (!pointer) return cudaSuccess;
  std::lock_guard lock(g_memory_mutex);
  const auto it = g_allocations.find(pointer);
  if (it == g_allocations.end()) return record(cudaErrorInvalidValue);
  g_live_bytes -= it->second;
  g_allocations.erase(it);
  std::free(pointer);
  return cudaSuccess;
}
cudaError_t cudaMemGetInfo(std::size_t* free_bytes, std::size_t* total_bytes) {
  std::lock_guard lock(g_memory_mutex);
  *free_bytes = k_device_bytes - g_live_bytes;
  *total_bytes = k_device_bytes;
  return cudaSuccess;
}

namespace slm::emu {
std::int64_t device_malloc_calls() {
  std::lock_guard lock(g_memory_mutex);
  return g_malloc_calls;
}
}  // namespace slm::emu
cudaError_t cudaMemcpy(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind) {
  if (bytes) std::memmove(dst, src, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void* dst, const void* src, std::size_t bytes, cudaMemcpyKind kind, cudaStream_t) {
  return cudaMemcpy(dst, src, bytes, kind);
}
cudaError_t cudaMemset(void* dst, int value, std::size_t bytes) {
  if (bytes) std::memset(dst, value, bytes);
  return cudaSuccess;
}
cudaError_t cudaMemsetAsync(void* dst, int value, std::size_t bytes, cudaStream_t) {
  return cudaMemset(dst, value, bytes);
}

cudaError_t cudaStreamCreate(cudaStream_t* stream) {
  *stream = new (std::nothrow) CUstream_st;
  return record(*stream ? cudaSuccess : cudaErrorMemoryAllocation);
}
cudaError_t cudaStreamDestroy(cudaStream_t stream) {
  delete stream;
  return cudaSuccess;
}
cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
cudaError_t cudaStreamWaitEvent(cudaStream_t, cudaEvent_t, unsigned) { return cudaSuccess; }

cudaError_t cudaEventCreate(cudaEvent_t* event) {
  *event = new (std::nothrow) CUevent_st;
  return record(*event ? cudaSuccess : cudaErrorMemoryAllocation);
}
cudaError_t cudaEventDestroy(cudaEvent_t event) {
  delete event;
  return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t event, cudaStream_t) {
  event->at = std::chrono::steady_clock::now();
  return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t) { return cudaSuccess; }
cudaError_t cudaEventElapsedTime(float* ms, cudaEvent_t start, cudaEvent_t end) {
  *ms = std::chrono::duration<float, std::milli>(end->at - start->at).count();
  return cudaSuccess;
}

cudaError_t cudaFuncSetAttribute(const void* kernel, cudaFuncAttribute attribute, int value) {
  if (attribute != cudaFuncAttributeMaxDynamicSharedMemorySize || value < 0 || value > 227 * 1024)
    return record(cudaErrorInvalidValue);
  std::lock_guard lock(g_attribute_mutex);
  g_max_dynamic_shared[kernel] = static_cast<std::size_t>(value);
  return cudaSuccess;
}

std::size_t slm::emu::max_dynamic_shared(const void* kernel) {
  std::lock_guard lock(g_attribute_mutex);
  const auto it = g_max_dynamic_shared.find(kernel);
  return it == g_max_dynamic_shared.end() ? 48 * 1024 : std::max<std::size_t>(it->second, 48 * 1024);
}
