"""`ptt` command line: each command builds a config and calls one importable function."""

from __future__ import annotations

import dataclasses
import json

import click

from ptt.config import TrainConfig
from ptt.errors import PttError

# flag -> (click type, help). Defaults come from TrainConfig so there is one source of truth.
TRAIN_FLAGS: dict[str, tuple] = {
    "backbone": (str, "HF hub name, local model folder, or `minilm` (the bundled all-MiniLM-L6-v2)."),
    "family": (str, "seq2seq | masked_lm | encoder (default: detected from the model config)."),
    "task": (str, "Task name from the task table (sst2, mr, imdb, laptop, restaurant, tweeteval, snli, mnli, "
                  "qnli, rte, mrpc, qqp)."),
    "data_dir": (str, "Folder laid out like ptt/assets/data (e.g. a full copy of the data); default: packaged slices."),
    "data_source": (str, "local (files) or hub (datasets.load_dataset of the task's hub dataset)."),
    "train_file": (str, "Local csv/tsv/json/jsonl training file (labels: the task's label names or indices)."),
    "eval_file": (str, "Local csv/tsv/json/jsonl evaluation file."),
    "text_field": (str, "Text column(s) of --train/--eval-file, comma-separated (two for pair tasks)."),
    "label_field": (str, "Label column of --train/--eval-file."),
    "max_train_examples": (int, "Use at most this many training examples."),
    "max_eval_examples": (int, "Use at most this many evaluation examples."),
    "prompt_length": (int, "Number of soft prompt vectors."),
    "init": (str, "Prompt initialization: uniform | vocab | labels."),
    "init_from": (str, "Start from a saved prompt artifact (transferred initialization), or `auto`."),
    "library": (str, "With --init-from auto: folder of prompt artifacts; the best-ranked source is used."),
    "max_length": (int, "Text tokens per example (the prompt comes on top)."),
    "max_steps": (int, "Optimizer steps."),
    "eval_every": (int, "Evaluate (and save last/, best/) every this many steps."),
    "save_every": (int, "Write resume state every this many steps (default: every evaluation)."),
    "batch_size": (int, "Global batch size (micro batch x accumulation x ranks)."),
    "micro_batch_size": (int, "Per-rank batch per forward pass (default: the whole per-rank share)."),
    "eval_batch_size": (int, "Per-rank evaluation batch."),
    "batch_order": (str, "grouped (batches of similar-length examples, less padding; each epoch still sees every "
                         "example once) or random."),
    "lr": (float, "Learning rate (AdamW)."),
    "weight_decay": (float, "AdamW weight decay."),
    "warmup_steps": (int, "Linear warmup steps, then constant."),
    "max_grad_norm": (float, "Gradient clipping norm."),
    "precision": (str, "auto | fp32 | bf16 (auto: bf16 on CUDA, fp32 on CPU)."),
    "seed": (int, "Seed for the prompt initialization and the data order."),
    "ds_config": (str, "DeepSpeed config: a JSON path or zero3_bf16 | zero2_bf16 | zero3_offload "
                          "(default zero3_bf16; zero2_bf16 for a single CPU process)."),
    "output_dir": (str, "Run folder (default: ./runs/<task>-<backbone>-<time>)."),
    "log_every": (int, "Log loss and throughput every this many steps."),
    "on_nonfinite": (str, "On a NaN/inf loss: stop (name the step, exit 2) or skip (drop the step, count it)."),
}
SWITCHES = {"resume": "Continue the run in --output-dir from its newest resume state.",
            "overwrite": "Replace the run in --output-dir."}


