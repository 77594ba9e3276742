"""The load workflow's steps (docs/load_workflow.md), one module per concern:

  context.py     LoadContext (the adapters) and LoadSettings (the plan's sizes) every step takes
  layout.py      where one upload's work files live in S3
  frames.py      the line format of the partition work files (Split writes, Load reads)
  error_log.py   error lines, and the streaming merge into the job's error log
  hold.py        the dataset's load hold: one load per dataset at a time
  progress.py    a running job's progress counters on its job item
  inspect.py     Inspect: the object, its format, the dataset's load hold, the plan's sizes
  ranges.py      where a byte range's records start and end (NDJSON: newlines; CSV: quote parity)
  scan.py        Scan (one byte range of a plain upload: newlines and quotes) and PlanSplit
  decompress.py  Decompress: a gzip upload, in a chain of bounded invocations, into plain parts cut at records
  resumable_gzip.py  gzip inflation a later invocation resumes (indexed_gzip checkpoints)
  members.py     InflateMembers and JoinMembers: a multi-member gzip upload inflated in parallel by member
  record_limits.py  the largest upload and record, and the per-record check (Split's and validate's)
  split.py       Split (one range: align to records, number lines, check each, route by key) and PlanLoad
  loading.py     Load (one partition, in range order, in bounded windows) and its strategies per load
                 kind: upsert, profile changes, audience members
  finalize.py    Finalize: results summed, counts applied once, error log merged, hold released
  failure.py     MarkFailed and the failure reasons a user can act on

The models every state passes are in ingest/models/workflow.py. The step functions, one per state
(handlers/workflow.py calls them; each is safe to retry):

  inspect.inspect(ctx, ExecutionInput) -> LoadJob           also writes scan-manifest.json (plain)
  scan.scan_range(ctx, LoadJob, RangeTask) -> None           writes scan/<i>.json
  scan.plan_split(ctx, LoadJob) -> LoadJob                   writes split-manifest.json, sets ranges
  decompress.decompress(ctx, LoadJob, cursor) -> DecompressState
                                                             writes plain/<i>, split-manifest.json; a
                                                             cursor in the state: invoke it again
  members.inflate_group(ctx, LoadJob, MemberGroupTask)      writes members/<g>, members/<g>.json
  members.join_members(ctx, LoadJob) -> LoadJob              writes split-manifest.json, sets ranges (or
                                                             clears member_groups: Decompress instead)
  split.split_range(ctx, LoadJob, RangeTask) -> None         writes split/<i>.json, parts/*/<i>, errors
  split.plan_load(ctx, LoadJob) -> PlannedLoad               writes load-manifest.json, sets split;
                                                             over the error budget: job Failed here
  loading.load_partition(ctx, LoadJob, PartitionTask, attempt) -> PartitionResult
                                                             writes load/<p>.json, errors/load-<p>
  finalize.finalize(ctx, LoadJob) -> JobOutcome
  failure.mark_failed(ctx, FailedState) -> JobOutcome
"""
