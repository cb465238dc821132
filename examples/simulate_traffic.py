"""Send simulated visitors through a running Variantly server, with known conversion rates.

Lets you see the lift report without real traffic:

    variantly demo &                       # or: variantly serve
    python examples/simulate_traffic.py    # 10,000 visitors by default
    variantly report lift

Each visitor is a startup-sized profile in English or Swedish; the cta module is rendered
through /v1/render/batch and impressions and conversions go to /v1/events, as a landing page
sends them (no token: each decision's signature is the proof). Visitors who see the
marketer's default convert at 4%, those who see a personalised variant at 6%; with
``--orders-token`` (a renderer token) an order system also sends what each conversion was
worth, log-normal with a mean of about 1,000 SEK, so ``variantly report lift --metric revenue`` has money.
"""

from __future__ import annotations

import argparse
import json
import random

import httpx


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--visitors", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--token", default=None, help="renderer token, unless anonymous_render is on")
    parser.add_argument("--orders-token", default=None, help="renderer token the order system sends money with")
    parser.add_argument("--currency", default="SEK", help="the workspace's reporting.currency")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    orders = {"Authorization": f"Bearer {args.orders_token}"} if args.orders_token else None
    rates = {"default": 0.04, "variant": 0.06}
    with httpx.Client(base_url=args.url, headers=headers, timeout=60) as client:
        for start in range(0, args.visitors, 1000):
            profiles = [
                {
                    "id": f"visitor-{args.seed}-{i}",
                    "traits": {"company_size": rng.choice([12, 40, 300, 2500]), "locale": rng.choice(["en", "sv"])},
                    "consent": {"personalisation": True, "marketing_email": True},
                }
                for i in range(start, min(start + 1000, args.visitors))
            ]
            response = client.post("/v1/render/batch", json={"module": "cta", "profiles": profiles})
            response.raise_for_status()
            events, money = [], []
            for line in response.text.splitlines():
                result = json.loads(line)
                decision = result["decisions"][0]
                common = {
                    "profile_id": result["profile_id"],
                    "module": "cta",
                    "variant_id": decision["variant_id"],
                    "arm": decision["arm"],
                    "cohort": decision["cohort"],
                    "signature": decision["signature"],
                }  # events without a token must bring it back
                events.append({"type": "impression", **common})
                if rng.random() < rates["variant" if decision["outcome"] == "variant" else "default"]:
                    events.append({"type": "conversion", **common})
                    worth = f"{rng.lognormvariate(6.6, 0.8):.2f}"  # mean about 1,020, a long tail
                    money.append({"type": "conversion", **common, "value": worth, "currency": args.currency})
            client.post("/v1/events", json={"events": events}).raise_for_status()
            if orders and money:
                client.post("/v1/events", json={"events": money}, headers=orders).raise_for_status()
            print(f"{min(start + 1000, args.visitors):>6} visitors sent")


if __name__ == "__main__":
    main()
