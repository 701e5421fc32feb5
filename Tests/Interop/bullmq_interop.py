"""Drives the official BullMQ Python package for pipeline-host's interop tests.

    python bullmq_interop.py add     --redis URL --prefix P --queue Q --jobs JSON
        adds jobs ([{"name", "data", "opts"}]) with Queue.add; prints their ids (JSON list)
    python bullmq_interop.py inspect --redis URL --prefix P --queue Q --ids JSON
        prints JSON {"counts": getJobCounts(), "jobs": {id: {state, attemptsMade,
        returnvalue, failedReason, data, opts}}} as BullMQ's own Queue reads them
    python bullmq_interop.py work    --redis URL --prefix P --queue Q --count N
        runs a BullMQ Worker until it has completed N jobs; each returns
        {"by": "python", "data": <job data>}
"""
import argparse
import asyncio
import json
import sys

from bullmq import Queue, Worker


async def add(args):
    queue = Queue(args.queue, {"connection": args.redis, "prefix": args.prefix})
    ids = []
    for job in json.loads(args.jobs):
        added = await queue.add(job.get("name", "py"), job.get("data", {}), job.get("opts", {}))
        ids.append(added.id)
    await queue.close()
    print(json.dumps(ids))


async def inspect(args):
    queue = Queue(args.queue, {"connection": args.redis, "prefix": args.prefix})
    counts = await queue.getJobCounts("wait", "active", "prioritized", "delayed", "completed", "failed")
    jobs = {}
    for job_id in json.loads(args.ids):
        job = await queue.getJob(job_id)
        if job is None:
            jobs[job_id] = None
            continue
        jobs[job_id] = {
            "state": await job.getState(),
            "attemptsMade": job.attemptsMade,
            "returnvalue": job.returnvalue,
            "failedReason": job.failedReason,
            "data": job.data,
            "opts": job.opts,
        }
    await queue.close()
    print(json.dumps({"counts": counts, "jobs": jobs}, default=str))


async def work(args):
    done = asyncio.Event()
    completed = 0

    async def process(job, token):
        return {"by": "python", "data": job.data}

    worker = Worker(args.queue, process, {"connection": args.redis, "prefix": args.prefix, "drainDelay": 1})

    def on_completed(job, result):
        nonlocal completed
        completed += 1
        if completed >= args.count:
            done.set()

    worker.on("completed", on_completed)
    try:
        await asyncio.wait_for(done.wait(), timeout=60)
    finally:
        await worker.close()
    print(json.dumps({"completed": completed}))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["add", "inspect", "work"])
    parser.add_argument("--redis", required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--queue", required=True)
    parser.add_argument("--jobs", default="[]")
    parser.add_argument("--ids", default="[]")
    parser.add_argument("--count", type=int, default=1)
    args = parser.parse_args()
    asyncio.run({"add": add, "inspect": inspect, "work": work}[args.command](args))


if __name__ == "__main__":
    sys.exit(main())
