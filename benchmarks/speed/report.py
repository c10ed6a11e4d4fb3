"""The benchmark's printed tables: per row, both tools' numbers side by side, the ratios, ptt's step breakdown, the
FLOP count and MFU (GPU), T5 scoring and decoder-only decoding speed."""

from __future__ import annotations

from speed.common import FLOP_COUNTS, MEMORY_METHOD, PEFT_ORDERS, on_cuda

def print_backbone(res: dict, o) -> None:
    """The table (ptt and each PEFT column), the ratio lines, ptt's step breakdown, the FLOP count and MFU
    (GPU), T5 scoring speed."""
    p, cols = res["ptt"], res["peft_orders"]
    task = f", {res['task']}" if "task" in res else ""
    print(f"\n== {res['backbone']} ({res['shape']}, {res['family']}{task}) | {res['device']}, {res['precision']}, "
          f"torch threads {p['threads']} | prompt {o.prompt_length}, batch {o.batch_size}, max len {o.seq_len} "
          f"(dynamic padding), {o.rounds} round(s) x {o.steps} steps, first {o.warmup} left out ==")
    rows = [("samples/s", "samples_per_s", ".2f", 1), ("tokens/s (non-pad)", "tokens_per_s", ".0f", 1),
            ("mean step time (ms)", "step_ms", ".1f", 1), ("median step time (ms)", "step_ms_median", ".1f", 1),
            ("computed positions/step", "computed_positions_per_step", ".0f", 1),
            ("peak memory (MiB)", "peak_mem_mib", ".0f", 1)]
    if on_cuda():
        rows += [(f"model TFLOPs/step ({k})", f"flops_per_step_{k}", ".3f", 1e-12) for k in FLOP_COUNTS]
        rows += [(f"MFU (%), {k} count", f"mfu_{k}", ".2f", 100) for k in FLOP_COUNTS]
    heads = [f"ptt {p['batch_order']}"] + [f"PEFT {k}" for k in cols]
    width = max(14, *(len(h) + 2 for h in heads))
    print(f"  {'':<24}" + "".join(f"{h:>{width}}" for h in heads))
    for name, key, spec, scale in rows:
        cells = ["-" if key not in r else format(scale * r[key], spec) for r in (p, *cols.values())]
        print(f"  {name:<24}" + "".join(f"{c:>{width}}" for c in cells))
    if on_cuda():
        n = p["flop_params"]
        dec = next(iter(cols.values()), {}).get("decoder_steps", 0)
        print(f"  model FLOPs/step = k*(N_enc*T_enc + N_dec*T_dec): k=4 (4NT: frozen backbone, forward + activation "
              f"backward, the work done) and k=6 (6NT: the full-training count with weight gradients), "
              f"N_enc={n['encoder']:,} N_dec={n['decoder']:,} non-embedding params, T_enc = computed positions/step "
              f"(prompt + padded text), T_dec = batch x decoder steps (ptt 1, PEFT {dec:g}); MFU against "
              f"{o.peak_tflops:g} TFLOP/s")
    pads = ", ".join(f"{h} {100 * r['padded_positions_per_step'] / r['computed_positions_per_step']:.0f}%"
                     for h, r in zip(heads, (p, *cols.values())))
    print(f"  padding share of computed positions: {pads}")
    for k in cols:
        print(f"  PEFT {k}: PEFT prompt tuning + Trainer; batches: {PEFT_ORDERS[k]}")
    print(f"  peak memory: {MEMORY_METHOD}; ptt: {p['optimizer']}, ZeRO stage {p['zero_stage']}")
    if res["ratio"] is None:
        print(f"  PEFT skipped: {res['peft']['skipped']}")
    for order, q in cols.items():
        ratio = res["ratios"][order]
        each = ", ".join(f"{a / b:.2f}x" for a, b in zip(p["round_samples_per_s"], q["round_samples_per_s"]))
        print(f"  ptt/PEFT training throughput vs PEFT {order}: {ratio['samples']:.2f}x samples/s, "
              f"{ratio['tokens']:.2f}x non-pad tokens/s" + (f" (samples/s per round: {each})" if o.rounds > 1 else ""))
    total = sum(p["breakdown_ms"].values())
    parts = ", ".join(f"{k} {v:.1f} ms ({100 * v / total:.0f}%)" for k, v in p["breakdown_ms"].items())
    print(f"  where ptt's step goes ({o.breakdown_steps} extra steps, timed around engine calls): {parts}")
    if "scoring" in p and "scoring" in res["peft"]:
        print_scoring(p["scoring"], res["peft"]["scoring"], o)
    if "generation_ratio" in res:
        print_generation(p["generation"], res["peft"]["generation"], res, o)


def print_scoring(rank: dict, gen: dict, o) -> None:
    """T5 only: rank classification (ptt) against generate + string match (PEFT)."""
    n = rank["examples"]
    print(f"  T5 scoring, {n} dev examples, batch {o.eval_batch_size}, each tool's trained prompt:\n"
          f"    rank classification (ptt: 1 decoder step, label-word logits): {rank['examples_per_s']:.1f} ex/s, "
          f"{rank['invalid']}/{n} not a valid label, accuracy {rank['accuracy']:.3f}\n"
          f"    generate (PEFT, max_new_tokens=3, string match):           {gen['examples_per_s']:.1f} ex/s, "
          f"{gen['invalid']}/{n} ({100 * gen['invalid'] / n:.1f}%) not a label word, accuracy "
          f"{gen['accuracy']:.3f}, e.g. {gen['sample_outputs']}\n"
          f"    rank classification / generate speed: {rank['examples_per_s'] / gen['examples_per_s']:.2f}x")


def print_generation(mine: dict, theirs: dict, res: dict, o) -> None:
    """Decoder-only generation rows: greedy decoding speed, ptt against PEFT generate, fixed length and to EOS."""
    n, budget = mine["fixed"]["examples"], mine["fixed"]["max_new_tokens"]
    a, b = mine["eos"], theirs["eos"]
    print(f"  generation speed, {n} {res['task']} dev examples, batch {o.eval_batch_size} (longest first), greedy, "
          f"KV cache, each tool's trained prompt; ptt: the causal_lm family's generate (Scorer.generate), PEFT: "
          f"peft_model.generate(do_sample=False), left padding:\n"
          f"    exactly {budget} new tokens (EOS ignored): ptt {mine['fixed']['examples_per_s']:.1f} ex/s, "
          f"PEFT {theirs['fixed']['examples_per_s']:.1f} ex/s\n"
          f"    stopping at EOS (max_new_tokens {budget}):  ptt {a['examples_per_s']:.1f} ex/s "
          f"({a['new_tokens_per_example']:.1f} tokens/example before EOS), PEFT {b['examples_per_s']:.1f} ex/s "
          f"({b['new_tokens_per_example']:.1f}), e.g. ptt {a['sample_outputs'][:2]}, PEFT {b['sample_outputs'][:2]}\n"
          f"    ptt/PEFT generation speed: {res['generation_ratio']['fixed']:.2f}x examples/s at {budget} new tokens, "
          f"{res['generation_ratio']['eos']:.2f}x stopping at EOS")
