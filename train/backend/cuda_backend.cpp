// cuda_backend.cpp — the CUDA Backend: device memory, the weights' device copies, the mirrors of
// the adapters and moments, and one call into kernels/cuda (or cuBLASLt) per op, all on one stream.
#include "train/backend/cuda_backend.h"

#include <cuda_bf16.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstring>
#include <unordered_map>
#include <vector>

#include "kernels/cpu/cross_entropy.h"
#include "kernels/cuda/adamw.h"
#include "kernels/cuda/attention.h"
#include "kernels/cuda/attention_backward.h"
#include "kernels/cuda/blaslt_gemm.h"
#include "kernels/cuda/check.h"
#include "kernels/cuda/cross_entropy.h"
#include "kernels/cuda/dequant.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/grad_norm.h"
#include "kernels/cuda/lora.h"
#include "kernels/cuda/rmsnorm.h"
#include "kernels/cuda/rope.h"
#include "kernels/cuda/swiglu.h"
#include "train/core/error.h"
#include "train/plan/memory_plan.h"

namespace slm {
namespace {

using bf16 = __nv_bfloat16;

// Device memory that frees itself (cudaFree never throws here: a destructor may run during
// unwinding).
std::shared_ptr<void> device_alloc(std::size_t bytes, const std::string& what) {
  void* p = nullptr;
  bytes = std::max<std::size_t>(bytes, 256);
  if (cudaMalloc(&p, bytes) != cudaSuccess) {
    cudaGetLastError();
    SLM_FAIL("out of GPU memory allocating ", (bytes + (1 << 20) - 1) >> 20, " MiB for ", what,
             "; see `slmtune train RECIPE --plan` and lower train.micro_batch_size or data.seq_len, or enable "
             "train.activation_checkpointing");
  }
  SLM_CUDA_CHECK(cudaMemset(p, 0, bytes));
  return std::shared_ptr<void>(p, [](void* q) { cudaFree(q); });
}

// A scratch buffer that only grows (while steps reserve, before training starts).
struct Scratch {
  std::shared_ptr<void> memory;
  std::size_t bytes = 0;
  void ensure(std::size_t need, const char* what) {
    if (need > bytes) {
      memory = device_alloc(need, what);
      bytes = need;
    }
  }
  template <class T>
  T* as() const {
    return static_cast<T*>(memory.get());
  }
};

class CudaBackend final : public Backend {
 public:
  CudaBackend(const LlamaWeights& weights, const CudaBackendOptions& options)
      : options_(options), config_(weights.config) {
    const int devices = visible_cuda_devices();
    if (devices == 0) {
      SLM_FAIL("train.backend: cuda, but no CUDA device is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES), "
               "or set train.backend: cpu");
    }
    SLM_CHECK(options.device >= 0 && options.device < devices, "CUDA device ", options.device, " does not exist (",
              devices, " visible)");
    SLM_CUDA_CHECK(cudaSetDevice(options.device));
    const ModelConfig& c = config_;
    SLM_CHECK(c.head_dim == 64 || c.head_dim == 128 || c.head_dim == 256, "train.backend: cuda: the model's head_dim ",
              c.head_dim, " is not one the attention kernels cover (64, 128, 256); use train.backend: cpu");
    SLM_CUDA_CHECK(cudaStreamCreate(&stream_));
    gemm_ = std::make_unique<cuda::BlasLtGemm>(static_cast<std::size_t>(k_cublaslt_workspace_bytes));
    upload_weights(weights);
    scalars_ = device_alloc(k_step_scalar_bytes, "step scalars");
    grad_norm_ws_ = device_alloc(cuda::grad_norm_workspace_doubles() * sizeof(double), "gradient norm workspace");
  }
  ~CudaBackend() override {
    if (stream_) {
      cudaStreamSynchronize(stream_);
      cudaStreamDestroy(stream_);
    }
  }

  std::string_view name() const override { return "cuda"; }

