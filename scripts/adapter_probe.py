"""Probe an exit adapter with one attention block against the reference SwiGLU adapter, by top-1 agreement.

Both adapters sit at the same exit, see the same batches (one shared base forward per batch) with the same loss,
schedule shape and budget, and are measured on the same test-split tokens. This is an offline probe of the lever: it trains
and evaluates with full causal attention over each row and does not decode. The stored results come from:

    python scripts/adapter_probe.py --attention-lr 2e-3 --results results/adapter_probe.json --threads 2
    python scripts/adapter_probe.py --results results/adapter_probe_same_lr.json --threads 2
"""
import argparse
import json
import logging
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm
from transformers.models.llama.modeling_llama import apply_rotary_pos_emb

from cascadeexit.adapters import ExitAdapter, ExitModel, RMSNorm, load_base_model
from cascadeexit.distill import load_corpus, soft_cross_entropy, teacher_targets, token_rows, tokenize_documents

logger = logging.getLogger("adapter_probe")


class AttentionExitAdapter(nn.Module):
    """A causal self-attention block (zero-initialised output) on the exit hidden states, then the SwiGLU adapter."""

    def __init__(self, config, bottleneck: int = 128):
        super().__init__()
        hidden, self.heads, self.kv_heads = config.hidden_size, config.num_attention_heads, config.num_key_value_heads
        self.head_dim = getattr(config, "head_dim", None) or hidden // self.heads
        self.norm = RMSNorm(hidden, config.rms_norm_eps)
        self.q_proj = nn.Linear(hidden, self.heads * self.head_dim, bias=False)
        self.k_proj = nn.Linear(hidden, self.kv_heads * self.head_dim, bias=False)
        self.v_proj = nn.Linear(hidden, self.kv_heads * self.head_dim, bias=False)
        self.o_proj = nn.Linear(self.heads * self.head_dim, hidden, bias=False)
        nn.init.zeros_(self.o_proj.weight)
        self.swiglu = ExitAdapter(hidden, bottleneck, config.rms_norm_eps)

    def forward(self, hidden_states, position_embeddings):
        batch, length, _ = hidden_states.shape
        x = self.norm(hidden_states)
        q = self.q_proj(x).view(batch, length, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(batch, length, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(batch, length, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rotary_pos_emb(q, k, *position_embeddings)
        attention = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        hidden_states = hidden_states + self.o_proj(attention.transpose(1, 2).reshape(batch, length, -1))
        return self.swiglu(hidden_states)


def student_logits(exit_model, adapter, hidden, positions):
    """Return the exit logits of `adapter` on exit hidden states `hidden`."""
    if isinstance(adapter, AttentionExitAdapter):
        adapted = adapter(hidden, exit_model.rotary_emb(hidden, positions))
    else:
        adapted = adapter(hidden)
    return exit_model.lm_head(exit_model.norm(adapted))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--corpus", default="wiki-summaries")
    parser.add_argument("--exit", type=int, default=8)
    parser.add_argument("--bottleneck", type=int, default=128)
    parser.add_argument("--train-tokens", type=int, default=122_880)
    parser.add_argument("--test-tokens", type=int, default=32_768)
    parser.add_argument("--lr", type=float, default=1e-2, help="peak learning rate of the SwiGLU adapter")
    parser.add_argument("--attention-lr", type=float, default=None,
                        help="peak learning rate of the attention adapter (default: --lr)")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--seq-len", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--results", default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)

    base_model, tokenizer = load_base_model(args.model)
    exit_model = ExitModel(base_model, [args.exit], args.bottleneck)
    documents = load_corpus(args.corpus)
    train = token_rows(tokenize_documents(documents.documents["train"], tokenizer, max_tokens=args.train_tokens),
                       args.seq_len)
    test = token_rows(tokenize_documents(documents.documents["test"], tokenizer, max_tokens=args.test_tokens),
                      args.seq_len)
    adapters = {"SwiGLU": ExitAdapter(base_model.config.hidden_size, args.bottleneck, base_model.config.rms_norm_eps),
                "attention + SwiGLU": AttentionExitAdapter(base_model.config, args.bottleneck)}
    steps = len(train) // args.batch_size
    lrs = {"SwiGLU": args.lr, "attention + SwiGLU": args.attention_lr or args.lr}
    optimizers = {name: torch.optim.AdamW(a.parameters(), lr=lrs[name], weight_decay=0.0) for name, a in adapters.items()}
    schedulers = {name: torch.optim.lr_scheduler.OneCycleLR(o, max_lr=lrs[name], total_steps=steps, pct_start=0.3)
                  for name, o in optimizers.items()}
    positions = torch.arange(args.seq_len)[None].expand(args.batch_size, -1)

    start = time.perf_counter()
    order = torch.randperm(len(train))
    for step in tqdm(range(steps), desc="train", unit="step"):
        input_ids = train[order[step * args.batch_size:(step + 1) * args.batch_size]]
        out = exit_model(input_ids, return_logits=False)
        with torch.no_grad():
            probs, negative_entropy = teacher_targets(exit_model.final_logits(out.last_hidden_state))
        for name, adapter in adapters.items():
            logits = student_logits(exit_model, adapter, out.exit_hidden_states[args.exit], positions)
            loss = soft_cross_entropy(logits.reshape(-1, logits.shape[-1]), probs) + negative_entropy
            loss.backward()
            optimizers[name].step()
            schedulers[name].step()
            optimizers[name].zero_grad(set_to_none=True)
    train_seconds = time.perf_counter() - start

    agree = {name: 0 for name in adapters}
    with torch.no_grad():
        for row in tqdm(range(0, len(test), args.batch_size), desc="evaluate", unit="batch"):
            input_ids = test[row:row + args.batch_size]
            out = exit_model(input_ids, return_logits=False)
            teacher_top1 = exit_model.final_logits(out.last_hidden_state).argmax(-1)
            rows_positions = torch.arange(input_ids.shape[1])[None].expand(input_ids.shape[0], -1)
            for name, adapter in adapters.items():
                logits = student_logits(exit_model, adapter, out.exit_hidden_states[args.exit], rows_positions)
                agree[name] += (logits.argmax(-1) == teacher_top1).sum().item()

    layer_params = sum(p.numel() for p in base_model.model.layers[0].parameters())
    result = {"command": "python scripts/adapter_probe.py " + " ".join(
        f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items() if v is not None and k != "threads"),
        "exit": args.exit, "train_tokens": steps * args.batch_size * args.seq_len, "test_tokens": test.numel(),
        "train_seconds": train_seconds, "decoder_layer_params": layer_params,
        "arms": [{"adapter": name, "params": sum(p.numel() for p in adapter.parameters()), "lr": lrs[name],
                  "top1_agreement": agree[name] / test.numel()} for name, adapter in adapters.items()]}
    print(json.dumps(result, indent=2))
    if args.results:
        Path(args.results).write_text(json.dumps(result, indent=2) + "\n")
        logger.info("Wrote %s", args.results)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