def config_options(flags: dict[str, tuple], switches: dict[str, str]):
    """Click options for TrainConfig fields, defaults taken from the dataclass."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}

    def decorate(fn):
        for name, help_text in reversed(list(switches.items())):
            fn = click.option("--" + name.replace("_", "-"), name, is_flag=True, help=help_text)(fn)
        for name, (kind, help_text) in reversed(list(flags.items())):
            fn = click.option("--" + name.replace("_", "-"), name, type=kind, default=defaults[name],
                              show_default=defaults[name] is not None, help=help_text)(fn)
        # the deepspeed launcher appends --local_rank=N to the command line
        return click.option("--local_rank", "--local-rank", "local_rank", type=int, hidden=True)(fn)

    return decorate


@click.group()
@click.version_option(package_name="ptt")
@click.option("--local_rank", "--local-rank", "local_rank", type=int, hidden=True)  # the launcher puts it first
def main(local_rank):
    """Soft prompt tuning and prompt transfer on frozen backbones, under DeepSpeed."""


@main.command()
@config_options(TRAIN_FLAGS, SWITCHES)
def train(local_rank, **kwargs):
    """Tune a soft prompt on a frozen backbone. With no flags: the bundled MiniLM on packaged SST-2."""
    from ptt.train import train as run_train

    summary = run_train(TrainConfig(**kwargs))
    from ptt import dist

    if dist.is_main():
        click.echo(json.dumps(summary))


@main.command("eval")
@click.option("--prompt", "prompt", required=True, help="Prompt artifact folder (a run's best/ or last/).")
@click.option("--task", "task", default=None, help="Task to score on (default: the prompt's own task).")
@click.option("--backbone", default=None, help="Backbone (default: the one the prompt was trained on).")
@click.option("--data-dir", default=None, help="Folder laid out like ptt/assets/data.")
@click.option("--data-source", default="local", show_default=True, help="local or hub.")
@click.option("--eval-file", default=None, help="Local evaluation file instead of the task's eval split.")
@click.option("--text-field", default=None, help="Text column(s) of --eval-file, comma-separated.")
@click.option("--label-field", default="label", show_default=True, help="Label column of --eval-file.")
@click.option("--max-eval-examples", type=int, default=None, help="Score at most this many examples.")
@click.option("--eval-batch-size", type=int, default=64, show_default=True, help="Per-rank batch.")
@click.option("--precision", default="auto", show_default=True, help="auto | fp32 | bf16.")
@click.option("--ds-config", default=None, help="DeepSpeed config (JSON path or name).")
@click.option("--local_rank", "--local-rank", "local_rank", type=int, hidden=True)
def eval_cmd(prompt, local_rank, **overrides):
    """Score a saved prompt with the training scorer; prints one JSON line of metrics."""
    from ptt import dist
    from ptt.evaluate import eval_prompt

    metrics = eval_prompt(prompt, **overrides)
    if dist.is_main():
        click.echo(json.dumps(metrics))


@main.command("plan")
@click.option("--backbone", required=True, help="HF name or a folder with config.json (no weights are loaded).")
@click.option("--gpus-per-node", type=int, default=8, show_default=True)
@click.option("--nodes", type=int, default=1, show_default=True)
@click.option("--zero", type=int, default=3, show_default=True, help="ZeRO stage: 2 or 3.")
@click.option("--batch-size", type=int, default=32, show_default=True, help="Global batch size.")
@click.option("--seq-len", type=int, default=128, show_default=True, help="Text tokens per example.")
@click.option("--prompt-length", type=int, default=100, show_default=True)
@click.option("--offload", is_flag=True, help="Frozen weights in CPU memory (zero3_offload).")
@click.option("--gpu-memory", "gpu_memory_gib", type=float, default=80.0, show_default=True, help="GiB per GPU.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plan_cmd(as_json, **kwargs):
    """Per-GPU memory plan of a prompt-tuning run, from the model config alone."""
    from ptt.plan import PlanInput, plan, render

    result = plan(PlanInput(**kwargs))
    click.echo(json.dumps(result) if as_json else render(result))


@main.group()
def transfer():
    """Cross-task transfer: zero-shot transfer matrix, and random-vs-transferred convergence."""


SHARED_FLAGS = {k: TRAIN_FLAGS[k] for k in (
    "data_dir", "data_source", "max_train_examples", "max_eval_examples", "eval_batch_size", "precision",
    "ds_config", "seed", "init")}
COMPARE_FLAGS = {**SHARED_FLAGS, **{k: TRAIN_FLAGS[k] for k in (
    "task", "max_steps", "eval_every", "batch_size", "micro_batch_size", "lr", "weight_decay",
    "warmup_steps", "max_grad_norm", "max_length", "log_every", "batch_order")}}


@transfer.command("eval")
@click.option("--prompts", "prompts", multiple=True, required=True,
              help="Prompt artifacts (repeat the flag or separate with spaces in one quoted value).")
@click.option("--tasks", "tasks", required=True, help="Comma-separated target tasks.")
@click.option("--output-dir", "output_dir", required=True, help="Where matrix.json/.csv/.png go.")
@click.option("--no-random", "no_random", is_flag=True, help="Leave out the random-prompt row.")
@config_options(SHARED_FLAGS, {})
def transfer_eval(prompts, tasks, output_dir, no_random, local_rank, **kwargs):
    """Score every prompt, unchanged, on every task (zero-shot cross-task transfer)."""
    from ptt.transfer import transfer_matrix

    result = transfer_matrix(_paths(prompts), [t.strip() for t in tasks.split(",") if t.strip()], output_dir,
                             include_random=not no_random, base=TrainConfig(**kwargs))
    _echo_main({"output_dir": output_dir, "rows": result["rows"], "tasks": result["tasks"],
                "values": result["values"]})


@transfer.command("compare")
@click.option("--source", required=True, help="Source prompt artifact (trained on another task).")
@click.option("--backbone", default=None, help="Target backbone (default: the source prompt's backbone).")
@click.option("--seeds", type=int, default=3, show_default=True, help="Seeds per arm (seed, seed+1, ...).")
@click.option("--output-dir", "output_dir", required=True, help="Report folder.")
@click.option("--target-improvement", type=float, default=None,
              help="Target = random step-0 + F x (random best - random step-0). Default F = 0.9.")
@click.option("--target-of-best", type=float, default=None, help="Target = F x the random arm's best.")
@click.option("--target-metric", type=float, default=None, help="Target = this absolute metric value.")
@config_options(COMPARE_FLAGS, {})
def transfer_compare(source, backbone, seeds, output_dir, target_improvement, target_of_best, target_metric, local_rank,
                     **kwargs):
    """Random vs transferred initialization on --task: curves, steps to target, speedup."""
    from ptt.compare import Target, compare

    given = [(k, v) for k, v in (("improvement", target_improvement), ("of_best", target_of_best),
                                  ("absolute", target_metric)) if v is not None]
    if len(given) > 1:
        raise PttError("--target-improvement/--target-of-best/--target-metric: give at most one")
    target = Target(*given[0]) if given else Target()
    if backbone is None:
        backbone = source_backbone(source)
    report = compare(TrainConfig(backbone=backbone, **kwargs), source, seeds, output_dir, target)
    _echo_main({"output_dir": output_dir, "speedup": report["speedup"], "step0_gap": report["step0_gap"]})


@transfer.group("project")
def project():
    """Cross-model transfer: a projector between two backbones' prompt spaces."""


