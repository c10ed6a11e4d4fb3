"""`ptt` command line: parse, build the command's config, call its `run`. Nothing heavy is imported here: each
command module (and torch with it) loads only when its command runs.

Options are generated from the configs (`ptt.config`), with no list kept here: a command offers every field of
its config's groups; a field's docstring is its help, its default the option's default. Options that take several prompt artifacts accept a shell glob's expansion
(`--prompts runs/*/best`), the flag repeated, or a folder of artifacts.
"""

from __future__ import annotations

import dataclasses
import json
import typing

import click
from click.core import ParameterSource

from ptt.config import (CompareConfig, EvalConfig, FlattenConfig, IndicatorsConfig, PlanConfig, ProjectFitConfig,
                        RankConfig, RecycleConfig, TrainConfig, TransferEvalConfig, field_docs)

class VariadicOption(click.Option):
    """A repeatable option that also takes every value up to the next option (a shell glob's expansion)."""


class PttCommand(click.Command):
    def parse_args(self, ctx, args):
        return super().parse_args(ctx, spread_variadic(args, self.params))


def spread_variadic(args: list[str], params) -> list[str]:
    """`--prompts a b c --tasks x` -> `--prompts a --prompts b --prompts c --tasks x` for variadic options."""
    names = {o for p in params if isinstance(p, VariadicOption) for o in p.opts}
    out, flag, given = [], None, 0
    for arg in args:
        if arg in names:
            if flag and not given:
                out.append(flag)
            flag, given = arg, 0
        elif flag and not arg.startswith("-"):
            out += [flag, arg]
            given += 1
        else:
            if flag and not given:
                out.append(flag)
            flag = None
            out.append(arg)
    if flag and not given:
        out.append(flag)
    return out


def _kind(hint):
    """The click type of a field's type hint (Optional unwrapped); `tuple` marks a list of paths."""
    if typing.get_origin(hint) is tuple:
        return tuple
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if args else hint


def ordered_fields(cls) -> list[dataclasses.Field]:
    """`cls`'s fields, the job's own group first, then each group in the order the job lists them."""
    fields = {f.name: f for f in dataclasses.fields(cls)}
    names = dict.fromkeys(name for klass in cls.__mro__ for name in vars(klass).get("__annotations__", {})
                          if name in fields)
    return [fields[name] for name in names]


def options(cls):
    """Click options for every field of the config `cls` (its groups'): help from the field docstrings, defaults
    from the dataclass, required as the groups declare, the flag `--field-name` (or the field's metadata "flag")."""
    hints, docs, required = typing.get_type_hints(cls), field_docs(cls), cls.required_fields()

    def decorate(fn):
        for field in reversed(ordered_fields(cls)):
            name, default = field.name, field.default
            kind, flag = _kind(hints[name]), field.metadata.get("flag", "--" + name.replace("_", "-"))
            if kind is bool:
                fn = click.option(flag, name, is_flag=True, help=docs.get(name))(fn)
            elif kind is tuple:
                fn = click.option(flag, name, cls=VariadicOption, multiple=True, required=name in required,
                                  help=docs.get(name))(fn)
            else:
                fn = click.option(flag, name, type=kind, default=default, required=name in required,
                                  show_default=default not in (None, ""), help=docs.get(name))(fn)
        # the deepspeed launcher appends --local_rank=N to the command line
        return click.option("--local_rank", "--local-rank", "local_rank", type=int, hidden=True)(fn)

    return decorate


def echo_main(obj) -> None:
    """Print on rank 0 only (every rank runs the command)."""
    from ptt.runtime import dist
    from ptt.transfer.comparison.curves import json_safe

    if dist.is_main():
        click.echo(obj if isinstance(obj, str) else json.dumps(json_safe(obj)))


@click.group()
@click.version_option(package_name="ptt")
@click.option("--local_rank", "--local-rank", "local_rank", type=int, hidden=True)  # the launcher puts it first
def main(local_rank):
    """Soft prompt tuning and prompt transfer on frozen backbones, under DeepSpeed."""


@main.command(cls=PttCommand)
@options(TrainConfig)
@click.pass_context
def train(ctx, local_rank, **kwargs):
    """Tune a soft prompt on a frozen backbone. With no flags: the bundled MiniLM on packaged SST-2."""
    from ptt.commands import train as command

    resume = kwargs["resume"]
    if resume:  # flags not given keep the saved run's values
        kwargs = {k: v for k, v in kwargs.items() if ctx.get_parameter_source(k) in (ParameterSource.COMMANDLINE,
                                                                                     ParameterSource.ENVIRONMENT)}
    echo_main(command.run(command.config(kwargs, resume)))


@main.command("eval", cls=PttCommand)
@options(EvalConfig)
def eval_cmd(local_rank, **kwargs):
    """Score a saved prompt with the training scorer; prints one JSON line of metrics."""
    from ptt.commands import eval as command

    echo_main(command.run(EvalConfig(**kwargs)))


@main.command("plan", cls=PttCommand)
@options(PlanConfig)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plan_cmd(as_json, local_rank, **kwargs):
    """Per-GPU memory plan of a prompt-tuning run, from the model config alone."""
    from ptt.commands.plan import plan, render

    result = plan(PlanConfig(**kwargs))
    click.echo(json.dumps(result) if as_json else render(result))


@main.group()
def transfer():
    """Cross-task and cross-model transfer: matrices, comparisons, projectors, source ranking."""


