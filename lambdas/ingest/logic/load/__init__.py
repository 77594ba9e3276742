"""The load workflow's steps (docs/load_workflow.md), one module per concern:

  layout.py      where one upload's work files live in S3
  progress.py    a running job's progress counters on its job item
  inspect.py     Inspect: the object, its format, the dataset's load hold, the plan's sizes
  scan.py        Scan (one byte range of a plain upload: newlines and quotes) and PlanSplit
  decompress.py  Decompress: a gzip upload, in one streaming pass, into plain parts cut at records
  split.py       Split (one range: align to records, number lines, check each, route by key) and PlanLoad
  loading.py     Load (one partition, in range order, in bounded windows) and its strategies per load
                 kind: upsert, profile changes, audience members
  finalize.py    Finalize: results summed, counts applied once, error log merged, hold released
  failure.py     MarkFailed and the failure reasons a user can act on

The models every state passes are in ingest/models/workflow.py.
"""
