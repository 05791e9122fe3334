"""``aquatope scenarios list|show``: the named worlds a simulator run can happen in, and any scenario file."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from aquatope.scenarios import Scenario, load_scenario, scenario_names

scenarios_app = typer.Typer(
    help="List and inspect scenarios: tenants, interference, storms, transfers, drift, bad measurements.",
    no_args_is_help=True,
)
console = Console()


def _sources(s: Scenario) -> dict[str, str]:
    """The scenario's sources of uncertainty as short phrases (off ones say so)."""
    tenants = s.tenants
    if not tenants.enabled:
        who = "none"
    else:
        who = "all other trace functions" if tenants.functions is None else f"{tenants.functions} trace functions"
        who += f" x{tenants.scale:g}, keep-alive {tenants.keep_alive_s:g} s"
    c = s.cluster
    size = f"auto (busiest minute at {c.peak_utilisation:.0%})" if c.invokers is None else str(c.invokers)
    steps = ", ".join(f"{x.function} x{x.factor:g} at {x.at:.0%} of the replay" for x in s.steps) or "none"
    diurnal = f"+-{s.diurnal_amplitude:.0%}, peak {s.diurnal_peak_h:g}:00" if s.diurnal_amplitude else "none"
    neighbours = (
        f"{s.neighbour_rate_per_h:g}/invoker-hour, {s.neighbour_duration_s:g} s, {s.neighbour_cpu_share:g} of the cores"
        if s.neighbour_rate_per_h
        else "none"
    )
    return {
        "cluster": f"{size} x {c.invoker_cpu:g} vCPU / {c.invoker_memory_mb / 1024:g} GB, "
        f"CPU overcommit {c.cpu_overcommit:g}x, {c.placement} placement",
        "tenants": who,
        "interference": _off(
            s.interference_cpu or s.interference_memory,
            f"slope cpu {s.interference_cpu:g}, memory {s.interference_memory:g}",
        ),
        "cold-start storms": _off(
            s.cold_start_storm,
            f"start-up computes on {s.cold_start_storm:g} vCPU; simultaneous starts share the invoker's cores",
        ),
        "transfers": _off(
            s.transfer_latency_ms or s.transfer_storage_ms,
            f"{s.transfer_latency_ms:g} ms per edge; payloads over {s.transfer_inline_mb:g} MB via object storage: "
            f"+{s.transfer_storage_ms:g} ms + output_mb / {s.transfer_mb_per_s:g} MB/s",
        ),
        "step slowdowns": steps,
        "diurnal factor": diurnal,
        "noisy neighbours": neighbours,
        "heavy tails": _off(
            s.heavy_tail_prob, f"{s.heavy_tail_prob:.1%} of invocations x Pareto({s.heavy_tail_alpha:g})"
        ),
        "measurements": "production (shadow requests on the live cluster)"
        if s.production
        else "staging (an isolated copy)",
    }


def _off(value: Any, text: str) -> str:
    return text if value else "off"


@scenarios_app.command("list")
def list_scenarios() -> None:
    """The named scenarios with what each turns on (``scenarios show NAME`` for everything)."""
    table = Table(title="Scenarios")
    table.add_column("name", no_wrap=True)
    table.add_column("what is uncertain")
    for name in scenario_names():
        s = load_scenario(name)
        on = [k for k, v in _sources(s).items() if v not in ("none", "off") and k not in ("cluster", "measurements")]
        table.add_row(
            name, (", ".join(on) or "nothing beyond latency noise and the trace") + f"; measured in {s.measurement}"
        )
    console.print(table)


@scenarios_app.command("show")
def show_scenario(
    scenario: Annotated[str, typer.Argument(help="A named scenario (scenarios list) or a scenario YAML/JSON file.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the scenario in full as JSON.")] = False,
) -> None:
    """Show one scenario: its description and every source of uncertainty with its parameters."""
    s = load_scenario(scenario)
    if json_out:
        typer.echo(json.dumps(s.to_dict(), indent=2))
        return
    console.print(f"[bold]{s.name}[/]" + (f" ({s.source})" if s.source and s.source != s.name else ""), highlight=False)
    if s.description:
        console.print(s.description, highlight=False, markup=False)
    table = Table(show_header=False)
    table.add_column("source")
    table.add_column("setting")
    for key, value in _sources(s).items():
        table.add_row(key, value)
    console.print(table)