  void reserve(const ModelConfig& c, std::int64_t max_tokens, const LoraSettings* lora) override {
    if (lora) {
      SLM_CHECK(!lora->use_dora, "train.backend: cuda does not train DoRA adapters yet; set lora.use_dora: false or "
                "train.backend: cpu");
      SLM_CHECK(lora->rank >= 1 && lora->rank <= 128, "train.backend: cuda: lora.rank ", lora->rank,
                " is above the fused LoRA kernels' 128; use a rank of at most 128 or train.backend: cpu");
    }
    const CudaScratchSizes s = cuda_scratch_sizes(c, max_tokens, lora, options_.small_tiles);
    const auto bytes = [](std::int64_t b) { return static_cast<std::size_t>(b); };
    x_bf16_.ensure(bytes(s.x_bf16), "bf16 GEMM operands");
    dy_bf16_.ensure(bytes(s.dy_bf16), "bf16 GEMM operands");
    q_bf16_.ensure(bytes(s.q_bf16), "attention operands");
    k_bf16_.ensure(bytes(s.k_bf16), "attention operands");
    v_bf16_.ensure(bytes(s.v_bf16), "attention operands");
    dout_bf16_.ensure(bytes(s.dout_bf16), "attention operands");
    delta_.ensure(bytes(s.attention_delta), "attention backward work");
    lora_g_.ensure(bytes(s.lora_g), "LoRA backward work");
    lora_ws_.ensure(bytes(s.lora_workspace), "LoRA backward work");
    ce_chunk_ = std::max(ce_chunk_, s.ce_chunk);
    ce_ws_.ensure(bytes(s.ce_workspace), "cross-entropy logits chunk");
  }

  BackendArena allocate(std::size_t bytes, std::string name) override {
    const std::size_t size = BackendArena::padded_bytes(bytes);
    return BackendArena(device_alloc(size, name), size, std::move(name));
  }
  void upload(void* dst, const void* host, std::size_t bytes) override {
    // From pageable memory the copy is staged before the call returns: host may change after it.
    SLM_CUDA_CHECK(cudaMemcpyAsync(dst, host, bytes, cudaMemcpyHostToDevice, stream_));
  }
  void download(void* host, const void* src, std::size_t bytes) override {
    SLM_CUDA_CHECK(cudaMemcpyAsync(host, src, bytes, cudaMemcpyDeviceToHost, stream_));
    synchronize();
  }
  void zero(float* x, std::size_t n) override {
    SLM_CUDA_CHECK(cudaMemsetAsync(resolve(x), 0, n * sizeof(float), stream_));
  }
  void copy(float* dst, const float* src, std::size_t n) override {
    SLM_CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, stream_));
  }
  MirrorLease mirror(float* host, std::size_t n, std::string_view name) override {
    auto it = std::find_if(mirrors_.begin(), mirrors_.end(), [&](const Mirror& m) { return m.host == host; });
    if (it == mirrors_.end()) {
      for (const Mirror& m : mirrors_)
        SLM_CHECK(host + n <= m.host || m.host + m.n <= host, "internal: mirrored arrays overlap");
      mirrors_.push_back({host, n, device_alloc(n * sizeof(float), std::string(name)), 0});
      it = mirrors_.end() - 1;
    }
    SLM_CHECK(it->n == n, "internal: ", name, " mirrored again with another size");
    ++it->leases;
    upload(it->device.get(), host, n * sizeof(float));
    return MirrorLease(host, [this](void* released) {
      const auto m = std::find_if(mirrors_.begin(), mirrors_.end(), [&](const Mirror& x) { return x.host == released; });
      if (m != mirrors_.end() && --m->leases == 0) {
        cudaStreamSynchronize(stream_);  // no kernel may still use the device copy
        mirrors_.erase(m);
      }
    });
  }
  void pull_mirrors() override {
    for (const Mirror& m : mirrors_)
      SLM_CUDA_CHECK(cudaMemcpyAsync(m.host, m.device.get(), m.n * sizeof(float), cudaMemcpyDeviceToHost, stream_));
    synchronize();
  }
  void push_mirrors() override {
    for (const Mirror& m : mirrors_) upload(m.device.get(), m.host, m.n * sizeof(float));
  }

