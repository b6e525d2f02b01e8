"""`deskpilot train policy`: behaviour cloning on expert traces, then DAgger rounds in the sandbox."""

from __future__ import annotations

from pathlib import Path

import typer

from agent.commands.common import err_console, print_json


def policy(
    data: list[Path] = typer.Option(
        None, "--data", help="Expert trace folders (from `deskpilot sandbox gen-demos`)."
    ),
    val: list[Path] = typer.Option(None, "--val", help="Validation trace folders (default: 5% of --data)."),
    out: Path = typer.Option(Path("runs/policy"), "--out", help="Run folder: checkpoints, log.jsonl, best/."),
    steps: int = typer.Option(4000, "--steps", help="Behaviour-cloning optimiser steps."),
    batch: int = typer.Option(16, "--batch", help="Episodes per batch."),
    lr: float = typer.Option(1e-3, "--lr", help="Peak learning rate (warm-up, then cosine)."),
    memory: str = typer.Option(
        "linear", "--memory", help="Memory mechanism: linear, performer, gau, s4d, softmax."
    ),
    d_model: int = typer.Option(128, "--d-model", help="Token width."),
    layers: int = typer.Option(2, "--layers", help="Encoder layers."),
    drop: float = typer.Option(
        0.0, "--drop-elements", help="Per-element drop probability (detection noise)."
    ),
    jitter: float = typer.Option(0.0, "--jitter", help="Box jitter, a fraction of the box size."),
    as_detected: float = typer.Option(
        0.0,
        "--as-detected",
        help="Per-episode probability of training on it as perception reports it: no ground-truth state, "
        "detector-like scores, some kinds confused and texts misread.",
    ),
    as_detected_reads: bool = typer.Option(
        True,
        "--as-detected-reads/--as-detected-blind",
        help="With --as-detected: keep the states perception reads from pixels (checked, slider values), "
        "or drop every state.",
    ),
    rename: float = typer.Option(
        0.0,
        "--rename",
        help="Per-episode probability of renaming button texts and list items (unseen words).",
    ),
    rename_unrelated: float = typer.Option(
        0.25, "--rename-unrelated", help="Share of renamed navigation buttons given an unrelated word."
    ),
    rename_novel: float = typer.Option(
        0.0, "--rename-novel", help="Share of unrelated words that are made up rather than vocabulary words."
    ),
    rename_decoy: float = typer.Option(
        0.0,
        "--rename-decoy",
        help="Share of a navigation button's unrelated words taken from other buttons' words (OK, Add, ...).",
    ),
    hide_heldout: bool = typer.Option(
        False,
        "--hide-heldout-words",
        help="Give elements that show a held-out template's word (Previous, Continue, Done) another word.",
    ),
    reword: float = typer.Option(
        0.0, "--reword", help="Per-episode probability of rewording the instruction (unseen phrasing)."
    ),
    clutter: float = typer.Option(
        0.0, "--clutter", help="Per-episode probability of extra widgets no step acts on (unseen layouts)."
    ),
    nudge: float = typer.Option(
        0.0,
        "--nudge",
        help="Per-episode probability that slider drags land a few points off and keys fix them.",
    ),
    dagger_rounds: int = typer.Option(0, "--dagger-rounds", help="DAgger rounds after behaviour cloning."),
    dagger_episodes: int = typer.Option(200, "--dagger-episodes", help="Sandbox episodes per DAgger round."),
    dagger_steps: int = typer.Option(1000, "--dagger-steps", help="Optimiser steps after each DAgger round."),
    dagger_elements: str = typer.Option(
        "gt",
        "--dagger-elements",
        help="What the policy sees in DAgger rounds: gt (sandbox truth) or detected (detector + OCR).",
    ),
    detector: Path | None = typer.Option(
        None, "--detector", help="Detector weights for --dagger-elements detected (default weights/detector)."
    ),
    dagger_share: float = typer.Option(
        0.0, "--dagger-share", help="Share of each batch drawn from DAgger episodes (0: uniform over all)."
    ),
    max_episode_steps: int = typer.Option(30, "--max-episode-steps", help="Step limit of a DAgger episode."),
    threads: int = typer.Option(1, "--threads", help="torch threads per process."),
    seed: int = typer.Option(0, "--seed", help="Random seed."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/last.pt."),
    init_from: Path | None = typer.Option(
        None, "--init-from", help="Warm start from another run's weights folder."
    ),
    export: Path | None = typer.Option(
        None, "--export", help="Copy a model here at the end (fp16), e.g. weights/policy; see --export-from."
    ),
    export_from: str = typer.Option(
        "best", "--export-from", help="Which model --export copies: best (lowest validation loss) or last."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No progress bar."),
) -> None:
    """Train the transformer policy. Under `torchrun --nproc_per_node K` it trains with DDP (gloo)."""
    from policies.train import TrainConfig, fit
    from policies.transformer.policy_transformer import load_pretrained, save_pretrained

    if not data and not resume:
        raise typer.BadParameter("give --data (expert traces) or --resume")
    tc = TrainConfig(data=[str(p) for p in data or []], val_data=[str(p) for p in val or []], out=str(out),
                     steps=steps, batch_episodes=batch, lr=lr, drop_elements=drop, jitter=jitter, as_detected=as_detected, as_detected_reads=as_detected_reads, rename=rename,
                     rename_unrelated=rename_unrelated, rename_novel=rename_novel, rename_decoy=rename_decoy, hide_heldout=hide_heldout, reword=reword, clutter=clutter, nudge=nudge, dagger_rounds=dagger_rounds,
                     dagger_episodes=dagger_episodes, dagger_steps=dagger_steps, dagger_elements=dagger_elements,
                     detector=str(detector or ""), dagger_share=dagger_share, max_episode_steps=max_episode_steps,
                     threads=threads, seed=seed, init_from=str(init_from or ""))  # fmt: skip
    if export_from not in ("best", "last"):
        raise typer.BadParameter(f"--export-from must be best or last, got {export_from!r}")
    if dagger_elements not in ("gt", "detected"):
        raise typer.BadParameter(f"--dagger-elements must be gt or detected, got {dagger_elements!r}")
    if resume and not data:
        import torch

        from policies.train import checkpoint_configs

        _, saved = checkpoint_configs(out / "last.pt")
        tc = TrainConfig(**{**saved, "steps": steps if steps != 4000 else saved["steps"]})
        tc.dagger_rounds = max(tc.dagger_rounds, dagger_rounds)
        # augmentations given on the command line apply from here on
        for name, value in (
            ("reword", reword),
            ("rename", rename),
            ("clutter", clutter),
            ("nudge", nudge),
            ("as_detected", as_detected),
            ("dagger_share", dagger_share),
        ):
            if value > 0:
                setattr(tc, name, value)
        del torch
    overrides = {"memory": memory, "d_model": d_model, "n_layers": layers}

    def on_log(row: dict) -> None:
        if row.get("kind") == "val":
            err_console.print(f"step {row['step']}: val loss {row['val_loss']:.4f}  "
                              f"act acc {row.get('val_acc_act', 0):.3f}  ptr acc {row.get('val_acc_ptr', 0):.3f}")  # fmt: skip
        elif row.get("kind") == "dagger":
            err_console.print(f"DAgger round {row['round']}: policy success {row['success_rate']:.1%} "
                              f"on {row['episodes']} episodes; {row['aggregated_episodes']} aggregated")  # fmt: skip

    if quiet:
        trainer = fit(tc, overrides, resume=resume, on_log=on_log)
    else:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        with Progress(TextColumn("train policy"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[info]}"),
                      TimeRemainingColumn(), console=err_console) as bar:  # fmt: skip
            task = bar.add_task("train", total=None, info="")

            def progress(step: int, total: int, logs: dict) -> None:
                bar.update(task, completed=step, total=total, info=f"loss {logs.get('loss', 0):.3f}")

            trainer = fit(tc, overrides, resume=resume, on_log=on_log, progress=progress)
    result = {"step": trainer.step, "best_val_loss": trainer.best_val, "out": str(out)}
    if export is not None and trainer.rank == 0:
        import json

        chosen = out / export_from if (out / export_from).exists() else out / "last"
        meta = json.loads((chosen / "config.json").read_text(encoding="utf-8"))
        # the step the copied weights are from (best/ records its own; last/ is the final step)
        step = meta.get("step", trainer.step) if chosen.name == "best" else trainer.step
        save_pretrained(
            load_pretrained(chosen), export, fp16=True, extra={"source": str(chosen), "step": step}
        )
        result["exported"], result["exported_step"] = str(export), step
    print_json(result)
