// harness.cpp — the per-block scheduler, the OS threads that run blocks, and launching.
//
// Each OS thread that runs blocks owns a pool of fibers (kernels/emu/fiber.h; one per CUDA thread
// of the largest block seen, reused across blocks and launches). The scheduler resumes runnable
// threads in forward, reverse or shuffled order until all have returned; when none can run it
// reports the deadlock. Blocks are claimed in order by the OS threads; the lowest faulting block
// is the one reported.
// Does not hold: the fibers (fiber.cpp), the collectives (warp.cpp), shared memory and cp.async
// (memory.cpp).
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>
#include <thread>

#include "kernels/emu/fiber.h"
#include "kernels/emu/internal.h"
#include "kernels/emu/runtime.h"  // max_dynamic_shared
#include "train/core/error.h"

namespace slm::emu {
namespace {

thread_local ThreadCtx* tl_thread = nullptr;

// The state of one OS thread that runs blocks.
struct Worker {
  FiberHost host;
  std::vector<std::unique_ptr<Fiber>> fibers;
  Block block;
  std::vector<unsigned char> shared;
  const std::function<void()>* body = nullptr;
  unsigned char end_token = 0;
  std::vector<int> order;  // the scheduler's current pass
};

// One CUDA thread's run on its fiber: the kernel, then the checks at its return.
void run_thread(Fiber& fiber) {
  Worker& worker = *static_cast<Worker*>(fiber.owner);
  Block& block = worker.block;
  tsan_acquire(&block.start_token);
  try {
    (*worker.body)();
    block.state[fiber.thread].wait = Wait::runnable;  // for the exit checks' messages
    cp_async_flush(block, block.state[fiber.thread]);
    warp_lane_exited(block, fiber.thread);
    if (block.barrier_arrived > 0) {
      std::vector<int> waiting;
      Site site;
      for (int i = 0; i < block.threads; ++i)
        if (block.state[i].wait == Wait::barrier) waiting.push_back(i), site = block.state[i].site;
      fault("returned while " + describe_threads(waiting) + " wait at __syncthreads (" + describe_site(site) +
            "): a barrier in divergent code");
    }
  } catch (const KernelFault& error) {
    if (!block.faulted) block.fault = error.what();
    block.faulted = true;
  } catch (const std::exception& error) {
    if (!block.faulted) block.fault = describe_block(block) + ": " + error.what();
    block.faulted = true;
  }
  block.state[fiber.thread].wait = Wait::done;
  ++block.exited;
  tsan_release(&worker.end_token);
}

// --- one block ---------------------------------------------------------------------------------
std::atomic<int> g_schedule{-1};
std::atomic<std::uint64_t> g_seed{1};
std::atomic<int> g_workers{0};

Schedule current_schedule() {
  int value = g_schedule.load();
  if (value < 0) {
    const std::string env = std::getenv("SLM_EMU_SCHEDULE") ? std::getenv("SLM_EMU_SCHEDULE") : "";
    value = env == "reverse" ? 1 : (env.rfind("shuffled", 0) == 0 ? 2 : 0);
    if (value == 2 && env.size() > 9 && env[8] == ':') g_seed.store(std::strtoull(env.c_str() + 9, nullptr, 10));
    g_schedule.store(value);
  }
  return static_cast<Schedule>(value);
}

std::uint64_t splitmix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// The order of one scheduler pass over n threads.
void pass_order(std::vector<int>& order, int n, Schedule schedule, std::uint64_t block, std::uint64_t pass) {
  order.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = schedule == Schedule::reverse ? n - 1 - i : i;
  if (schedule != Schedule::shuffled) return;
  std::uint64_t state = splitmix(g_seed.load() ^ splitmix(block * 0x100000001b3ull + pass));
  for (int i = n - 1; i > 0; --i) {  // Fisher-Yates
    state = splitmix(state);
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(state % static_cast<std::uint64_t>(i + 1))]);
  }
}