  void embedding_forward(float* out, const float* table, const std::int32_t* ids, std::int64_t n, std::int64_t d,
                         std::int64_t v) override {
    cuda::EmbeddingParams p;
    p.out = out;
    p.table_bf16 = frozen(table).half;
    p.ids = ids;
    p.invalid_at = scalar<std::int64_t>(k_embedding_invalid);
    p.t = n;
    p.d = d;
    p.v = v;
    cuda::embedding_forward(p, stream_);
    embedding_ids_ = ids;
  }
  void rmsnorm_forward(float* out, const float* x, const float* w, std::int64_t n, std::int64_t d,
                       float eps) override {
    cuda::RmsNormParams p;
    p.out = out;
    p.x = x;
    p.w = frozen(w).f32;
    p.t = n;
    p.d = d;
    p.eps = eps;
    cuda::rmsnorm_forward(p, stream_);
  }
  void rmsnorm_backward(float* dx, const float* dy, const float* x, const float* w, std::int64_t n, std::int64_t d,
                        float eps, bool accumulate) override {
    cuda::RmsNormBackwardParams p;
    p.dx = dx;
    p.dy = dy;
    p.x = x;
    p.w = frozen(w).f32;
    p.t = n;
    p.d = d;
    p.eps = eps;
    p.accumulate = accumulate;
    cuda::rmsnorm_backward(p, stream_);
  }
  void rope_tables(float* cos, float* sin, const std::int32_t* positions, const float* inv_freq, std::int64_t n,
                   std::int64_t half) override {
    cuda::RopeTablesParams p;
    p.cos = cos;
    p.sin = sin;
    p.positions = positions;
    p.inv_freq = inv_freq;
    p.t = n;
    p.half = half;
    cuda::rope_tables(p, stream_);
  }
  void rope_forward(float* x, const float* cos, const float* sin, std::int64_t n, std::int64_t heads,
                    std::int64_t e) override {
    cuda::rope_forward(rope(x, cos, sin, n, heads, e), stream_);
  }
  void rope_backward(float* dx, const float* cos, const float* sin, std::int64_t n, std::int64_t heads,
                     std::int64_t e) override {
    cuda::rope_backward(rope(dx, cos, sin, n, heads, e), stream_);
  }

  void linear_forward(float* y, const float* x, const LinearCall& call) override {
    bf16* xh = cast(x_bf16_, x, call.n * call.in);
    gemm_->nt(y, xh, matrix(call.w), to_int(call.n), to_int(call.out), to_int(call.in), 0.0f, stream_);
    if (!call.lora) return;
    cuda::LoraForwardParams p;
    lora_operands(p, call);
    p.y = y;
    p.x = x;
    cuda::lora_forward(p, stream_);
  }
  void linear_backward(float* dx, const float* dy, const float* x, const LinearCall& call, float beta) override {
    bf16* dyh = cast(dy_bf16_, dy, call.n * call.out);
    gemm_->nn(dx, dyh, matrix(call.w), to_int(call.n), to_int(call.out), to_int(call.in), beta, stream_);
    if (!call.lora) return;
    cuda::LoraBackwardParams p;
    lora_operands(p, call);
    p.da = resolve(call.lora->da);
    p.db = resolve(call.lora->db);
    p.dx = dx;
    p.g = lora_g_.as<float>();
    p.dy = dy;
    p.x = x;
    p.workspace = lora_ws_.bytes ? lora_ws_.as<float>() : nullptr;
    cuda::lora_backward(p, stream_);
  }

