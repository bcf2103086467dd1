"""Infrastructure as code: the CloudFormation template merged into `chalice package` output.

Everything here is generated from `chalicelib.stack.STACK` (and the PynamoDB models it lists), the
same description the local stack provisions from, so nothing is listed twice.
"""