PROJECT_FLAGS = {**SHARED_FLAGS, **{k: TRAIN_FLAGS[k] for k in (
    "max_steps", "eval_every", "batch_size", "micro_batch_size", "lr", "weight_decay", "max_grad_norm",
    "max_length", "log_every", "train_file", "eval_file", "text_field", "label_field", "batch_order")}}


@project.command("fit")
@click.option("--source-backbone", required=True, help="Backbone the source prompts were trained on.")
@click.option("--target-backbone", required=True, help="Backbone to map prompts into.")
@click.option("--objective", required=True, help="distance (regress onto target prompts) or task (target task loss).")
@click.option("--source-prompts", multiple=True, required=True, help="Source prompt artifacts (repeatable).")
@click.option("--target-prompts", multiple=True, help="distance: target-backbone prompts of the same tasks.")
@click.option("--tasks", default=None, help="task: comma-separated tasks (default: the source prompts' tasks).")
@click.option("--mode", default="token", show_default=True, help="token (per vector) or flat (whole prompt).")
@click.option("--projector-hidden", default=768, show_default=True, type=int, help="Hidden units of the MLP.")
@click.option("--target-length", default=None, type=int, help="Target prompt length (flat mode; default: same).")
@click.option("--distance", "distance", default="mse", show_default=True, help="distance: mse or cosine.")
@click.option("--output-dir", required=True, help="Writes projector.safetensors, projector.json, tb/.")
@config_options(PROJECT_FLAGS, {})
def project_fit(source_backbone, target_backbone, objective, source_prompts, target_prompts, tasks, mode,
                projector_hidden, target_length, distance, output_dir, local_rank, **kwargs):
    """Fit a projector (distance minimization or task tuning)."""
    from ptt import project as proj

    if objective == "distance":
        metrics = proj.fit_distance(_paths(source_prompts), _paths(target_prompts), source_backbone, target_backbone,
                                    output_dir, hidden=projector_hidden, mode=mode, loss=distance,
                                    steps=kwargs["max_steps"], lr=kwargs["lr"], seed=kwargs["seed"])
    elif objective == "task":
        task_list = [t.strip() for t in tasks.split(",")] if tasks else None
        base = TrainConfig(backbone=target_backbone, **kwargs)
        metrics = proj.fit_task(_paths(source_prompts), task_list, source_backbone, base, output_dir,
                                hidden=projector_hidden, mode=mode, target_length=target_length)
    else:
        raise PttError(f"--objective {objective}: choose distance or task")
    _echo_main({"output_dir": output_dir, "metrics": metrics})


