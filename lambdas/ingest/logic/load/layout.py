"""Where one upload's work files live in S3, under work/<account>/<upload>/ (deleted when the job ends).

    scan-manifest.json           the RangeTasks Scan's Map reads (Inspect writes it, plain uploads)
    scan/<range>.json            ScanResult of a range (plain uploads)
    plain/<part>                 Decompress's plain parts of a gzip upload, cut at record boundaries
    inflate-checkpoint/<n>       where Decompress invocation n stopped inflating (a trimmed zran index)
    inflate-manifest.json        the MemberGroupTasks InflateMembers' Map reads (Inspect, multi-group gzip)
    members/<group>              one member group's inflated bytes; members/<group>.json its result
    pieces.json                  the member outputs Split's ranges read on into, in file order
    inflate-crcs.json            per plain part, the CRC-32 of the output before it (the trailer check)
    split-manifest.json          the RangeTasks Split's Map reads (PlanSplit writes it)
    split/<range>.json           SplitResult of a range
    parts/<partition>/<range>    the valid records of one range routed to one partition, in line order,
                                 one per line: "<line number>\t<record key>\t<record JSON>"
    errors/<name>.ndjson         rejected lines of one range (split-<range>) or partition (load-<p>),
                                 each file in line order
    rows/<name>                  the same rejected lines as sent (logic/load/rows.py), for the failed rows
    load-manifest.json           the PartitionTasks Load's Map reads (PlanLoad writes it)
    load/<partition>.json        PartitionResult of a partition

The job's results, kept after it ends: results/<account>/<upload>/errors.ndjson (the error log),
results/<account>/<upload>/failed-rows/<filename> (the rejected lines, in the upload's format) and
results/<account>/<upload>/unprocessed-rows/<filename> with its line map unprocessed-lines.tsv (a retry
copies the rows to its own upload key and loads them; logic/retries.py).
Zero-padded numbers keep a listing in range order.
"""

from __future__ import annotations

from dataclasses import dataclass

WORK_PREFIX = "work/"
RESULTS_PREFIX = "results/"


@dataclass(frozen=True)
class WorkKeys:
    account_id: str
    upload_id: str

    @property
    def prefix(self) -> str:
        return f"{WORK_PREFIX}{self.account_id}/{self.upload_id}/"

    @property
    def scan_manifest(self) -> str:
        return f"{self.prefix}scan-manifest.json"

    def scan(self, index: int) -> str:
        return f"{self.prefix}scan/{index:05d}.json"

    @property
    def scan_prefix(self) -> str:
        return f"{self.prefix}scan/"

    def plain_part(self, index: int) -> str:
        return f"{self.prefix}plain/{index:05d}"

    def inflate_checkpoint(self, invocation: int) -> str:
        return f"{self.prefix}inflate-checkpoint/{invocation:05d}"

    @property
    def inflate_manifest(self) -> str:
        return f"{self.prefix}inflate-manifest.json"

    def member_output(self, index: int) -> str:
        return f"{self.members_prefix}{index:05d}"

    def member_result(self, index: int) -> str:
        return f"{self.members_prefix}{index:05d}.json"

    @property
    def members_prefix(self) -> str:
        return f"{self.prefix}members/"

    @property
    def pieces(self) -> str:
        return f"{self.prefix}pieces.json"

    @property
    def inflate_crcs(self) -> str:
        return f"{self.prefix}inflate-crcs.json"

    @property
    def split_manifest(self) -> str:
        return f"{self.prefix}split-manifest.json"

    def split_result(self, index: int) -> str:
        return f"{self.prefix}split/{index:05d}.json"

    @property
    def split_results_prefix(self) -> str:
        return f"{self.prefix}split/"

    def part(self, partition: int, range_index: int) -> str:
        return f"{self.partition_prefix(partition)}{range_index:05d}"

    def partition_prefix(self, partition: int) -> str:
        return f"{self.prefix}parts/{partition:05d}/"

    def errors(self, name: str) -> str:
        return f"{self.errors_prefix}{name}.ndjson"

    @property
    def errors_prefix(self) -> str:
        return f"{self.prefix}errors/"

    @property
    def load_manifest(self) -> str:
        return f"{self.prefix}load-manifest.json"

    def load_result(self, partition: int) -> str:
        return f"{self.prefix}load/{partition:05d}.json"

    @property
    def load_results_prefix(self) -> str:
        return f"{self.prefix}load/"

    @property
    def error_log(self) -> str:
        return f"{RESULTS_PREFIX}{self.account_id}/{self.upload_id}/errors.ndjson"

    def rows(self, name: str) -> str:
        return f"{self.rows_prefix}{name}"

    @property
    def rows_prefix(self) -> str:
        return f"{self.prefix}rows/"

    def failed_rows(self, filename: str) -> str:
        return f"{RESULTS_PREFIX}{self.account_id}/{self.upload_id}/failed-rows/{filename}"

    def unprocessed_rows(self, filename: str) -> str:
        return f"{RESULTS_PREFIX}{self.account_id}/{self.upload_id}/unprocessed-rows/{filename}"

    @property
    def unprocessed_line_map(self) -> str:
        return f"{RESULTS_PREFIX}{self.account_id}/{self.upload_id}/unprocessed-lines.tsv"


def missing_results(objects, prefix: str, key_of, expected: range | list[int]) -> list[int]:
    """The indexes in `expected` whose result object (key_of(index)) is not under `prefix`: Map
    iterations that failed for good (on AWS the Map fails first; moto lets it go on)."""
    present = set(objects.list_keys(prefix))
    return [index for index in expected if key_of(index) not in present]


def missing_results_message(step: str, missing: list[int], expected: int, unit: str) -> str:
    return (f"the {step} step failed on {len(missing)} of {expected} {unit}, also after retries "
            f"(first: {missing[0]}); upload the file again to retry")

