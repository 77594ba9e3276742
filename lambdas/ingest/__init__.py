"""Bulk-ingestion service: the code that runs in Lambda.

Layers, each importing only downwards:
handlers/ (Lambda entry points) -> logic/ (domain rules) -> adapters/ (AWS clients).
Nothing here imports CDK or the local stack.
"""
