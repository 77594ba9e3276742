"""Typed edges: what each route reads (request models) and answers (views). See base.py.

Models import only errors and record_types: logic and handlers import them, never the reverse.
"""