void block_setup(Worker& worker, const LaunchConfig& config, unsigned linear_block) {
  Block& block = worker.block;
  const dim3 bd = config.block;
  const int threads = static_cast<int>(bd.x * bd.y * bd.z);
  block.config = &config;
  block.idx = {linear_block % config.grid.x, (linear_block / config.grid.x) % config.grid.y,
               linear_block / (config.grid.x * config.grid.y)};
  block.threads = threads;
  block.ctx.resize(threads);
  block.state.resize(threads);
  for (int i = 0; i < threads; ++i) {
    ThreadCtx& t = block.ctx[i];
    t.thread_idx = {i % bd.x, (i / bd.x) % bd.y, i / (bd.x * bd.y)};
    t.block_idx = block.idx;
    t.block_dim = bd;
    t.grid_dim = config.grid;
    t.linear = i;
    t.lane = i % 32;
    t.warp = i / 32;
    t.block = &block;
    block.state[i] = ThreadState{};
  }
  const int warps = (threads + 31) / 32;
  block.warps.assign(warps, Warp{});
  for (int w = 0; w < warps; ++w) {
    const int lanes = std::min(32, threads - 32 * w);
    block.warps[w].existing = lanes == 32 ? 0xffffffffu : ((1u << lanes) - 1);
  }
  block.warp_tokens.assign(warps, 0);
  block.barrier_arrived = 0;
  block.barrier_generation = 0;
  block.barrier_count[0] = block.barrier_count[1] = 0;
  block.exited = 0;
  block.faulted = false;
  block.fault.clear();
  if (worker.shared.empty()) worker.shared.assign(k_max_shared * 2 + 64 * k_redzone_bytes, 0);
  block.shared = worker.shared.data();
  block.shared_capacity = worker.shared.size();
  shared_reset(block);
  while (worker.fibers.size() < static_cast<std::size_t>(threads))
    worker.fibers.push_back(std::make_unique<Fiber>(worker.host, run_thread, &worker));
}

// Runs one block to completion; returns the fault message or "".
std::string run_block(Worker& worker, const LaunchConfig& config, unsigned linear_block) {
  block_setup(worker, config, linear_block);
  Block& block = worker.block;
  const int n = block.threads;
  const Schedule schedule = current_schedule();
  tsan_release(&block.start_token);
  for (int i = 0; i < n; ++i) worker.fibers[i]->thread = i;
  std::vector<int>& order = worker.order;
  pass_order(order, n, schedule, linear_block, 0);
  for (std::uint64_t pass = 1; block.exited < n && !block.faulted; ++pass) {
    bool progressed = false;
    for (int k = 0; k < n && !block.faulted; ++k) {
      const int i = order[static_cast<std::size_t>(k)];
      if (block.state[i].wait != Wait::runnable) continue;
      tl_thread = &block.ctx[i];
      worker.fibers[i]->resume();
      progressed = true;
    }
    if (!progressed && !block.faulted) {
      block.faulted = true;
      block.fault = describe_block(block) + ": deadlock: " + stall_report(block);
    }
    if (schedule == Schedule::shuffled) pass_order(order, n, schedule, linear_block, pass);
  }
  tl_thread = nullptr;
  tsan_acquire(&worker.end_token);
  if (block.faulted) {
    // Threads still inside the kernel are abandoned: their fibers restart from the top.
    for (int i = 0; i < n; ++i)
      if (block.state[i].wait != Wait::done) worker.fibers[i]->restart();
    return block.fault;
  }
  std::string redzone = shared_redzone_report(block);
  if (!redzone.empty()) return describe_block(block) + ": " + redzone;
  return {};
}

// --- the OS threads that run blocks ----------------------------------------------------------------
struct Job {
  const LaunchConfig* config;
  const std::function<void()>* body;
  unsigned blocks;
  std::atomic<unsigned> next{0};
  std::atomic<bool> failed{false};
  std::mutex fault_mutex;
  std::string fault;
  unsigned fault_block = 0;
};

