"""Workflows (spec §4.6–§4.8): a graph of nodes and lines, compiled to a Step Functions state
machine, run as a workflow job whose nodes are child jobs launched through the one door.

  * `graph`: the graph as data (from stored records or a job's snapshot), its checks and levels;
  * `compiler`: graph -> Amazon States Language;
  * `machines`: one state machine per workflow template, redeployed when its graph changes;
  * `engine`: the workflow queue's handler (run a node, settle it, finish the workflow job).
"""
