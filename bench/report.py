"""Turns bench/run's JSON lines into one table and BENCHMARKS.md.

    python3 bench/report.py --ours ours.jsonl --peers peers.jsonl --command "bench/run ..." \
        --runs R --output BENCHMARKS.md

Prints the table; writes the file with the machine, the command, the table,
the checks against issue #3's performance targets, and every raw line.
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess

SCENARIOS = ["queue-add", "queue-add-bulk", "worker-generic", "worker-concurrent"]
PEERS = ["bullmq-python", "sidekiq", "dramatiq"]


def load(path):
    lines = []
    if os.path.exists(path):
        with open(path) as handle:
            for line in handle:
                line = line.strip()
                if line.startswith("{"):
                    lines.append(json.loads(line))
    return lines


def medians(lines):
    rates = {}
    for line in lines:
        if line.get("jobs_per_sec") is not None:
            rates.setdefault((line["system"], line["scenario"]), []).append(line["jobs_per_sec"])
    return {key: statistics.median(values) for key, values in rates.items()}, rates


def command_output(arguments):
    try:
        return subprocess.run(arguments, capture_output=True, text=True, timeout=30).stdout.strip()
    except Exception:
        return "unknown"


def machine():
    model = "unknown"
    with open("/proc/cpuinfo") as handle:
        for line in handle:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as handle:
        memory = int(handle.readline().split()[1]) // 1024 // 1024
    return [
        f"{os.cpu_count()} CPUs ({model}), {memory} GiB, Linux {platform.release()}",
        command_output(["redis-server", "--version"]),
        command_output(["swift", "--version"]).splitlines()[0] if command_output(["swift", "--version"]) else "swift ?",
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--ours", required=True)
    parser.add_argument("--peers", required=True)
    parser.add_argument("--command", required=True)
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--output", required=True)
    args = parser.parse_args()

    ours, peers = load(args.ours), load(args.peers)
    rate, all_rates = medians(ours + peers)
    header = "| scenario | pipeline-host | " + " | ".join(PEERS) + " | " + " | ".join(f"× {p}" for p in PEERS) + " |"
    rows = [header, "|" + "---|" * (2 + 2 * len(PEERS))]
    for scenario in SCENARIOS:
        mine = rate.get(("pipeline-host", scenario))
        cells = [scenario, f"{mine:,.0f}" if mine else "–"]
        for peer in PEERS:
            value = rate.get((peer, scenario))
            cells.append(f"{value:,.0f}" if value else "–")
        for peer in PEERS:
            value = rate.get((peer, scenario))
            cells.append(f"{mine / value:.2f}" if mine and value else "–")
        rows.append("| " + " | ".join(cells) + " |")
    table = "\n".join(rows)

    history_line = ""
    history_rate = rate.get(("pipeline-host", "worker-concurrent-history"))
    if history_rate:
        history_line = (f"worker-concurrent with history on (every job's states and events written to a private, durable "
                        f"PostgreSQL through the batched history writer): **{history_rate:,.0f} jobs/s**.")
    memory = [line for line in ours if line["scenario"] == "memory-drain"]
    memory_line = ""
    if memory:
        m = memory[-1]
        memory_line = (f"Peak RSS of `pipeline-host run` while draining {m['jobs']:,} jobs at concurrency "
                       f"{m['concurrency']}: **{m['peak_rss_mb']:.1f} MB** ({m['jobs_per_sec']:,.0f} jobs/s including start-up).")

    isolation_rows = []
    for base in ["worker-generic", "worker-concurrent"]:
        inside, isolated = rate.get(("pipeline-host", base)), rate.get(("pipeline-host", base + "-isolated"))
        if inside and isolated:
            cost = (1 / isolated - 1 / inside) * 1e6
            isolation_rows.append(f"| {base} | {inside:,.0f} | {isolated:,.0f} | ×{isolated / inside:.2f} | {cost:,.0f} µs |")
    isolation_table = ""
    if isolation_rows:
        isolation_table = ("The same worker scenarios with the no-op plugin in a runner process (`isolation: process`, the "
                           "default) and in the host (`isolation: none`); the cost per job is the difference of the "
                           "times per job.\n\n| scenario | in the host | isolated | ratio | cost per job |\n|---|---|---|---|---|\n"
                           + "\n".join(isolation_rows))

    checks = []
    concurrent = rate.get(("pipeline-host", "worker-concurrent"))
    isolated_concurrent = rate.get(("pipeline-host", "worker-concurrent-isolated"))
    sidekiq_concurrent = rate.get(("sidekiq", "worker-concurrent"))
    if isolated_concurrent and sidekiq_concurrent:
        checks.append(f"- isolated worker-concurrent at least twice Sidekiq's rate (issue #14): "
                      f"**{'yes' if isolated_concurrent >= 2 * sidekiq_concurrent else 'no'}** (×{isolated_concurrent / sidekiq_concurrent:.2f})")
    if concurrent:
        beaten = [p for p in PEERS if rate.get((p, "worker-concurrent")) and concurrent > rate[(p, "worker-concurrent")]]
        measured = [p for p in PEERS if rate.get((p, "worker-concurrent"))]
        ratios = ", ".join(f"{p} ×{concurrent / rate[(p, 'worker-concurrent')]:.1f}" for p in measured)
        verdict = "yes" if measured and beaten == measured else "no"
        checks.append(f"- worker-concurrent ahead of every peer measured: **{verdict}** ({ratios})")
        sidekiq = rate.get(("sidekiq", "worker-concurrent"))
        if sidekiq:
            checks.append(f"- at least twice Sidekiq's worker-concurrent rate: **{'yes' if concurrent >= 2 * sidekiq else 'no'}** (×{concurrent / sidekiq:.2f})")
    bulk, python_bulk = rate.get(("pipeline-host", "queue-add-bulk")), rate.get(("bullmq-python", "queue-add-bulk"))
    if bulk and python_bulk:
        checks.append(f"- queue-add-bulk ahead of Python BullMQ's bulk add: **{'yes' if bulk > python_bulk else 'no'}** (×{bulk / python_bulk:.2f})")
    history = rate.get(("pipeline-host", "worker-concurrent-history"))
    if history and concurrent:
        checks.append(f"- with history on, at least half the throughput with history off (issue #4): "
                      f"**{'yes' if history >= concurrent / 2 else 'no'}** ({history:,.0f} vs {concurrent:,.0f} jobs/s, ×{history / concurrent:.2f})")
    if memory:
        checks.append(f"- peak RSS under 50 MB while draining {memory[-1]['jobs']:,} jobs: **{'yes' if memory[-1]['peak_rss_mb'] < 50 else 'no'}**")

    spread = []
    for (system, scenario), values in sorted(all_rates.items()):
        spread.append(f"| {system} | {scenario} | " + ", ".join(f"{v:,.0f}" for v in values) + " |")

    notes = {}
    for line in ours + peers:
        notes.setdefault((line["system"], line["scenario"]), line.get("note", ""))

    today = datetime.date.today().isoformat()
    text = f"""# Benchmarks