Worker& this_worker() {
  thread_local Worker worker;
  thread_local bool prepared = false;
  if (!prepared) {
    prepare_fiber_host(worker.host);
    prepared = true;
  }
  return worker;
}

void work_on(Job& job) {
  Worker& worker = this_worker();
  worker.body = job.body;
  for (;;) {
    const unsigned b = job.next.fetch_add(1);
    if (b >= job.blocks || job.failed.load()) break;
    std::string fault = run_block(worker, *job.config, b);
    if (!fault.empty()) {
      // The lowest faulting block is reported: every block below one that faulted has been
      // claimed and runs to its end, so the choice does not depend on the OS threads' timing.
      std::lock_guard lock(job.fault_mutex);
      if (!job.failed.exchange(true) || b < job.fault_block) job.fault = fault, job.fault_block = b;
    }
  }
}

class Pool {
 public:
  ~Pool() {
    {
      std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : threads_) t.join();
  }
  void run(Job& job, int workers) {
    std::lock_guard launch_lock(launch_mutex_);
    while (static_cast<int>(threads_.size()) < workers - 1) threads_.emplace_back([this] { loop(); });
    {
      std::lock_guard lock(mutex_);
      job_ = &job;
      helpers_wanted_ = workers - 1;
      busy_ = 0;
      ++generation_;
    }
    wake_.notify_all();
    work_on(job);
    std::unique_lock lock(mutex_);
    done_.wait(lock, [&] { return helpers_wanted_ == 0 && busy_ == 0; });
    job_ = nullptr;
  }

 private:
  void loop() {
    std::uint64_t seen = 0;
    std::unique_lock lock(mutex_);
    for (;;) {
      wake_.wait(lock, [&] { return stop_ || (generation_ != seen && helpers_wanted_ > 0); });
      if (stop_) return;
      seen = generation_;
      --helpers_wanted_;
      ++busy_;
      Job* job = job_;
      lock.unlock();
      work_on(*job);
      lock.lock();
      --busy_;
      done_.notify_all();
    }
  }
  std::mutex launch_mutex_;
  std::mutex mutex_;
  std::condition_variable wake_, done_;
  std::vector<std::thread> threads_;
  Job* job_ = nullptr;
  int helpers_wanted_ = 0;
  int busy_ = 0;
  std::uint64_t generation_ = 0;
  bool stop_ = false;
};

int worker_count() {
  int count = g_workers.load();
  if (count <= 0) {
    const char* env = std::getenv("SLM_EMU_THREADS");
    count = env ? std::atoi(env) : static_cast<int>(std::thread::hardware_concurrency());
    count = std::clamp(count, 1, 64);
  }
  return count;
}

}  // namespace

// --- the public side -------------------------------------------------------------------------------
ThreadCtx& this_thread() {
  if (!tl_thread) throw std::logic_error("emulation harness: a device function ran outside a kernel launch");
  return *tl_thread;
}

const ThreadCtx* running_thread() { return tl_thread; }

void yield_to_scheduler() { current_fiber()->yield(); }

void set_schedule(Schedule schedule, std::uint64_t seed) {
  g_seed.store(seed);
  g_schedule.store(static_cast<int>(schedule));
}
Schedule schedule() { return current_schedule(); }
std::uint64_t schedule_seed() {
  current_schedule();
  return g_seed.load();
}
void set_worker_threads(int count) { g_workers.store(count); }