  void attention_forward(float* out, float* lse, const float* q, const float* k, const float* v,
                         const AttentionShape& s, const BatchView& b) override {
    cuda::AttentionParams p;
    p.q = cast(q_bf16_, q, s.n * s.h * s.e);
    p.k = cast(k_bf16_, k, s.n * s.g * s.e);
    p.v = cast(v_bf16_, v, s.n * s.g * s.e);
    p.out = out;
    p.lse = lse;
    set_shape(p, s, b);
    cuda::attention_forward_train(p, cuda::AttentionInput::bf16, stream_);
  }
  void attention_backward(float* dq, float* dk, float* dv, const float* dout, const float* q, const float* k,
                          const float* v, const float* out, const float* lse, const AttentionShape& s,
                          const BatchView& b) override {
    cuda::AttentionBackwardParams p;
    p.q = cast(q_bf16_, q, s.n * s.h * s.e);
    p.k = cast(k_bf16_, k, s.n * s.g * s.e);
    p.v = cast(v_bf16_, v, s.n * s.g * s.e);
    p.out_fp32 = out;
    p.dout = cast(dout_bf16_, dout, s.n * s.h * s.e);
    p.lse = lse;
    p.delta = delta_.as<float>();
    p.dq = dq;
    p.dk = dk;
    p.dv = dv;
    set_shape(p, s, b);
    cuda::attention_backward(p, cuda::AttentionInput::bf16, stream_);
  }
  void swiglu_forward(float* out, const float* gate, const float* up, std::int64_t count) override {
    cuda::SwiGluParams p;
    p.out = out;
    p.gate = gate;
    p.up = up;
    p.count = count;
    cuda::swiglu_forward(p, stream_);
  }
  void swiglu_backward(float* dgate, float* dup, const float* dout, const float* gate, const float* up,
                       std::int64_t count) override {
    cuda::SwiGluBackwardParams p;
    p.dgate = dgate;
    p.dup = dup;
    p.dout = dout;
    p.gate = gate;
    p.up = up;
    p.count = count;
    cuda::swiglu_backward(p, stream_);
  }
  void add_inplace(float* x, const float* y, std::int64_t count) override {
    cuda::add_inplace(x, y, count, stream_);
  }
  double cross_entropy(float* dx, const float* x, const float* w, const std::int32_t* targets, std::int64_t n,
                       std::int64_t d, std::int64_t v, float grad_scale) override {
    cuda::CrossEntropyBf16Params p;
    p.loss_sum = scalar<double>(k_loss);
    p.counted = scalar<std::int64_t>(k_counted);
    p.invalid_at = scalar<std::int64_t>(k_target_invalid);
    p.dx = dx;
    p.x = x;
    p.w = frozen(w).half;
    p.targets = targets;
    p.t = n;
    p.d = d;
    p.v = v;
    p.chunk = ce_chunk_;
    p.grad_scale = grad_scale;
    p.workspace = ce_ws_.memory.get();
    p.tile = tile();
    cuda::cross_entropy_forward_backward_bf16(p, stream_);
    Scalars s = read_scalars();
    if (s.target_invalid >= 0) {
      std::int32_t bad = 0;
      download(&bad, targets + s.target_invalid, sizeof bad);
      SLM_FAIL("cross_entropy: target ", bad, " at position ", s.target_invalid, " is outside the vocabulary [0, ", v,
               ") and is not the ignore index ", cpu::k_ignore_index,
               "; the data was tokenized for another model or masked with another value");
    }
    return s.loss;
  }
  void logits(float* host_out, const float* x, const float* w, std::int64_t n, std::int64_t v,
              std::int64_t d) override {
    // Not a training op: the [N, V] output is allocated here, for this call.
    const std::shared_ptr<void> out = device_alloc(static_cast<std::size_t>(n * v) * sizeof(float), "logits");
    gemm_->nt(static_cast<float*>(out.get()), cast(x_bf16_, x, n * d), frozen(w).half, to_int(n), to_int(v),
              to_int(d), 0.0f, stream_);
    download(host_out, out.get(), static_cast<std::size_t>(n * v) * sizeof(float));
    read_scalars();
  }

  double grad_norm_squared(const float* g, std::size_t n) override {
    cuda::GradNormParams p;
    p.norm_squared = scalar<double>(k_norm);
    p.g = resolve(g);
    p.n = static_cast<std::int64_t>(n);
    p.workspace = static_cast<double*>(grad_norm_ws_.get());
    cuda::grad_norm_squared(p, stream_);
    return read_scalars().norm;
  }
  void adamw_step(const AdamWParams& p, float* param, const float* grad, float* m, float* v,
                  std::size_t n) override {
    cuda::adamw_step(p, resolve(param), resolve(grad), resolve(m), resolve(v), n, stream_);
  }

 private:
  struct Frozen {
    float* f32 = nullptr;  // vectors
    bf16* half = nullptr;  // matrices kept in bf16 (the embedding table too)
    const void* blocks = nullptr;  // matrices kept quantized
    cuda::QuantType type = cuda::QuantType::q8_0;
    std::int64_t count = 0;
  };
  struct Mirror {
    float* host;
    std::size_t n;
    std::shared_ptr<void> device;
    int leases;
  };
  // Slots of the small device block `scalars_` (8 bytes each).
  enum Slot { k_loss, k_counted, k_target_invalid, k_embedding_invalid, k_norm };
  struct Scalars {
    double loss = 0, norm = 0;
    std::int64_t target_invalid = -1, embedding_invalid = -1;
  };

  void synchronize() { SLM_CUDA_CHECK(cudaStreamSynchronize(stream_)); }

  template <class T>
  T* scalar(Slot slot) const {
    return reinterpret_cast<T*>(static_cast<char*>(scalars_.get()) + 8 * slot);
  }

