#!/usr/bin/env python3
"""The images' HEALTHCHECK: exit 0 when GET /health answers 200 (the model and the database
are up), else 1. The standard library only, so that the image needs no curl.

It asks the address and port `likeness serve` listens on, from the same variables."""

import os
import sys
import urllib.error
import urllib.request

WILDCARDS = {"", "0.0.0.0", "::"}


def health_url() -> str:
    host = os.environ.get("LIKENESS_HOST") or os.environ.get("HOST") or "127.0.0.1"
    port = os.environ.get("LIKENESS_PORT") or os.environ.get("PORT") or "8100"
    if host in WILDCARDS:
        host = "127.0.0.1"
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{port}/health"


def main() -> int:
    url = health_url()
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            status = response.status
    except urllib.error.HTTPError as error:  # 503 while the model loads
        status = error.code
    except OSError as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1
    print(f"{url}: {status}")
    return 0 if status == 200 else 1


if __name__ == "__main__":
    sys.exit(main())