@transfer.command("eval", cls=PttCommand)
@options(TransferEvalConfig)
def transfer_eval(local_rank, **kwargs):
    """Score every prompt, unchanged, on every task (zero-shot cross-task transfer)."""
    from ptt.commands import transfer_eval as command

    cfg = TransferEvalConfig(**kwargs)
    result = command.run(cfg)
    echo_main({"output_dir": cfg.output_dir, "rows": result["rows"], "tasks": result["tasks"],
               "values": result["values"]})


@transfer.command("compare", cls=PttCommand)
@options(CompareConfig)
def transfer_compare(local_rank, **kwargs):
    """Initializations (arms) side by side on --task, same seeds and data order: curves, AUC, paired differences."""
    from ptt.commands import compare as command

    cfg = CompareConfig(**kwargs)
    report = command.run(cfg)
    echo_main({"output_dir": cfg.output_dir, "baseline": report["baseline"],
               "paired_auc": {s: {k: p[k] for k in ("mean", "ci95", "wins", "n")}
                              for s, p in ((s, v["auc"]) for s, v in report["paired"].items())}})


@transfer.group("project")
def project():
    """Cross-model transfer: a projector between two backbones' prompt spaces."""


@project.command("fit", cls=PttCommand)
@options(ProjectFitConfig)
def project_fit(local_rank, **kwargs):
    """Fit a projector (distance minimization or task tuning)."""
    from ptt.commands import project as command

    cfg = ProjectFitConfig(**kwargs)
    echo_main({"output_dir": cfg.output_dir, "metrics": command.fit(cfg)})


@project.command("apply")
@click.option("--projector", "projector_dir", required=True, help="A folder written by `project fit`.")
@click.option("--prompt", "prompt", required=True, help="A prompt artifact of the projector's source backbone.")
@click.option("--output-dir", required=True, help="A folder of its own for the target-backbone prompt artifact.")
@click.option("--overwrite", is_flag=True, help="Replace what an occupied --output-dir holds (never a run folder).")
def project_apply(projector_dir, prompt, output_dir, overwrite):
    """Map a prompt into the target backbone: usable by ptt eval, transfer eval, train --init-from."""
    from ptt.commands import project as command

    click.echo(json.dumps(command.apply(projector_dir, prompt, output_dir, overwrite)))


@transfer.command("recycle", cls=PttCommand)
@options(RecycleConfig)
def transfer_recycle(local_rank, **kwargs):
    """Recycle a prompt into another backbone from the two vocabularies' embeddings (no data, no training)."""
    from ptt.commands import recycle as command

    click.echo(json.dumps(command.run(RecycleConfig(**kwargs))))


@transfer.command("rank", cls=PttCommand)
@options(RankConfig)
def transfer_rank(local_rank, **kwargs):
    """Rank a prompt library's sources for --task (zero-shot on a sample of its training set)."""
    from ptt.commands import rank as command
    from ptt.transfer.sources.ranking import render_ranking

    echo_main(render_ranking(command.run(RankConfig(**kwargs))))


@main.command("indicators", cls=PttCommand)
@options(IndicatorsConfig)
def indicators_cmd(local_rank, **kwargs):
    """Transferability indicators (embedding similarity, activated-neuron overlap) and their correlation."""
    from ptt.commands import indicators as command

    cfg = IndicatorsConfig(**kwargs)
    result = command.run(cfg)
    echo_main({"output_dir": cfg.output_dir, "indicators": sorted(result["matrices"])})
    if "correlation" in result:
        echo_main(command.render_correlation(result["correlation"]))


@main.group()
def prompts():
    """The prompt library: list, show, and PEFT interchange."""


@prompts.command("list")
@click.argument("directory")
def prompts_list(directory):
    """Every prompt artifact under DIRECTORY: task, backbone, length, steps, metric, hash."""
    from ptt.commands import prompts as command

    click.echo(command.list_prompts(directory))


@prompts.command("show")
@click.argument("prompt")
def prompts_show(prompt):
    """One artifact's metadata and tensor statistics, as JSON."""
    from ptt.commands import prompts as command

    click.echo(json.dumps(command.show_prompt(prompt), indent=2, default=str))


@prompts.command("flatten", cls=PttCommand)
@options(FlattenConfig)
def prompts_flatten(local_rank, **kwargs):
    """Export an attention mixture as one plain prompt: its prompt averaged over the task's training inputs."""
    from ptt.commands import flatten as command

    echo_main(command.run(FlattenConfig(**kwargs)))


@prompts.command("export-peft")
@click.argument("prompt")
@click.argument("out")
def prompts_export_peft(prompt, out):
    """Write PROMPT as a PEFT prompt-tuning adapter (adapter_config.json + adapter_model.safetensors) in OUT."""
    from ptt.commands import prompts as command

    click.echo(json.dumps(command.export(prompt, out)))


@prompts.command("import-peft")
@click.argument("adapter")
@click.argument("out")
@click.option("--backbone", default=None, help="Backbone (default: the adapter's base_model_name_or_path).")
@click.option("--task", default=None, help="Task the adapter was trained on (recorded in prompt.json).")
def prompts_import_peft(adapter, out, backbone, task):
    """Turn a PEFT prompt-tuning adapter into a ptt prompt artifact in OUT."""
    from ptt.commands import prompts as command

    click.echo(json.dumps(command.import_adapter(adapter, out, backbone=backbone, task=task)))


if __name__ == "__main__":
    main()