  // Waits for the stream and reads the scalars back; reports an embedding id outside the
  // vocabulary (which the kernel cannot throw) as the CPU twin does.
  Scalars read_scalars() {
    std::int64_t raw[5];
    download(raw, scalars_.get(), sizeof raw);
    Scalars s;
    std::memcpy(&s.loss, &raw[k_loss], 8);
    std::memcpy(&s.norm, &raw[k_norm], 8);
    s.target_invalid = raw[k_target_invalid];
    s.embedding_invalid = raw[k_embedding_invalid];
    if (embedding_ids_ && s.embedding_invalid >= 0) {
      std::int32_t bad = 0;
      SLM_CUDA_CHECK(cudaMemcpy(&bad, embedding_ids_ + s.embedding_invalid, sizeof bad, cudaMemcpyDeviceToHost));
      SLM_FAIL("token id ", bad, " at position ", s.embedding_invalid, " is outside the vocabulary [0, ",
               config_.vocab_size, "); the data was tokenized for another model");
    }
    return s;
  }

  void upload_weights(const LlamaWeights& weights) {
    std::size_t largest = 0;
    weights.for_each([&](const std::string&, const std::vector<std::int64_t>& shape, float*) {
      std::size_t count = 1;
      for (std::int64_t s : shape) count *= static_cast<std::size_t>(s);
      largest = std::max(largest, count);
    });
    // fp32 staging for the casts, freed when the upload is done (before any step).
    const std::shared_ptr<void> staging = device_alloc(largest * sizeof(float), "weight upload staging");
    weights.for_each([&](const std::string& name, const std::vector<std::int64_t>& shape, float* data) {
      std::size_t count = 1;
      for (std::int64_t s : shape) count *= static_cast<std::size_t>(s);
      Frozen& f = frozen_[data];
      const bool vector = shape.size() == 1, table = data == weights.embed_tokens || data == weights.lm_head;
      if (const auto q = options_.quantized.find(name); q != options_.quantized.end() && !vector && !table) {
        keep_quantized(f, name, q->second, static_cast<std::int64_t>(count));
        return;
      }
      if (vector) {
        owned_.push_back(device_alloc(count * sizeof(float), name));
        f.f32 = static_cast<float*>(owned_.back().get());
        upload(f.f32, data, count * sizeof(float));
      }
      if (!vector) {
        owned_.push_back(device_alloc(count * sizeof(bf16), name));
        f.half = static_cast<bf16*>(owned_.back().get());
        upload(staging.get(), data, count * sizeof(float));
        cuda::cast_to_bf16(f.half, static_cast<const float*>(staging.get()), static_cast<std::int64_t>(count), stream_);
      }
    });
    synchronize();
  }

  // Uploads a matrix's blocks as they are (a bf16 scratch of the largest such matrix receives each
  // dequantization, allocated once).
  void keep_quantized(Frozen& f, const std::string& name, const QuantizedSource& q, std::int64_t count) {
    f.type = quant_type(q.ggml_type, name);
    const std::int64_t block = cuda::quant_block_elements(f.type);
    SLM_CHECK(count % block == 0 && static_cast<std::int64_t>(q.bytes) == count / block * cuda::quant_block_bytes(f.type),
              "internal: ", name, ": ", q.bytes, " bytes of quantized blocks for ", count, " weights");
    owned_.push_back(device_alloc(q.bytes, name));
    f.blocks = owned_.back().get();
    f.count = count;
    upload(owned_.back().get(), q.blocks, q.bytes);
    dequantized_.ensure(static_cast<std::size_t>(count) * sizeof(bf16), "dequantized weight");
  }

  static cuda::QuantType quant_type(std::uint32_t ggml_type, const std::string& name) {
    switch (ggml_type) {
      case 2: return cuda::QuantType::q4_0;
      case 3: return cuda::QuantType::q4_1;
      case 6: return cuda::QuantType::q5_0;
      case 7: return cuda::QuantType::q5_1;
      case 8: return cuda::QuantType::q8_0;
      case 10: return cuda::QuantType::q2_k;
      case 11: return cuda::QuantType::q3_k;
      case 12: return cuda::QuantType::q4_k;
      case 13: return cuda::QuantType::q5_k;
      case 14: return cuda::QuantType::q6_k;
      default: SLM_FAIL(name, ": GGML type ", ggml_type, " cannot be kept quantized on the GPU");
    }
  }

  // A matrix in bf16 for a GEMM: its copy, or its blocks dequantized into the shared scratch (the
  // stream orders each dequantization after the previous product that read the scratch).
  const bf16* matrix(const float* host) {
    const Frozen& f = frozen(host);
    if (!f.blocks) return f.half;
    cuda::DequantParams p;
    p.type = f.type;
    p.blocks = f.blocks;
    p.n = f.count;
    cuda::dequantize_bf16(p, dequantized_.as<bf16>(), stream_);
    return dequantized_.as<bf16>();
  }

