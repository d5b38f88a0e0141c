"""The LoRA step bench/gpu/bench.ts times, in PyTorch on the same card: a Llama of the same shape (builtin:medium:
12 layers, hidden 768, 12 heads, MLP 2560, vocabulary 259, tied embeddings; and stories260K from its folder), LoRA
r = 8, alpha 16, no dropout on every linear layer (peft; on builtin:medium's shape also with the presets' dropout 0.05),
AdamW lr 1e-3, causal-LM loss on random tokens, float32 with TF32 off, each step ending with loss.item(). Prints JSON.
"""
import argparse
import json
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--stories", default="")
args = parser.parse_args()
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
device = "cuda"


def bench(name, model, batch, length, dropout=0.0):
    model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, lora_dropout=dropout, target_modules=[
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])).to(device)
    # Training mode, so that LoRA's dropout draws masks (from_pretrained returns a model in eval mode).
    model.train()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3, weight_decay=0.0)
    generator = torch.Generator().manual_seed(11)
    ids = torch.randint(1, model.config.vocab_size, (batch, length), generator=generator).to(device)

    def step():
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return loss.item()

    step()
    step()
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(args.steps):
        step()
    seconds = time.perf_counter() - started
    return {"model": name, "dropout": dropout, "parameters": sum(p.numel() for p in model.parameters()), "batch": batch,
            "length": length, "steps": args.steps, "msPerStep": seconds * 1000 / args.steps,
            "tokensPerSecond": batch * length * args.steps / seconds,
            "peakBytes": torch.cuda.max_memory_allocated()}


config = LlamaConfig(vocab_size=259, hidden_size=768, intermediate_size=2560, num_hidden_layers=12,
                     num_attention_heads=12, num_key_value_heads=12, max_position_embeddings=512,
                     tie_word_embeddings=True, rms_norm_eps=1e-5, attn_implementation="sdpa")
torch.manual_seed(3)
results = [bench("builtin:medium (same shape)", LlamaForCausalLM(config).float(), 8, 256)]
torch.manual_seed(3)
results.append(bench("builtin:medium (same shape)", LlamaForCausalLM(config).float(), 8, 256, dropout=0.05))
if args.stories:
    results.append(bench("stories260K", LlamaForCausalLM.from_pretrained(args.stories, torch_dtype=torch.float32), 32, 256))
print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(), "tf32": False,
                  "lora": results}, indent=2))
