"""A job producer on NATS, as a platform would write one with `nats-py` from PyPI:
connects with its tenant's credential, publishes an event on its own subject, then
tries what its credential must not allow. Prints one JSON object saying what
happened, for tests/it/least_privilege.rs to judge:

    python3 producer.py URL USER PASSWORD TENANT OTHER_TENANT

    {"ack": {"stream": "INGEST", "seq": 1} | "error": "...",
     "attempts": {"<what was tried>": "refused: <server's error>" | "allowed: ..."}}

The producer receives on `_INBOX.<tenant>.>` only (inbox_prefix), which is where
the broker's JetStream acknowledgements come back.
"""

import asyncio
import json
import sys

import nats
from nats.errors import TimeoutError as NatsTimeout

# How long to wait for an answer the broker must refuse to give.
REFUSAL_WAIT = 2.0


async def main():
    url, user, password, tenant, other = sys.argv[1:6]
    errors = []

    async def on_error(err):
        errors.append(str(err))

    nc = await nats.connect(
        servers=[url],
        user=user,
        password=password,
        inbox_prefix=f"_INBOX.{tenant}",
        error_cb=on_error,
        allow_reconnect=False,
    )
    js = nc.jetstream(timeout=10)
    report = {"attempts": {}}

    event = json.dumps({"data": {"from": "nats-py", "tenant": tenant}}).encode()
    ack = await js.publish(f"ingest.{tenant}.job.completed", event)
    report["ack"] = {"stream": ack.stream, "seq": ack.seq}

    async def attempt(name, action):
        """Runs `action`, then reports the permission error the server sent for it,
        if any, or how it ended."""
        seen = len(errors)
        try:
            outcome = await asyncio.wait_for(action(), REFUSAL_WAIT)
            result = f"allowed: {outcome!r}"
        except (NatsTimeout, asyncio.TimeoutError):
            result = "no answer"
        except Exception as err:  # noqa: BLE001 - any failure is reported
            result = f"failed: {type(err).__name__}: {err}"
        await nc.flush()
        # The server's -ERR arrives on its own; give it a moment after the flush.
        for _ in range(40):
            refusals = [e for e in errors[seen:] if "permissions violation" in e.lower()]
            if refusals:
                result = f"refused: {refusals[0]}"
                break
            await asyncio.sleep(0.05)
        report["attempts"][name] = result

    async def publish_other():
        await nc.publish(f"ingest.{other}.job.completed", event)
        await nc.flush()
        await asyncio.sleep(REFUSAL_WAIT)

    async def subscribe_events():
        await nc.subscribe("events.>")
        await nc.flush()
        await asyncio.sleep(REFUSAL_WAIT)

    await attempt(f"publish ingest.{other}.job.completed", publish_other)
    await attempt("subscribe events.>", subscribe_events)
    await attempt("stream info INGEST", lambda: js.stream_info("INGEST"))
    await attempt(
        "stream create",
        lambda: js.add_stream(name=f"{tenant.upper()}_COPY", subjects=[f"copy.{tenant}.>"]),
    )
    await attempt(
        "consumer create on EVENTS",
        lambda: js.add_consumer("EVENTS", durable_name=f"{tenant}-reader"),
    )
    await nc.close()
    print(json.dumps(report))


if __name__ == "__main__":
    asyncio.run(main())