  const Frozen& frozen(const float* host) const {
    const auto it = frozen_.find(host);
    SLM_CHECK(it != frozen_.end(), "internal: a weight the CUDA backend was not given");
    return it->second;
  }

  // The device version of a mirrored host array (or the pointer itself, already device memory).
  template <class T>
  T* resolve(T* p) const {
    for (const Mirror& m : mirrors_)
      if (p >= m.host && p < m.host + m.n) return static_cast<float*>(m.device.get()) + (p - m.host);
    return p;
  }

  bf16* cast(const Scratch& to, const float* x, std::int64_t n) {
    SLM_CHECK(static_cast<std::size_t>(n) * sizeof(bf16) <= to.bytes, "internal: bf16 scratch not reserved");
    cuda::cast_to_bf16(to.as<bf16>(), x, n, stream_);
    return to.as<bf16>();
  }

  // What lora_forward and lora_backward share: the adapter, its x A^T, the shapes, dropout, tiles.
  template <class P>
  void lora_operands(P& p, const LinearCall& call) const {
    p.a = resolve(call.lora->a);
    p.b = resolve(call.lora->b);
    p.xa = call.xa;
    p.m = call.n;
    p.n = call.out;
    p.k = call.in;
    p.r = call.rank;
    p.scale = call.lora_scale;
    p.hash = dropout_hash(call.dropout);
    p.row_tile = lora_rows();
  }

  cuda::LoraDropoutHash dropout_hash(const LoraDropout& d) const {
    SLM_CHECK(!d.recorded, "train.backend: cuda draws dropout masks in its kernels; recorded masks are CPU-only");
    return d.p > 0 ? cuda::lora_dropout_hash(d.base, d.p) : cuda::LoraDropoutHash{};
  }

  template <class P>
  static void set_shape(P& p, const AttentionShape& s, const BatchView& b) {
    p.cu_seqlens = b.cu_seqlens;
    p.t = to_int(s.n);
    p.h = to_int(s.h);
    p.g = to_int(s.g);
    p.e = to_int(s.e);
    p.n_docs = to_int(b.docs);
    p.max_doc_len = to_int(b.max_doc_len);
    p.scale = s.scale;
  }

  static cuda::RopeParams rope(float* x, const float* cos, const float* sin, std::int64_t n, std::int64_t heads,
                               std::int64_t e) {
    cuda::RopeParams p;
    p.x = x;
    p.cos = cos;
    p.sin = sin;
    p.t = n;
    p.n = heads;
    p.e = e;
    return p;
  }

  static int to_int(std::int64_t v) {
    SLM_CHECK(v >= 0 && v <= INT32_MAX, "internal: dimension ", v, " exceeds the GEMMs' int range");
    return static_cast<int>(v);
  }
  cuda::GemmTile tile() const { return options_.small_tiles ? cuda::GemmTile::small : cuda::GemmTile::large; }
  cuda::LoraRowTile lora_rows() const {
    return options_.small_tiles ? cuda::LoraRowTile::rows32 : cuda::LoraRowTile::automatic;
  }

  CudaBackendOptions options_;
  ModelConfig config_;
  cudaStream_t stream_ = nullptr;
  std::unique_ptr<cuda::BlasLtGemm> gemm_;
  std::unordered_map<const float*, Frozen> frozen_;
  std::vector<std::shared_ptr<void>> owned_;  // the weights' device copies
  std::vector<Mirror> mirrors_;
  std::shared_ptr<void> scalars_, grad_norm_ws_;
  Scratch dequantized_;  // [largest quantized matrix] bf16
  Scratch x_bf16_, dy_bf16_, q_bf16_, k_bf16_, v_bf16_, dout_bf16_, delta_, lora_g_, lora_ws_, ce_ws_;
  std::int64_t ce_chunk_ = 1;
  const std::int32_t* embedding_ids_ = nullptr;  // the last lookup's ids, to name a bad one
};

}  // namespace

int visible_cuda_devices() {
  int devices = 0;
  if (cudaGetDeviceCount(&devices) != cudaSuccess) {
    cudaGetLastError();
    return 0;
  }
  return devices;
}

std::unique_ptr<Backend> make_cuda_backend(const LlamaWeights& weights, const CudaBackendOptions& options) {
  return std::make_unique<CudaBackend>(weights, options);
}

}  // namespace slm
