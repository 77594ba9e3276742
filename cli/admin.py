"""`python -m cli.admin`: operator commands that work on the service's tables directly.

mint-token writes a token into the Tokens table (and its API key into the per-token usage plan)
through the same logic and adapters as everywhere else (ingest.logic.tokens.mint_token on a
TokensTable and UsagePlanKeys), on the local stack or on a deployed stack. set-ip-allowlist sets an
account's IP allow-list the same way (ingest.logic.accounts), so an operator can recover an account
that locked itself out. mint-import-key mints the HTTP Basic credentials of the Localytics-compatible
routes (ingest.logic.import_keys.mint_import_key), with the org id and apps they may import into.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path

import boto3
import click
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, NoCredentialsError, NoRegionError

from cli.config import NOT_RUNNING, STACK_FILE_ENV, ConfigError, read_stack_file, stack_file
from ingest.adapters.control_tables import AccountsTable, DatasetsTable, TokensTable
from ingest.adapters.import_keys_table import ImportKeysTable
from ingest.adapters.usage_plans import UsagePlanKeys, UsagePlanNotFoundError, per_token_plan_name, usage_plan_name
from ingest.errors import IngestError
from ingest.logic.accounts import set_ip_allowlist
from ingest.logic.import_keys import mint_import_key
from ingest.logic.tokens import mint_token

LOCAL_REGION = "us-east-1"
LOCAL_KEY = "testing"
# The stack outputs naming the tables each command needs (a deployed stack's CloudFormation outputs;
# the local stack's state file carries the same names under "tables").
TOKENS_OUTPUT = "TokensTableName"
ACCOUNTS_OUTPUT = "AccountsTableName"
IMPORTS_OUTPUT = "ImportsTableName"
DATASETS_OUTPUT = "DatasetsTableName"
# The local stack deploys the template as this stack (local_stack/deployer.py STACK_NAME).
LOCAL_STACK_NAME = "BulkIngest"

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
    with _reporting_failures(stack_name):
        (table,), where = _tables(stack_name, region, state_file, TOKENS_OUTPUT)
        if stack_name:
            apigateway = _deployed_session(region).client("apigateway")
            keys = UsagePlanKeys(apigateway, per_token_plan_name(apigateway, stack_name))
        else:
            keys = _local_usage_plan_keys(stack_file(state_file))
        token = mint_token(TokensTable(table), keys, account, label)
    note(f"minted a token for account {account!r}{f' (label {label!r})' if label else ''} "
         f"in tokens table {table.name} on {where}")
    note("it is shown only this once; keep it somewhere safe:")
    click.echo(token)


@admin.command("set-ip-allowlist")
@click.option("--account", required=True, metavar="NAME", help="The account whose allow-list is replaced.")
@click.option("--cidr", "cidrs", multiple=True, metavar="CIDR",
              help="An address or network (IPv4 or IPv6) requests may come from; repeat for more. "
                   "None: no restriction.")
@click.option("--stack", "stack_name", metavar="STACKNAME",
              help="Work on this deployed CloudFormation stack. Without it, on the running local stack.")
@click.option("--region", help="AWS region of --stack (default: your AWS configuration's).")
@click.option("--stack-file", "state_file", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help=f"The local stack's state file [env {STACK_FILE_ENV}; default .local/stack.json].")
def set_ip_allowlist_command(account: str, cidrs: tuple[str, ...], stack_name: str | None, region: str | None,
                             state_file: Path | None) -> None:
    """Replace an account's IP allow-list and print it as JSON on stdout.

    Takes effect within the authorizer cache's 60 s. With no --cidr the account is unrestricted again:
    the way to recover an account that locked itself out.
    """
    with _reporting_failures(stack_name):
        (table,), where = _tables(stack_name, region, state_file, ACCOUNTS_OUTPUT)
        allowlist = set_ip_allowlist(AccountsTable(table), account.strip(), list(cidrs))
    note(f"account {account.strip()!r} on {where}: "
         + (f"{len(allowlist)} allow-list entries" if allowlist else "no IP restriction"))
    click.echo(json.dumps({"account_id": account.strip(), "ip_allowlist": allowlist}))


@contextlib.contextmanager
def _reporting_failures(stack_name: str | None) -> Iterator[None]:
    """Turn what can go wrong reaching the tables into one clear line on stderr and exit 1."""
    try:
        yield
    except (IngestError, ConfigError, UsagePlanNotFoundError) as exc:  # a rule broken, or no stack
        fail(str(exc))
    except EndpointConnectionError as exc:
        if stack_name:
            fail(f"cannot reach AWS: {exc}")
        fail(f"{NOT_RUNNING} (nothing answers at {exc.kwargs.get('endpoint_url', 'its endpoint')}; "
             "the state file stays behind after `make run` stops)")
    except NoCredentialsError:
        fail("no AWS credentials found: configure them (aws configure, AWS_PROFILE, ...) to use --stack")
    except NoRegionError:
        fail("no AWS region: pass --region or set AWS_REGION")
    except ClientError as exc:
        error = exc.response.get("Error", {})
        if error.get("Code") == "ResourceNotFoundException" and not stack_name:
            fail(f"the local stack lacks a table this command needs ({error.get('Message', exc)}): "
                 "restart it with `make run`")
        fail(f"{error.get('Code', 'AWS error')}: {error.get('Message', exc)}")
    except BotoCoreError as exc:
        fail(str(exc))


def _local_session(path: Path) -> tuple[dict, boto3.Session, Config]:
    state = read_stack_file(path)
    if state is None:
        raise ConfigError(NOT_RUNNING)
    missing = [key for key in ("aws_endpoint", "tables") if not state.get(key)]
    if missing:
        raise ConfigError(f"{path} lacks {', '.join(missing)}: restart the local stack with `make run`")
    # The local stack is moto: dummy credentials, a fixed region, its endpoint for every call. Given
    # explicitly so nothing in the caller's AWS configuration can send this to a real account.
    session = boto3.Session(aws_access_key_id=LOCAL_KEY, aws_secret_access_key=LOCAL_KEY, region_name=LOCAL_REGION)
    return state, session, Config(connect_timeout=3, read_timeout=10, retries={"max_attempts": 1})


def _local_usage_plan_keys(path: Path) -> UsagePlanKeys:
    state, session, config = _local_session(path)
    client = session.client("apigateway", endpoint_url=state["aws_endpoint"], config=config)
    return UsagePlanKeys(client, usage_plan_name(LOCAL_STACK_NAME))


def _tables(stack_name: str | None, region: str | None, state_file: Path | None, *outputs: str):
    """The tables these stack outputs name: of the deployed stack --stack (its CloudFormation outputs),
    else of the running local stack (the same names, in its state file); and where that is."""
    if stack_name:
        session = _deployed_session(region)
        try:
            described = session.client("cloudformation").describe_stacks(StackName=stack_name)
        except ClientError as exc:
            message = exc.response.get("Error", {}).get("Message", str(exc))
            raise ConfigError(f"cannot read stack {stack_name!r}: {message}") from exc
        found = {o["OutputKey"]: o["OutputValue"] for o in described["Stacks"][0].get("Outputs", [])}
        dynamodb, where = session.resource("dynamodb"), f"stack {stack_name} ({session.region_name})"
        lacking = f"stack {stack_name!r} has no {{}} output: is it the BulkIngest stack, deployed at this version?"
    else:
        path = stack_file(state_file)
        state, session, config = _local_session(path)
        found = state["tables"]
        dynamodb = session.resource("dynamodb", endpoint_url=state["aws_endpoint"], config=config)
        where = f"the local stack ({state['aws_endpoint']})"
        lacking = f"{path} names no {{}}: restart the local stack with `make run`"
    missing = [name for name in outputs if not found.get(name)]
    if missing:
        raise ConfigError(lacking.format(", ".join(missing)))
    return [dynamodb.Table(found[name]) for name in outputs], where


def _deployed_session(region: str | None) -> boto3.Session:
    return boto3.Session(region_name=region) if region else boto3.Session()




# -- import keys (Localytics-compatible endpoints) --------------------------------------------------


@admin.command("mint-import-key")
@click.option("--account", required=True, metavar="NAME",
              help="The account the key acts for: everything it imports and reads stays in this account.")
@click.option("--org-id", "org_id", metavar="ORG",
              help="The Localytics org id clients send as org_id (e.g. 60): 1-100 of letters, digits, '.', '_' "
                   "and '-', starting with a letter or digit. A label on the key: other accounts may use the "
                   "same org id and never see this one's data. [default: the account name]")
@click.option("--app-id", "app_ids", multiple=True, metavar="APP",
              help="An app id the key may import into (as app_id); repeat for more (at most 20). "
                   "Each app gets its dataset.")
@click.option("--label", default="", help="A note stored with the key (who or what it is for).")
@click.option("--stack", "stack_name", metavar="STACKNAME",
              help="Work on this deployed CloudFormation stack. Without it, on the running local stack.")
@click.option("--region", help="AWS region of --stack (default: your AWS configuration's).")
@click.option("--stack-file", "state_file", type=click.Path(dir_okay=False, path_type=Path), metavar="PATH",
              help=f"The local stack's state file [env {STACK_FILE_ENV}; default .local/stack.json].")
def mint_import_key_command(account: str, org_id: str | None, app_ids: tuple[str, ...], label: str,
                            stack_name: str | None, region: str | None, state_file: Path | None) -> None:
    """Mint an import key (HTTP Basic key:secret) for the Localytics-compatible endpoints.

    Prints the key, its org id and apps and their datasets as JSON on stdout, the secret included: it
    is shown this once (only its SHA-256 hash is stored). `jq -r .key` and `jq -r .secret` take them
    apart. Localytics' own examples then run as documented; for a key minted with --org-id 60:

    \b
    curl -F org_id=60 -F format=json -F file=@test_file.json \\
      http://KEY:SECRET@HOST/v1/imports/profiles/upload
    """
    with _reporting_failures(stack_name):
        (imports, datasets), where = _tables(stack_name, region, state_file, IMPORTS_OUTPUT, DATASETS_OUTPUT)
        minted = mint_import_key(ImportKeysTable(imports), DatasetsTable(datasets), account.strip(),
                                 list(app_ids), label, org_id=org_id if org_id else None).body()
    note(f"minted import key {minted['key']} for account {account.strip()!r}, org {minted['org_id']!r}"
         f"{' and apps ' + ', '.join(minted['app_ids']) if minted['app_ids'] else ''} on {where}")
    note("the secret is shown only this once; use key:secret as HTTP Basic credentials on /v1/imports/...")
    click.echo(json.dumps(minted, indent=2))


def main() -> None:
    admin(prog_name="python -m cli.admin")


if __name__ == "__main__":
    main()
