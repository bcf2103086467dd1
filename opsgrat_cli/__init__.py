"""`opsgrat`: the command line of OpsGrat Serverless.

It speaks only HTTP to an installation's public API (AWS or the local stack) and never imports
the server's code; its resource commands come from the installation's OpenAPI document.
"""
__version__ = "1.0.0"
