"""The LoRA step bench/gpu/bench.ts times, in PyTorch on the same card: a Llama of the same shape (builtin:medium: 12
layers, hidden 768, 12 heads, MLP 2560, vocabulary 259, tied embeddings; and stories260K from its folder), LoRA r = 8,
alpha 16, no dropout on every linear layer (peft; on builtin:medium's shape also with the presets' dropout 0.05, and
DoRA as its preset has it: use_dora, dropout 0.05), AdamW
lr 1e-3 after clipping at global norm 1, causal-LM loss on random tokens, float32 with TF32 off, each step ending with
loss.item(). And the encoder step bench.ts times last: a RoBERTa-base-shaped RobertaForSequenceClassification (random
weights, vocabulary 50,265, heads of 64, transformers' dropout 0.1 on hidden states and attention probabilities), LoRA r
= 8 on each layer's query, key, value and output projections and feed-forward (bench.ts's targets read as the encoder's
modules), its 2-way head trained beside it (peft SEQ_CLS, modules_to_save), cross-entropy on alternating labels; the
same batch and length (--encoder 32x128, --encoder-layers, --encoder-hidden as bench.ts's; 0x0 leaves it out). Prints
JSON.
"""
import argparse
import json
import time

import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM, RobertaConfig, RobertaForSequenceClassification

parser = argparse.ArgumentParser()
parser.add_argument("--steps", type=int, default=10)
parser.add_argument("--stories", default="")
parser.add_argument("--encoder", default="32x128")
parser.add_argument("--encoder-layers", type=int, default=12)
parser.add_argument("--encoder-hidden", type=int, default=768)
args = parser.parse_args()
torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
device = "cuda"


DECODER_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# The same modules in a RoBERTa layer; a pattern, so that the head's own classifier.dense is left to modules_to_save.
ENCODER_TARGETS = (r".*encoder\.layer\.\d+\."
                   r"(attention\.self\.(query|key|value)|attention\.output\.dense|intermediate\.dense|output\.dense)")


def bench(name, model, batch, length, dropout=0.0, encoder=False, dora=False):
    lora = LoraConfig(r=8, lora_alpha=16, lora_dropout=dropout, target_modules=ENCODER_TARGETS,
                      task_type="SEQ_CLS") if encoder else LoraConfig(r=8, lora_alpha=16, lora_dropout=dropout,
                                                                     target_modules=DECODER_TARGETS, use_dora=dora)
    model = get_peft_model(model, lora).to(device)
    # Each step's own peak, not the largest of the steps timed before it.
    torch.cuda.reset_peak_memory_stats()
    # Training mode, so that dropout draws masks (from_pretrained returns a model in eval mode).
    model.train()
    trained = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trained, lr=1e-3, weight_decay=0.0)
    generator = torch.Generator().manual_seed(11)
    # Token ids past RoBERTa's specials (0-3), whose padding id would move the position ids.
    ids = torch.randint(4 if encoder else 1, model.config.vocab_size, (batch, length), generator=generator).to(device)
    labels = (torch.arange(batch) % 2).to(device) if encoder else ids

    def step():
        loss = model(input_ids=ids, labels=labels).loss
        loss.backward()
        # Clipped at a global norm of 1, as transformers' Trainer and mceval's presets clip.
        torch.nn.utils.clip_grad_norm_(trained, 1.0)
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
    return {"model": name, "dropout": dropout, "dora": dora, "parameters": sum(p.numel() for p in model.parameters()),
            "batch": batch, "length": length, "steps": args.steps, "msPerStep": seconds * 1000 / args.steps,
            "tokensPerSecond": batch * length * args.steps / seconds,
            "peakBytes": torch.cuda.max_memory_allocated()}


config = LlamaConfig(vocab_size=259, hidden_size=768, intermediate_size=2560, num_hidden_layers=12,
                     num_attention_heads=12, num_key_value_heads=12, max_position_embeddings=512,
                     tie_word_embeddings=True, rms_norm_eps=1e-5, attn_implementation="sdpa")
torch.manual_seed(3)
results = [bench("builtin:medium (same shape)", LlamaForCausalLM(config).float(), 8, 256)]
torch.manual_seed(3)
results.append(bench("builtin:medium (same shape)", LlamaForCausalLM(config).float(), 8, 256, dropout=0.05))
torch.manual_seed(3)
results.append(bench("builtin:medium (same shape)", LlamaForCausalLM(config).float(), 8, 256, dropout=0.05, dora=True))
if args.stories:
    stories = LlamaForCausalLM.from_pretrained(args.stories, torch_dtype=torch.float32)
    results.append(bench("stories260K", stories, 32, 256))
encoder_batch, encoder_length = (int(n) for n in args.encoder.split("x"))
if encoder_batch > 0:
    layers, hidden = args.encoder_layers, args.encoder_hidden
    roberta = RobertaConfig(vocab_size=50265, hidden_size=hidden, intermediate_size=4 * hidden,
                            num_hidden_layers=layers, num_attention_heads=hidden // 64, max_position_embeddings=514,
                            type_vocab_size=1, pad_token_id=1, layer_norm_eps=1e-5, num_labels=2,
                            attn_implementation="sdpa")
    torch.manual_seed(3)
    # bench.ts's name for the same step, which targets.ts pairs it with.
    name = f"roberta-base shape ({layers} layers, hidden {hidden}, random)"
    results.append(bench(name, RobertaForSequenceClassification(roberta).float(), encoder_batch, encoder_length,
                         encoder=True))
print(json.dumps({"torch": torch.__version__, "device": torch.cuda.get_device_name(), "tf32": False,
                  "lora": results}, indent=2))