void launch_kernel(const LaunchConfig& config, const std::function<void()>& thread_body) {
  auto name = [&] { return kernel_name(config.kernel); };  // only for messages: reading symbols is slow
  const unsigned long long threads = 1ull * config.block.x * config.block.y * config.block.z;
  const unsigned long long blocks = 1ull * config.grid.x * config.grid.y * config.grid.z;
  if (threads == 0 || threads > 1024 || config.block.z > 64)
    SLM_FAIL("launch of ", name(), ": block (", config.block.x, ",", config.block.y, ",", config.block.z,
             ") has ", threads, " threads; CUDA allows 1 to 1024 (z at most 64)");
  if (blocks == 0 || config.grid.y > 65535 || config.grid.z > 65535)
    SLM_FAIL("launch of ", name(), ": grid (", config.grid.x, ",", config.grid.y, ",", config.grid.z,
             ") is empty or too large (y and z at most 65535)");
  if (config.dynamic_shared > k_max_shared)
    SLM_FAIL("launch of ", name(), ": ", config.dynamic_shared, " bytes of dynamic shared memory exceed the ",
             k_max_shared, " a block can have");
  if (config.dynamic_shared > max_dynamic_shared(config.kernel))
    SLM_FAIL("launch of ", name(), ": ", config.dynamic_shared, " bytes of dynamic shared memory need ",
             "cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, bytes) first (above 48 KiB)");
  static Pool pool;
  Job job;
  job.config = &config;
  job.body = &thread_body;
  job.blocks = static_cast<unsigned>(blocks);
  pool.run(job, std::min<int>(worker_count(), static_cast<int>(std::min<unsigned long long>(blocks, 64))));
  if (job.failed.load())
    SLM_FAIL(job.fault, "\n(emulation harness: kernel fault; the message names the block, the threads and the "
             "source line; see README, \"CUDA kernels without a GPU\")");
}

// --- messages --------------------------------------------------------------------------------------
std::string describe_block(const Block& block) {
  std::ostringstream os;
  os << "kernel " << kernel_name(block.config->kernel) << ", block (" << block.idx.x << "," << block.idx.y << "," << block.idx.z << ")";
  return os.str();
}

std::string describe_site(const Site& site) {
  // Paths relative to the source tree, whose root this file's own path gives.
  static const std::string root = [] {
    std::string self = __FILE__;
    const auto at = self.rfind("kernels/emu/harness.cpp");
    return at == std::string::npos ? std::string() : self.substr(0, at);
  }();
  std::string file = site.file_name();
  if (!root.empty() && file.compare(0, root.size(), root) == 0) file = file.substr(root.size());
  return file + ":" + std::to_string(site.line());
}

bool same_site(const Site& a, const Site& b) {
  return a.line() == b.line() && a.column() == b.column() && std::strcmp(a.file_name(), b.file_name()) == 0;
}

namespace {
std::string describe_ranges(const std::vector<int>& ids) {
  std::ostringstream os;
  for (std::size_t i = 0; i < ids.size();) {
    std::size_t j = i;
    while (j + 1 < ids.size() && ids[j + 1] == ids[j] + 1) ++j;
    if (i) os << ", ";
    os << ids[i];
    if (j > i) os << "-" << ids[j];
    i = j + 1;
  }
  return os.str();
}
}  // namespace

std::string describe_threads(const std::vector<int>& threads) {
  return (threads.size() == 1 ? "thread " : "threads ") + describe_ranges(threads);
}

std::string describe_lanes(unsigned lanes) {
  std::vector<int> ids;
  for (int l = 0; l < 32; ++l)
    if (lanes >> l & 1u) ids.push_back(l);
  if (ids.empty()) return "no lanes";
  return (ids.size() == 1 ? "lane " : "lanes ") + describe_ranges(ids);
}

void fault(const std::string& message) {
  const ThreadCtx& t = this_thread();
  std::ostringstream os;
  os << describe_block(*t.block) << ", thread " << t.linear << " (threadIdx (" << t.thread_idx.x << ","
     << t.thread_idx.y << "," << t.thread_idx.z << "), lane " << t.lane << " of warp " << t.warp << "): " << message;
  throw KernelFault(os.str());
}

}  // namespace slm::emu
