"""Dispatch throughput against the local SMS gateway (issue 7): a campaign's messages sent by N
real `siyu worker` processes through the send ledger, against N plain threads sending the same
messages straight to the gateway (no ledger, no policy), in the same run.

The gateway (Aliyun-shaped, in this process) is shared by both, so the ratio shows what the
ledger, the claims, the policy checks and the records cost per message.
Usage: python bench/dispatch.py --database-url postgresql+psycopg://…/db [--messages 20000]
       [--workers 4]   (the database must be empty; it is migrated here)
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--messages", type=int, default=20_000)
    ap.add_argument("--workers", type=int, default=4)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="siyu-dispatch-"))
    os.environ.update(
        {
            "SIYU_DATA_DIR": str(work),
            "SIYU_SECRET_KEY": "bench-secret-key-not-for-production-use",
            "SIYU_MODE": "production",
            "SIYU_DATABASE_URL": args.database_url,
        }
    )
    siyu = str(Path(sys.executable).parent / "siyu")
    subprocess.run([siyu, "db", "upgrade"], check=True, capture_output=True)
    import sqlalchemy as sa

    from siyu.db import get_engine, new_session
    from siyu.reach.campaigns.commands import PlanCampaign
    from siyu.reach.campaigns.service import plan_campaign, start
    from siyu.reach.channels.sms import AliyunSms
    from siyu.reach.sending.ledger import counts
    from siyu.simulators.sms.gateway import Gateway, create_app
    from siyu.simulators.threaded import ThreadedServer

    n = args.messages
    engine = get_engine()
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO customer (id, name, status, suppressed, do_not_disturb, created_at,"
                " updated_at) SELECT i, '顾客' || i, 'active', false, false, now(), now()"
                " FROM generate_series(1, :n) AS i"
            ),
            {"n": n},
        )
        conn.execute(
            sa.text(
                "INSERT INTO identity (customer_id, kind, namespace, value, verified, source,"
                " created_at) SELECT i, 'phone', '', '+86136' || lpad(i::text, 8, '0'), true,"
                " 'bench', now() FROM generate_series(1, :n) AS i"
            ),
            {"n": n},
        )
        seg = conn.execute(
            sa.text(
                "INSERT INTO segment (name, description, dynamic, rule_text, size, created_by,"
                " created_at, updated_at) VALUES ('bench', '', false, '', :n, 'bench', now(),"
                " now()) RETURNING id"
            ),
            {"n": n},
        ).scalar_one()
        conn.execute(
            sa.text(
                "INSERT INTO segment_member (segment_id, customer_id, entered_at)"
                " SELECT :seg, id, now() FROM customer"
            ),
            {"seg": seg},
        )
    gateway = Gateway()
    server = ThreadedServer(create_app(gateway))
    template = {
        "sign_name": "悦颜",
        "template_code": "SMS_000002",
        "text": "您的订单${order}已发货",
        "params": {"order": "A1"},
    }

    # baseline: plain threads, straight to the gateway
    def plain(k: int) -> None:
        client = AliyunSms(gateway.access_key_id, gateway.access_key_secret, server.base)
        for i in range(k + 1, n + 1, args.workers):
            result = client.send_sms(
                f"+86135{i:08d}", "悦颜", "SMS_000002", {"order": "A1"}, f"p{i}"
            )
            assert result.outcome == "sent", result

    t0 = time.perf_counter()
    threads = [threading.Thread(target=plain, args=(k,)) for k in range(args.workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    baseline = time.perf_counter() - t0
    server.app.state.gateway = gateway = Gateway(
        access_key_id=gateway.access_key_id, access_key_secret=gateway.access_key_secret
    )

    with new_session() as session:
        campaign = plan_campaign(
            session,
            PlanCampaign(
                name="bench",
                segment_id=int(seg),
                channel="sms",
                template=template,
                purpose="service",
            ),
            actor="bench",
        )
        start(session, campaign, actor="bench")
        session.commit()
        campaign_id = campaign.id
    env = {
        **os.environ,
        "SIYU_SMS_ENDPOINT": server.base,
        "SIYU_SMS_ACCESS_KEY_ID": gateway.access_key_id,
        "SIYU_SMS_ACCESS_KEY_SECRET": gateway.access_key_secret,
        "SIYU_WORKER_POLL_SECONDS": "0.2",
    }
    t0 = time.perf_counter()
    workers = [
        subprocess.Popen(
            [siyu, "worker"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=(work / f"worker{k}.log").open("wb"),
        )
        for k in range(args.workers)
    ]
    first = None
    try:
        with new_session() as session:
            while True:
                time.sleep(0.2)
                session.expire_all()
                c = counts(session, campaign_id)
                if first is None and c.get("sent"):
                    first = time.perf_counter()
                if c.get("sent", 0) >= n:
                    break
    finally:
        for w in workers:
            w.terminate()
            w.wait()
        server.stop()
        shutil.rmtree(work, ignore_errors=True)  # (the workers' logs are kept in it until here)
    total = time.perf_counter() - t0
    sending = time.perf_counter() - (first or t0)
    print(
        f"plain     : {args.workers} threads sent {n:,} straight to the gateway in {baseline:.2f}s = {n / baseline:,.0f}/s"
    )
    print(
        f"ledger    : {args.workers} workers sent {n:,} in {total:.2f}s from start = {n / total:,.0f}/s; "
        f"{n / sending:,.0f}/s from the first message (worker start-up excluded)"
    )
    print(
        f"ratio     : {sending / baseline:.2f}× the plain senders' time; duplicates at the gateway: "
        f"{len(gateway.attempts) - len(set(gateway.attempts))}"
    )


if __name__ == "__main__":
    main()
