// commands.cpp — the subcommand table: names, synopses, flags and help texts in one place.
#include "tools/slmtune/commands.h"

namespace slm::cli {
namespace {

const std::vector<FlagSpec> k_recipe_flags = {
    {"--print-config", "", "Print the resolved recipe (defaults, file, overrides) as YAML and exit."},
};

const std::vector<CommandSpec> k_commands = {
    {"prepare", "tokenize a recipe's data into HDF5 shards", "RECIPE [section.key=value ...]",
     "Reads the recipe's data, applies the model's chat template and loss masks, packs rows and\n"
     "writes HDF5 shards that `train` reads. Overrides have the form section.key=value.",
     k_recipe_flags, 1, -1, run_prepare, ""},
    {"train", "fine-tune LoRA adapters as a recipe says", "RECIPE [section.key=value ...]",
     "Trains the adapters a recipe describes and writes the run to <output.dir>/<output.name>/:\n"
     "the resolved recipe, metrics, checkpoints and exports. Overrides have the form\n"
     "section.key=value, for example train.learning_rate=1e-4 lora.rank=8.\n"
     "A run continues from its newest valid checkpoint unless --no-resume is given; SIGINT or\n"
     "SIGTERM saves a checkpoint and stops (exit status 130 / 143).",
     {k_recipe_flags[0],
      {"--print-reference", "", "Print the documented reference recipe (every key and default) and exit."},
      {"--resume", "PATH", "Continue from this checkpoint directory (or its training_state.h5)."},
      {"--no-resume", "", "Start over; the run's earlier results move to <run>/previous-<time>/."},
      {"--plan", "", "Print the CUDA backend's predicted peak GPU memory by category and exit."},
      {"--gpu-memory", "SIZE", "The GPU's memory for --plan (default 24GiB; e.g. 80GB, 16G)."}},
     0, -1, run_train, ""},
    {"eval", "held-out loss of the base model and of base + adapter", "RECIPE [section.key=value ...]",
     "Computes the loss and perplexity of the base model and of the base model with an adapter on\n"
     "the recipe's evaluation split (data.eval or data.eval_fraction). The adapter is --adapter,\n"
     "or the run's own <output.dir>/<output.name>/adapter when it exists.",
     {{"--adapter", "DIR", "Adapter directory (PEFT format) to apply."}},
     1, -1, run_eval, ""},
    {"export", "write a run's adapter as PEFT, merged HF, GGUF or GGUF LoRA", "RUN_OR_CHECKPOINT",
     "Exports an adapter: a run directory's newest valid checkpoint, a checkpoint-<step> directory,\n"
     "or a PEFT adapter directory. The base model comes from the run's recipe.yaml (or --model).\n"
     "Without --format, the formats the recipe lists (output.export). A compatibility report for\n"
     "vLLM, PEFT and llama.cpp is printed first; impossible combinations stop the export.\n"
     "Default --out: <run>/export/<format>/. An existing non-empty --out needs --force.",
     {{"--format", "KIND", "peft, merged, gguf or gguf-lora."},
      {"--out", "DIR", "Where to write (a directory; several formats get a subdirectory each)."},
      {"--dtype", "TYPE", "f32, f16, bf16 or q8_0 (by format; defaults: merged bf16, gguf f16, else f32)."},
      {"--model", "PATH", "The base model, when the adapter is not part of a run."},
      {"--force", "", "Replace the contents of a non-empty --out."}},
     1, 1, run_export, ""},
    {"generate", "generate text from a model, with or without an adapter", "",
     "Streams the model's continuation of a prompt (greedy by default) and reports tokens/s.",
     {{"--model", "PATH", "GGUF file, .safetensors file or HF model directory."},
      {"--adapter", "DIR", "PEFT adapter directory to apply."},
      {"--prompt", "TEXT", "The prompt."},
      {"--chat", "", "Wrap the prompt in the model's chat template as a user turn."},
      {"--max-new-tokens", "N", "Stop after N new tokens (default 128)."},
      {"--temperature", "T", "Sampling temperature; 0 = greedy (default 0)."},
      {"--top-p", "P", "Nucleus sampling threshold (default 1)."},
      {"--seed", "S", "Sampling seed (default 0)."}},
     0, 0, run_generate, ""},
    {"logits", "write a model's logits for a token sequence (export checks)", "",
     "Runs the model (with an adapter, merged or not) over a token sequence and writes the logits\n"
     "at every position to a safetensors file (tensor \"logits\" [T, V] F32, \"tokens\" [T] I32).\n"
     "The export checks compare these with transformers, PEFT and llama.cpp.",
     {{"--model", "PATH", "GGUF file, .safetensors file or HF model directory."},
      {"--adapter", "DIR", "PEFT adapter directory to apply (unmerged: the training forward)."},
      {"--merge", "", "Fold the adapter into the weights first (the merged-model path)."},
      {"--tokens", "IDS", "Comma-separated token ids."},
      {"--text", "TEXT", "Text to tokenize (with the tokenizer's special tokens) instead of --tokens."},
      {"--out", "FILE", "The safetensors file to write."}},
     0, 0, run_logits, ""},
    {"inspect", "summarize a safetensors, GGUF or HDF5 file", "FILE",
     "Prints a file's architecture, tensors with dtypes and quantization types, tokenizer and\n"
     "chat template.",
     {}, 1, 1, run_inspect, ""},
    {"version", "print the version and the linked CUDA libraries", "",
     "Prints slmtune's version, how it was built, and the CUDA runtime, cuBLAS, cuBLASLt and NCCL\n"
     "versions it links (CUDA builds).",
     {}, 0, 0, run_version, ""},
};

}  // namespace

std::span<const CommandSpec> all_commands() { return k_commands; }

}  // namespace slm::cli
