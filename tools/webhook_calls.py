"""Count the AWS calls the webhook delivery function makes on the local stack (docs/capacity.md, "Webhooks"):
for one upload's 3 events to 1 webhook answering 2xx, then one delivery retried once (500 then 200).

Usage: make synth && .venv/bin/python tools/webhook_calls.py cdk.out/BulkIngest.template.json"""
import collections
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from botocore.client import BaseClient

from cli.client import IngestClient, put_file
from local_stack.stack import LocalStack, free_port
from local_stack.thread_context import current_principal
from local_stack.tokens import mint_local_token

calls = collections.Counter()
original = BaseClient._make_api_call


def counting(self, operation_name, params):
    principal = current_principal()
    if principal and "WebhookDelivery" in principal.name:
        calls[f"{self.meta.service_model.service_name}.{operation_name}"] += 1
    return original(self, operation_name, params)


BaseClient._make_api_call = counting
codes = []


class Handler(BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(codes.pop(0) if codes else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
threading.Thread(target=server.serve_forever, daemon=True).start()
url = f"http://127.0.0.1:{server.server_port}/hook"
stack = LocalStack(Path(sys.argv[1]), aws_port=free_port(), api_port=free_port())
stack.start()
try:
    client = IngestClient(stack.info.api_url, mint_local_token(stack.info.tokens_table, "acct-measure"))
    hook = client.create_webhook(url, ["*"])
    dataset = client.create_dataset("m")
    path = Path(tempfile.mkdtemp()) / "customer_record-m.ndjson"
    path.write_bytes(b'{"link": {"customer_id": "c1"}}\n')
    upload = client.request_upload(path.name, dataset["id"], "customer_record")
    put_file(upload["url"], str(path))
    client.wait_for(upload["id"], timeout=120, poll=0.2)
    deadline = time.time() + 60
    while time.time() < deadline:
        found = client.webhook_deliveries(hook["id"])["deliveries"]
        if len(found) == 3 and all(d["status"] == "succeeded" for d in found):
            break
        time.sleep(0.2)
    time.sleep(2)
    print("3 events, 1 webhook, 2xx first time:", json.dumps(dict(sorted(calls.items()))))
    calls.clear()
    client.delete_webhook(hook["id"])
    hook = client.create_webhook(url, ["upload.created"])
    codes.extend([500])
    upload = client.request_upload("customer_record-n.ndjson", dataset["id"], "customer_record")
    deadline = time.time() + 60
    while time.time() < deadline:
        found = client.webhook_deliveries(hook["id"])["deliveries"]
        if found and found[0]["status"] == "succeeded":
            break
        time.sleep(0.2)
    time.sleep(2)
    print("1 event, 1 webhook, 500 then 200:", json.dumps(dict(sorted(calls.items()))), found[0]["attempts"])
finally:
    stack.stop()