pipeline-host beside the peers of `../shared/bench-peers`, in one run of

```sh
{args.command}
```

on {today}. One private Redis for everything, systems one after another, never at the same
time; jobs/s are medians of {args.runs} run(s). BullMQ's four scenarios as bench-peers defines
them (see its README for what each peer does per job); × columns are pipeline-host's rate
divided by the peer's.

Machine: {machine()[0]}; {machine()[1]}; {machine()[2]}.

{table}

{memory_line}

{history_line}

{isolation_table}

## Against the issues' targets

{chr(10).join(checks)}

## What is measured

pipeline-host (`Benchmarks/PipelineBench`, release build): `queue-add` awaits `JobQueue.add` (one
add script per job: hash, wait list or zset, marker, events) one by one; `queue-add-bulk` sends
batches of 50 such script calls in one pipelined round trip; the worker scenarios prefill the
jobs, then run the host's own worker runtime (finish-and-take in one script call per turn,
marker wake-up, lock per job, events stream) with a no-op processor that is a real C plugin
loaded through the plugin ABI (`Benchmarks/NoopPlugin`), and time from the finish of the last
warm-up job to the finish of the last timed one, as the host saw the finish script return;
completed jobs stay in Redis, as BullMQ's defaults keep them. The per-job Redis work is BullMQ's
(hash, lock, events), much more than Sidekiq's basic fetch (one LPUSH in, one BRPOP out,
nothing written at the end, not crash-safe).

Noise on a shared 2-core machine reaches ±30 % between identical runs; Redis and every client
share the two cores.

## Every run

| system | scenario | jobs/s per run |
|---|---|---|
{chr(10).join(spread)}

## Notes from each system

{chr(10).join(f"- **{s}**, {sc}: {n}" for (s, sc), n in sorted(notes.items()))}
"""
    with open(args.output, "w") as handle:
        handle.write(text)
    print(table)
    if memory_line:
        print(memory_line)
    print("\n".join(checks))


if __name__ == "__main__":
    main()
