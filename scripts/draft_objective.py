"""Measure the draft-exit training objective: more KL distillation against KL plus total variation.

Every arm warm-starts one exit from a trained run and trains it on the same training-split tokens, which that run
did not use. Each arm is then measured on test-split tokens (top-1 agreement, KL, total variation). It is also
measured by greedy speculative decoding from calibration-split prompts (acceptance rate and tokens per round with a
fixed draft length).
results/draft_objective.json comes from:

    python scripts/draft_objective.py --run runs/paper --out runs/draft-objective \
        --results results/draft_objective.json --threads 2
"""
import argparse
import json
import logging
import os
import time
from pathlib import Path

import torch

from cascadeexit.adapters import ExitModel, load_base_model
from cascadeexit.cli import _draft_vocab, train_stage
from cascadeexit.distill import evaluate_exits, load_corpus, tokenize_documents
from cascadeexit.quality import make_prompts
from cascadeexit.speculative import SpeculativeDecoder

logger = logging.getLogger("draft_objective")


def measure(exit_model, layer, test_tokens, prompts, new_tokens, max_draft, draft_vocab) -> dict:
    """Return one exit's held-out quality and its greedy speculative acceptance on `prompts`."""
    quality = next(row for row in evaluate_exits(exit_model, test_tokens)["exits"] if row["layer"] == layer)
    decoder = SpeculativeDecoder(exit_model, layer, max_draft, draft_vocab=draft_vocab)
    drafted = accepted = rounds = tokens = 0
    for prompt in prompts:
        output = decoder.generate(prompt, new_tokens)
        drafted, accepted, rounds = drafted + output.drafted, accepted + output.accepted, rounds + output.rounds
        tokens += output.num_new_tokens
    return {**quality, "acceptance_rate": accepted / drafted, "tokens_per_round": tokens / rounds,
            "prompts": len(prompts), "new_tokens": new_tokens, "max_draft": max_draft}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/paper", help="trained run to warm-start from")
    parser.add_argument("--out", default="runs/draft-objective", help="directory for the arms' adapters")
    parser.add_argument("--results", default=None, help="write the measurements to this JSON file")
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--corpus", default="wiki-summaries")
    parser.add_argument("--exit", type=int, default=8, help="the draft exit layer")
    parser.add_argument("--tv-weights", type=float, nargs="+", default=[0.0, 1.0], help="one arm per weight")
    parser.add_argument("--train-tokens", type=int, default=61_440)
    parser.add_argument("--skip-tokens", type=int, default=240_000, help="training tokens the run already used")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--test-tokens", type=int, default=32_768)
    parser.add_argument("--prompts", type=int, default=10)
    parser.add_argument("--new-tokens", type=int, default=128)
    parser.add_argument("--max-draft", type=int, default=3)
    parser.add_argument("--draft-vocab", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.threads:
        torch.set_num_threads(args.threads)

    base_model, tokenizer = load_base_model(args.model)
    documents = load_corpus(args.corpus)
    test_tokens = tokenize_documents(documents.documents["test"], tokenizer, max_tokens=args.test_tokens)
    texts = [text for _, text in documents.documents["calibration"]]
    prompts = make_prompts(tokenizer, texts, n=args.prompts)
    draft_vocab = _draft_vocab(documents, tokenizer, args.draft_vocab, args.skip_tokens)
    settings = {k: v for k, v in vars(args).items() if k not in ("results", "threads")}
    arms = []

    start = time.perf_counter()
    logger.info("Measuring the starting adapters of %s at exit %d", args.run, args.exit)
    run_model = ExitModel.from_pretrained(args.run, base_model)
    arms.append({"arm": "start", "tv_weight": None, "extra_train_tokens": 0,
                 **measure(run_model, args.exit, test_tokens, prompts, args.new_tokens, args.max_draft, draft_vocab),
                 "seconds": time.perf_counter() - start})

    for weight in args.tv_weights:
        start = time.perf_counter()
        out = Path(args.out) / f"tv{weight:g}"
        training = train_stage(out, args.model, args.corpus, exits=[args.exit], train_tokens=args.train_tokens,
                               lr=args.lr, tv_weight=weight, init_from=args.run, skip_tokens=args.skip_tokens)
        arm_model = ExitModel.from_pretrained(out, base_model)
        arms.append({"arm": f"KL + {weight:g} TV" if weight else "KL", "tv_weight": weight, "directory": str(out),
                     "extra_train_tokens": training["summary"]["tokens"],
                     **measure(arm_model, args.exit, test_tokens, prompts, args.new_tokens, args.max_draft,
                               draft_vocab),
                     "seconds": time.perf_counter() - start})
        logger.info("%s", json.dumps(arms[-1]))

    result = {"command": "python scripts/draft_objective.py " + " ".join(
        f"--{k.replace('_', '-')} {' '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in settings.items()),
        "settings": settings, "arms": arms}
    print(json.dumps(result, indent=2))
    if args.results:
        path = Path(args.results)
        path.write_text(json.dumps(result, indent=2) + "\n")
        logger.info("Wrote %s", path)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