@project.command("apply")
@click.option("--projector", "projector_dir", required=True, help="A folder written by `project fit`.")
@click.option("--prompt", "prompt", required=True, help="A prompt artifact of the projector's source backbone.")
@click.option("--output-dir", required=True, help="Where the target-backbone prompt artifact goes.")
def project_apply(projector_dir, prompt, output_dir):
    """Map a prompt into the target backbone: usable by ptt eval, transfer eval, train --init-from."""
    from ptt.project import apply

    click.echo(json.dumps(apply(projector_dir, prompt, output_dir)))


@transfer.command("rank")
@click.option("--sample", type=int, default=256, show_default=True, help="Training examples scored per candidate.")
@config_options({**SHARED_FLAGS, **{k: TRAIN_FLAGS[k] for k in ("task", "backbone", "library", "max_length")}}, {})
def transfer_rank(sample, local_rank, library, **kwargs):
    """Rank a prompt library's sources for --task (zero-shot on a sample of its training set)."""
    from ptt.select import rank_library, render_ranking

    if not library:
        raise PttError("--library: required (a folder of prompt artifacts)")
    result = rank_library(library, TrainConfig(**kwargs), sample=sample)
    from ptt import dist

    if dist.is_main():
        click.echo(render_ranking(result))


@main.command("indicators")
@click.option("--prompts", "prompt_paths", multiple=True, required=True, help="Prompt artifacts of one backbone.")
@click.option("--output-dir", required=True, help="Matrices (json/csv/png) and correlations go here.")
@click.option("--transfer-matrix", default=None, help="matrix.json from `ptt transfer eval` over the same prompts.")
@config_options({k: SHARED_FLAGS[k] for k in ("precision", "ds_config")}, {})
def indicators_cmd(prompt_paths, output_dir, transfer_matrix, local_rank, **kwargs):
    """Transferability indicators (embedding similarity, activated-neuron overlap) and their correlation."""
    from ptt.indicate import render_correlation, run_indicators

    result = run_indicators(_paths(prompt_paths), output_dir, transfer_matrix, base=TrainConfig(**kwargs))
    from ptt import dist

    if dist.is_main():
        click.echo(json.dumps({"output_dir": output_dir, "indicators": sorted(result["matrices"])}))
        if "correlation" in result:
            click.echo(render_correlation(result["correlation"]))


@main.group()
def prompts():
    """The prompt library: list, show, and PEFT interchange."""


@prompts.command("list")
@click.argument("directory")
def prompts_list(directory):
    """Every prompt artifact under DIRECTORY: task, backbone, length, steps, metric, hash."""
    from ptt.library import list_library, render_table

    click.echo(render_table(list_library(directory)))


@prompts.command("show")
@click.argument("prompt")
def prompts_show(prompt):
    """One artifact's metadata and tensor statistics, as JSON."""
    from ptt.library import show

    click.echo(json.dumps(show(prompt), indent=2, default=str))


@prompts.command("export-peft")
@click.argument("prompt")
@click.argument("out")
def prompts_export_peft(prompt, out):
    """Write PROMPT as a PEFT prompt-tuning adapter (adapter_config.json + adapter_model.safetensors) in OUT."""
    from ptt.library import export_peft

    export_peft(prompt, out)
    click.echo(json.dumps({"adapter": str(out)}))


@prompts.command("import-peft")
@click.argument("adapter")
@click.argument("out")
@click.option("--backbone", default=None, help="Backbone (default: the adapter's base_model_name_or_path).")
@click.option("--task", default=None, help="Task the adapter was trained on (recorded in prompt.json).")
def prompts_import_peft(adapter, out, backbone, task):
    """Turn a PEFT prompt-tuning adapter into a ptt prompt artifact in OUT."""
    from ptt.library import import_peft

    import_peft(adapter, out, backbone=backbone, task=task)
    click.echo(json.dumps({"prompt": str(out)}))


def _paths(values) -> list[str]:
    """A repeatable path option's values, each of which may hold several space-separated paths."""
    return [p for chunk in values for p in chunk.split()]


def source_backbone(source: str) -> str:
    from ptt.checkpoint import load_prompt

    _, meta = load_prompt(source, flag="--source")
    return meta.get("backbone_path") or meta["backbone"]


def _echo_main(obj) -> None:
    from ptt import dist
    from ptt.curves import json_safe

    if dist.is_main():
        click.echo(json.dumps(json_safe(obj)))


if __name__ == "__main__":
    main()
