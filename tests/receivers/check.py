"""Checks real Herald deliveries with the `standardwebhooks` library from PyPI,
using the Python example of README.md exactly as printed there.

    python3 check.py README.md cases.json

README.md holds the example as the ```python block right after the line
`<!-- receivers: python -->`; it defines `verify(secret, body, headers)`. Each case
in cases.json is {"name", "secret", "body" (base64), "headers", "valid"}: `verify`
must return the parsed body for a valid case and raise for any other. For a valid
case with a plain-string secret, the library must also verify it given as `whsec_`
+ base64 of the string's bytes (README's advice for any library) and must fail
given the string as it is (why README's example exists). Exits 1 when any case
goes otherwise.
"""

import base64
import json
import sys

from standardwebhooks import Webhook

MARKER = "<!-- receivers: python -->"


def readme_example(path):
    text = open(path, encoding="utf-8").read()
    start = text.index(MARKER) + len(MARKER)
    fence = text.index("```python\n", start)
    if text[start:fence].strip():
        raise SystemExit(f"{path}: the ```python block must follow {MARKER} directly")
    body = fence + len("```python\n")
    return text[body : text.index("```", body)]


def plain_secret_forms(secret, body, headers):
    """A plain-string secret as README says any library takes it (`whsec_` + base64
    of its bytes) verifies; as it is, it does not."""
    try:
        Webhook("whsec_" + base64.b64encode(secret.encode()).decode()).verify(body, headers)
    except Exception as exc:  # noqa: BLE001
        return False, f"whsec_ + base64 of the string did not verify: {exc}"
    try:
        Webhook(secret).verify(body, headers)
        return False, "the library verified the plain string as it is"
    except Exception:  # noqa: BLE001
        return True, ""


def main():
    readme, cases_file = sys.argv[1], sys.argv[2]
    example = readme_example(readme)
    namespace = {}
    exec(compile(example, "README.md (python example)", "exec"), namespace)
    verify = namespace["verify"]
    cases = json.load(open(cases_file, encoding="utf-8"))
    failures = 0
    for case in cases:
        body = base64.b64decode(case["body"])
        headers = case["headers"]
        try:
            payload = verify(case["secret"], body, headers)
            verified = payload == json.loads(body)
            error = "" if verified else "verify returned something else than the body"
        except Exception as exc:  # noqa: BLE001 - any failure to verify counts
            verified, error = False, f"{type(exc).__name__}: {exc}"
        ok = verified == case["valid"]
        if ok and case["valid"] and not case["secret"].startswith("whsec_"):
            ok, error = plain_secret_forms(case["secret"], body, headers)
        print(f"{'ok' if ok else 'FAIL'} python {case['name']}{': ' + error if error else ''}")
        failures += 0 if ok else 1
    if not cases:
        raise SystemExit("no cases")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
