"""`python -m cli.admin`: operator commands that work on the service's tables directly.

mint-token writes a token into the Tokens table through the same logic and adapter as everywhere
else (ingest.logic.tokens.mint_token on a TokensTable), on the local stack or on a deployed stack.
"""

from __future__ import annotations

import sys
from pathlib import Path

import boto3
import click
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from cli.config import NOT_RUNNING, ROOT, STACK_FILE_ENV, ConfigError, read_stack_file, stack_file

sys.path.insert(0, str(ROOT / "lambdas"))

from ingest.adapters.control_tables import TokensTable  # noqa: E402
from ingest.errors import IngestError  # noqa: E402
from ingest.logic.tokens import mint_token  # noqa: E402

LOCAL_REGION = "us-east-1"
LOCAL_KEY = "testing"
TOKENS_OUTPUT = "TokensTableName"

HELP = """Operator commands for the bulk-ingest service.

\b
Exit codes: 0 done, 1 failed (the message says why), 2 bad command line.
"""


def fail(message: str, code: int = 1) -> None:
    click.echo(f"error: {message}", err=True)
    raise click.exceptions.Exit(code)


def note(message: str) -> None:
    click.echo(message, err=True)


@click.group(help=HELP, context_settings={"help_option_names": ["-h", "--help"]})
def admin() -> None:
    pass


@admin.command("mint-token")
@click.option("--account", required=True, metavar="NAME",
              help="Account the token acts for: 1-63 of a-z, 0-9 and '-', starting with a letter or digit.")
@click.option("--label", default="", help="A note stored with the token (who or what it is for).")
@click.option("--stack", "stack_name", metavar="STACKNAME",
              help="Mint on this deployed CloudFormation stack (AWS credentials from the usual places). "
                   "Without it, mint on the running local stack.")
@click.option("--region", help="AWS region of --stack (default: your AWS configuration's).")
@click.option("--stack-file", "state_file", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help=f"The local stack's state file [env {STACK_FILE_ENV}; default .local/stack.json, "
                   "written by `make run`].")
def mint_token_command(account: str, label: str, stack_name: str | None, region: str | None,
                       state_file: Path | None) -> None:
    """Create an API token for an account and print it alone on the last line of stdout.

    The token is shown this once: only its SHA-256 hash is stored. Everything else goes to stderr,
    so `token=$(python -m cli.admin mint-token --account acme)` captures just the token.
    """
    account = account.strip()
    if not account:
        fail("no account given: pass --account NAME (with make: `make token ACCOUNT=<name>`)", code=2)
    table_name = None
    try:
        if stack_name:
            table_name, table, where = _deployed_table(stack_name, region)
        else:
            table_name, table, where = _local_table(stack_file(state_file))
        token = mint_token(TokensTable(table), account, label)
    except IngestError as exc:  # the account name breaks the rule
        fail(str(exc))
    except ConfigError as exc:
        fail(str(exc))
    except EndpointConnectionError as exc:
        if stack_name:
            fail(f"cannot reach AWS: {exc}")
        fail(f"{NOT_RUNNING} (nothing answers at {exc.kwargs.get('endpoint_url', 'its endpoint')}; "
             "the state file stays behind after `make run` stops)")
    except NoCredentialsError:
        fail("no AWS credentials found: configure them (aws configure, AWS_PROFILE, ...) to mint on --stack")
    except NoRegionError:
        fail("no AWS region: pass --region or set AWS_REGION")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ResourceNotFoundException" and not stack_name:
            fail(f"the local stack has no tokens table {table_name!r}: restart it with `make run`")
        fail(f"{error.get('Code', 'AWS error')}: {error.get('Message', exc)}")
    except BotoCoreError as exc:
        fail(str(exc))
    note(f"minted a token for account {account!r}{f' (label {label!r})' if label else ''} "
         f"in tokens table {table_name} on {where}")
    note("it is shown only this once; keep it somewhere safe:")
    click.echo(token)


def _local_table(path: Path):
    state = read_stack_file(path)
    if state is None:
        raise ConfigError(NOT_RUNNING)
    missing = [key for key in ("aws_endpoint", "tokens_table") if not state.get(key)]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}: restart the local stack with `make run`")
    # The local stack is moto: dummy credentials, a fixed region, its endpoint for every call. Given
    # explicitly so nothing in the caller's AWS configuration can send this to a real account.
    session = boto3.Session(aws_access_key_id=LOCAL_KEY, aws_secret_access_key=LOCAL_KEY, region_name=LOCAL_REGION)
    config = Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 1})
    dynamodb = session.resource("dynamodb", endpoint_url=state["aws_endpoint"], config=config)
    return state["tokens_table"], dynamodb.Table(state["tokens_table"]), f"the local stack ({state['aws_endpoint']})"


def _deployed_table(stack_name: str, region: str | None):
    session = boto3.Session(region_name=region) if region else boto3.Session()
    try:
        described = session.client("cloudformation").describe_stacks(StackName=stack_name)
    except ClientError as exc:
        message = exc.response.get("Error", {}).get("Message", str(exc))
        raise ConfigError(f"cannot read stack {stack_name!r}: {message}") from exc
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
    table_name = outputs.get(TOKENS_OUTPUT)
    if not table_name:
        raise ConfigError(f"stack {stack_name!r} has no {TOKENS_OUTPUT} output: is it the BulkIngest stack, "
                          "fully deployed?")
    return table_name, session.resource("dynamodb").Table(table_name), f"stack {stack_name} ({session.region_name})"


def main() -> None:
    admin(prog_name="python -m cli.admin")


if __name__ == "__main__":
    main()
