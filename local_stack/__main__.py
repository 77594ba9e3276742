"""`make run`: start the local stack, mint a dev token, load the sample file, then serve until Ctrl-C."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from pathlib import Path

from cli.client import IngestClient, put_file
from local_stack.stack import LocalStack
from local_stack.tokens import mint_local_token

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "samples" / "customer_record-sample.ndjson"
STATE_DIR = ROOT / ".local"


def main() -> int:
    parser = argparse.ArgumentParser(description="Run the bulk-ingest service locally on moto.")
    parser.add_argument("--template", default=str(ROOT / "cdk.out" / "BulkIngest.template.json"))
    parser.add_argument("--aws-port", type=int, default=int(os.environ.get("LOCAL_AWS_PORT", "4566")))
    parser.add_argument("--api-port", type=int, default=int(os.environ.get("LOCAL_API_PORT", "3000")))
    parser.add_argument("--no-sample", action="store_true", help="do not load the bundled sample file")
    args = parser.parse_args()

    STATE_DIR.mkdir(exist_ok=True)
    console = sys.stdout
    # Handler logs (Powertools JSON lines, as CloudWatch would get them) go to a file, not the console.
    lambda_log = open(STATE_DIR / "lambda.log", "a", buffering=1)  # noqa: SIM115 (stdout until the process exits)
    sys.stdout = lambda_log
    logging.basicConfig(level=logging.WARNING, stream=lambda_log)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    def say(text: str = "") -> None:
        print(text, file=console, flush=True)

    stack = LocalStack(Path(args.template), aws_port=args.aws_port, api_port=args.api_port)
    try:
        info = stack.start()
    except OSError as exc:
        say(f"could not start the local stack: {exc} (is another `make run` still serving?)")
        return 1
    token = mint_local_token(info.tokens_table, "dev", label="make run")
    (STATE_DIR / "stack.json").write_text(json.dumps(stack.state(token), indent=2) + "\n")
    say("Local stack is up (state in .local/stack.json, handler logs in .local/lambda.log):")
    for key, value in (("api_url", info.api_url), ("aws_endpoint", info.aws_endpoint), ("token", token)):
        say(f"  {key:13} {value}")

    if not args.no_sample:
        client = IngestClient(info.api_url, token)
        dataset = client.create_dataset("sample", "created by make run")
        upload = client.request_upload(SAMPLE.name.replace(".ndjson", ".json"), dataset["id"], "customer_record")
        put_file(upload["url"], str(SAMPLE))
        say(f"\nUploaded {SAMPLE.relative_to(ROOT)} as upload {upload['id']} into dataset {dataset['id']}.")
        finished = client.wait_for(upload["id"], timeout=300)
        say(f"Job {finished['id']}: {finished['status']}  stats {json.dumps(finished['stats'])}")
        if finished.get("failure_reason"):
            say(f"  failure_reason: {finished['failure_reason']}")
        if finished.get("error_log_url"):
            say(f"  error log: curl -s '{finished['error_log_url']}'")
        say(f"  record counts: {json.dumps(client.get_dataset(dataset['id'])['record_counts'])}")

    say(f"\nTry it:  export API={info.api_url} TOKEN={token}")
    say('         curl -s -H "Auth-Api-Token: $TOKEN" $API/v1/uploads | jq')
    say("Serving until Ctrl-C.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        say("\nStopping.")
    finally:
        stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
